// Package apierr is the one error type clients see: a stable code, a message
// and, for bad input, the offending fields. Its HTTP status is decided in one
// place, Status, from the code.
package apierr

import (
	"errors"
	"net/http"
	"time"
)

// Code is a stable, documented error code.
type Code string

// The codes clients can branch on.
const (
	CodeBadRequest     Code = "bad_request"     // malformed body, wrong types, unknown fields
	CodeInvalid        Code = "invalid_request" // well-formed but fails validation; Fields says which
	CodeUnauthorized   Code = "unauthorized"    // missing or bad credentials / signature
	CodeStale          Code = "stale_timestamp" // timestamp outside the accepted window
	CodeReplay         Code = "replayed_nonce"  // nonce already used
	CodeForbidden      Code = "forbidden"
	CodeNotFound       Code = "not_found"
	CodeConflict       Code = "idempotency_conflict" // same idempotency key, different body
	CodeTooLarge       Code = "too_large"
	CodeRateLimited    Code = "rate_limited"
	CodeUnavailable    Code = "unavailable" // shutting down or store unavailable; retry
	CodeChannelOff     Code = "channel_disabled"
	CodeInternal       Code = "internal"
	CodeUnsupported    Code = "unsupported_media_type"
	CodeMethodNotAllow Code = "method_not_allowed"
	CodeAnswered       Code = "survey_answered" // a survey code already used
	CodeExpired        Code = "survey_expired"  // a survey code past survey.expire
)

// Error is the client-facing error. It renders as
// {"error": {"code": …, "message": …, "fields": {…}}}.
type Error struct {
	Code       Code              `json:"code"`
	Message    string            `json:"message"`
	Fields     map[string]string `json:"fields,omitempty"`
	RetryAfter time.Duration     `json:"-"`
	Err        error             `json:"-"` // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Body is the JSON wire form.
type Body struct {
	Error *Error `json:"error"`
}

// New returns an error with a code and message.
func New(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Wrap returns an error with a code and message that keeps its cause.
func Wrap(code Code, msg string, err error) *Error { return &Error{Code: code, Message: msg, Err: err} }

// Invalid returns a validation error naming fields.
func Invalid(msg string, fields map[string]string) *Error {
	return &Error{Code: CodeInvalid, Message: msg, Fields: fields}
}

// RateLimited returns a 429 with a Retry-After.
func RateLimited(retry time.Duration) *Error {
	return &Error{Code: CodeRateLimited, Message: "too many requests; retry later", RetryAfter: retry}
}

// Status maps a code to its HTTP status. This is the only such mapping.
func Status(c Code) int {
	switch c {
	case CodeBadRequest, CodeInvalid:
		return http.StatusBadRequest
	case CodeUnauthorized, CodeStale, CodeReplay:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound, CodeChannelOff:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusUnprocessableEntity
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeUnsupported:
		return http.StatusUnsupportedMediaType
	case CodeMethodNotAllow:
		return http.StatusMethodNotAllowed
	case CodeAnswered:
		return http.StatusConflict
	case CodeExpired:
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

// From returns the client error carried by err, or an internal error.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error", Err: err}
}
