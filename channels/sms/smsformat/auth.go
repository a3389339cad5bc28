package smsformat

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12345/gateway/internal/clock"
)

// Header and query names of the callback authentication scheme (FORMAT.md).
const (
	HeaderToken     = "X-SMS-Token"
	HeaderSignature = "X-SMS-Signature"
	HeaderTimestamp = "X-SMS-Timestamp"
	QueryToken      = "token"
)

// DefaultMaxSkew is how far X-SMS-Timestamp may be from the gateway's clock.
const DefaultMaxSkew = 300 * time.Second

// Authenticator checks that a callback really comes from the provider.
//
// When Secret is set, the request must carry X-SMS-Timestamp (unix seconds,
// within MaxSkew of Now) and X-SMS-Signature = hex(HMAC-SHA256(Secret,
// timestamp + "\n" + body)); a token is then not enough. Otherwise, when
// Token is set, the request must carry it in X-SMS-Token or in the "token"
// query parameter (for providers such as Aliyun and Tencent that can only be
// given a URL). With neither configured every request is refused.
// Comparisons are constant-time. A nil Clock means clock.System.
//
// Check is safe for concurrent use; it does not read r.Body (pass the bytes
// already read, under a size limit).
type Authenticator struct {
	Token   string
	Secret  string
	Clock   clock.Clock
	MaxSkew time.Duration
}

// Check returns nil or an error matching ErrUnauthorized.
func (a Authenticator) Check(r *http.Request, body []byte) error {
	switch {
	case a.Secret != "":
		return a.checkSignature(r, body)
	case a.Token != "":
		got := r.Header.Get(HeaderToken)
		if got == "" && r.URL != nil {
			got = r.URL.Query().Get(QueryToken)
		}
		if got == "" {
			return ErrNoCredentials
		}
		if !equalConstantTime(got, a.Token) {
			return ErrBadToken
		}
		return nil
	default:
		return ErrNotConfigured
	}
}

func (a Authenticator) checkSignature(r *http.Request, body []byte) error {
	sig := strings.TrimSpace(r.Header.Get(HeaderSignature))
	ts := strings.TrimSpace(r.Header.Get(HeaderTimestamp))
	if sig == "" {
		return ErrNoCredentials
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrStaleTimestamp
	}
	now := clock.System.Now
	if a.Clock != nil {
		now = a.Clock.Now
	}
	skew := a.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	d := now().Sub(time.Unix(sec, 0))
	if d > skew || d < -skew {
		return ErrStaleTimestamp
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return ErrBadSignature
	}
	if !hmac.Equal(got, signBytes(a.Secret, ts, body)) {
		return ErrBadSignature
	}
	return nil
}

// SignBody computes the X-SMS-Signature value for a body sent at timestamp
// (unix seconds as decimal text): hex(HMAC-SHA256(secret, timestamp+"\n"+body)).
// The generic send API uses the same scheme in the other direction.
func SignBody(secret, timestamp string, body []byte) string {
	return hex.EncodeToString(signBytes(secret, timestamp, body))
}

func signBytes(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'\n'})
	m.Write(body)
	return m.Sum(nil)
}

// equalConstantTime compares two secrets without leaking their length or
// the position of the first difference.
func equalConstantTime(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
