package smsformat

import (
	"errors"
	"fmt"
)

// ErrMalformed is matched (errors.Is) by every decoding error: the body is
// not valid JSON, has the wrong shape, or a field is missing or invalid. The
// request must be refused with 400; retrying it unchanged will not help.
var ErrMalformed = errors.New("sms: malformed callback")

// ErrUnknownProvider is returned for a provider name other than aliyun,
// tencent or generic: a configuration error, not a caller's fault.
var ErrUnknownProvider = errors.New("sms: unknown provider")

// ErrInvalidPhone is returned by NormalizePhone when the number cannot be
// turned into E.164. Decoders report it as a *FieldError on the phone field.
var ErrInvalidPhone = errors.New("sms: invalid phone number")

// ErrUnauthorized is matched by every authentication failure from
// Authenticator.Check; the request must be refused with 401.
var ErrUnauthorized = errors.New("sms: unauthorized")

// Authentication failures, each matching ErrUnauthorized.
var (
	ErrNoCredentials  = fmt.Errorf("%w: no token or signature", ErrUnauthorized)
	ErrBadToken       = fmt.Errorf("%w: token mismatch", ErrUnauthorized)
	ErrBadSignature   = fmt.Errorf("%w: signature mismatch", ErrUnauthorized)
	ErrStaleTimestamp = fmt.Errorf("%w: timestamp missing or outside the allowed window", ErrUnauthorized)
	ErrNotConfigured  = fmt.Errorf("%w: neither token nor secret configured", ErrUnauthorized)
)

// FieldError names the field of a callback that is missing or invalid.
// Field is a path such as "phone_number" or "[2].udh.seq"; Reason says what
// is wrong without quoting the value (values may be phone numbers or text).
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("sms: field %s: %s", e.Field, e.Reason)
}

// Unwrap makes every FieldError match ErrMalformed.
func (e *FieldError) Unwrap() error { return ErrMalformed }

func fieldErr(prefix, field, reason string) *FieldError {
	return &FieldError{Field: prefix + field, Reason: reason}
}
