// Package stdwebhook implements the Standard Webhooks specification
// (https://www.standardwebhooks.com) in both directions: verifying requests
// that partners (Suishenban, Yiwangtongban) post to the gateway, and signing
// the status webhooks the gateway posts back to them.
//
// A message is signed as HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")
// and carried in three headers: webhook-id, webhook-timestamp (unix seconds)
// and webhook-signature ("v1,<base64>", several separated by spaces while a
// secret is being rotated).
package stdwebhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names defined by the specification. http.Header canonicalises them,
// so they may be used with Get/Set directly.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far webhook-timestamp may lie from the verifier's
// clock, in either direction, before a message is refused as a replay (too
// old) or as forged ahead of time (too new). The specification recommends
// five minutes.
const DefaultTolerance = 5 * time.Minute

// secretPrefix marks a Standard Webhooks secret; the rest is base64.
const secretPrefix = "whsec_"

// Errors returned by Verify. Callers answer all three with 401; they differ
// only in what is worth logging.
var (
	// ErrMissingHeaders means webhook-id, webhook-timestamp or
	// webhook-signature is absent or empty.
	ErrMissingHeaders = errors.New("stdwebhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrTimestamp means webhook-timestamp is malformed or outside the
	// tolerance (the wrapping message says "too old" or "too new").
	ErrTimestamp = errors.New("stdwebhook: webhook-timestamp rejected")
	// ErrSignature means no v1 signature in webhook-signature matches any of
	// the verifier's secrets.
	ErrSignature = errors.New("stdwebhook: no matching signature")
	// ErrSecret is returned by ParseSecret for an empty or non-base64 secret.
	ErrSecret = errors.New("stdwebhook: invalid secret")
)

// Secret is a decoded signing key. Its String and GoString methods never
// reveal the key, so a Secret may sit in a config struct that is logged.
type Secret struct {
	key []byte
}

// ParseSecret decodes a secret written as "whsec_<base64>" (the form
// partners are given) or as bare base64. An empty key is refused: it would
// make every signature forgeable.
func ParseSecret(s string) (Secret, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), secretPrefix)
	if b64 == "" {
		return Secret{}, fmt.Errorf("%w: empty", ErrSecret)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// Some issuers drop the padding; accept that too.
		var err2 error
		key, err2 = base64.RawStdEncoding.DecodeString(b64)
		if err2 != nil {
			return Secret{}, fmt.Errorf("%w: not base64: %w", ErrSecret, err)
		}
	}
	if len(key) == 0 {
		return Secret{}, fmt.Errorf("%w: empty key", ErrSecret)
	}
	return Secret{key: key}, nil
}

// IsZero reports whether s holds no key (the zero Secret).
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String redacts the key.
func (s Secret) String() string {
	if s.IsZero() {
		return "whsec_(none)"
	}
	return "whsec_(redacted)"
}

// GoString redacts the key in %#v output too.
func (s Secret) GoString() string { return s.String() }

// mac returns the raw HMAC-SHA256 of the signed content.
func (s Secret) mac(msgID, ts string, payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(payload)
	return h.Sum(nil)
}

// Sign returns the webhook-signature value "v1,<base64>" for one message.
// ts is sent with second precision, as the specification requires.
func Sign(secret Secret, msgID string, ts time.Time, payload []byte) string {
	return signTS(secret, msgID, strconv.FormatInt(ts.Unix(), 10), payload)
}

func signTS(secret Secret, msgID, ts string, payload []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(secret.mac(msgID, ts, payload))
}

// Headers returns the three Standard Webhooks headers for an outbound
// message. msgID must be unique per message and stable across retries of
// the same message, so that the receiver can de-duplicate.
func Headers(secret Secret, msgID string, ts time.Time, payload []byte) http.Header {
	h := make(http.Header, 3)
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, msgID, ts, payload))
	return h
}
