package smsapi

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrRateLimited is matched when the provider (or the local per-number
// limiter) refused the message for sending too much: retry after
// Error.RetryAfter (or later), it is not a fault of the message.
var ErrRateLimited = errors.New("smsapi: rate limited")

// ErrRejected is matched when the provider refused the message for good (bad
// number, template or signature problem, bad credentials): retrying the same
// request cannot succeed. Permanent reports it.
var ErrRejected = errors.New("smsapi: rejected")

// ErrTooLong is matched when the provider refused a send for its length
// (Aliyun isv.PARAM_LENGTH_LIMIT; Tencent InvalidParameterValue.
// ContentLengthLimit or .TemplateParameterLengthLimit). Replies are split to
// fit the provider's limits, so this means a limit the gateway was not told
// of (the template's fixed text, its variable cap): a fault to fix, which
// callers log and count. It also matches ErrRejected, since the same request
// cannot succeed.
var ErrTooLong = fmt.Errorf("%w: too long", ErrRejected)

// Error describes a failed send. Kind is ErrRateLimited, ErrRejected,
// ErrTooLong or nil for a transient failure (network, timeout, provider 5xx)
// that may be retried; errors.Is sees through it to Kind and to the underlying Err.
// Messages never contain the phone number or the text.
type Error struct {
	Provider   string
	Status     int    // HTTP status; 0 when no answer was received
	Code       string // the provider's error code, if any
	Message    string // the provider's explanation, long digit runs masked
	RetryAfter time.Duration
	Kind       error
	Err        error
}

func (e *Error) Error() string {
	what := "transient failure"
	switch e.Kind {
	case ErrRateLimited:
		what = "rate limited"
	case ErrRejected:
		what = "rejected"
	case ErrTooLong:
		what = "refused for length"
	}
	s := fmt.Sprintf("smsapi: %s: %s", e.Provider, what)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes Kind and Err to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// Permanent reports whether retrying err cannot help (it matches ErrRejected).
func Permanent(err error) bool { return errors.Is(err, ErrRejected) }

// RetryAfter returns the wait the provider or limiter asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

var digitRun = regexp.MustCompile(`\+?[0-9]{7,}`)

// sanitize masks digit runs that could be phone numbers and bounds length,
// since provider messages sometimes echo the recipient.
func sanitize(msg string) string {
	msg = digitRun.ReplaceAllString(msg, "***")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

func rejected(provider, code, msg string) *Error {
	return &Error{Provider: provider, Code: code, Message: msg, Kind: ErrRejected}
}
