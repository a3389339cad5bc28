package stdwebhook

import (
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12345/gateway/internal/clock"
)

// Verifier checks inbound Standard Webhooks requests. The zero value of
// Tolerance means DefaultTolerance and a nil Clock means clock.System. A Verifier
// is safe for concurrent use as long as its fields are not changed.
type Verifier struct {
	// Secrets are all keys currently accepted; a message signed with any of
	// them passes. During a rotation list the new and the old secret.
	Secrets []Secret
	// Tolerance is how far webhook-timestamp may be from Now, both ways.
	Tolerance time.Duration
	// Clock is the time source; nil means clock.System.
	Clock clock.Clock
}

// Verify checks the headers of one request against its raw body. It returns
// nil only when webhook-id and webhook-timestamp are present, the timestamp
// is within the tolerance, and at least one "v1," signature in
// webhook-signature matches one of the secrets. Signatures of other versions
// are ignored. Errors wrap ErrMissingHeaders, ErrTimestamp or ErrSignature.
//
// Verify does not remember webhook-id values; replay protection beyond the
// tolerance window is the caller's de-duplication by id.
func (v *Verifier) Verify(h http.Header, payload []byte) error {
	msgID := h.Get(HeaderID)
	tsRaw := h.Get(HeaderTimestamp)
	sigs := h.Values(HeaderSignature)
	if msgID == "" || tsRaw == "" || len(sigs) == 0 || (len(sigs) == 1 && strings.TrimSpace(sigs[0]) == "") {
		return ErrMissingHeaders
	}
	if err := v.checkTimestamp(tsRaw); err != nil {
		return err
	}
	if len(v.Secrets) == 0 {
		return fmt.Errorf("%w: verifier has no secrets", ErrSignature)
	}

	// One expected MAC per secret, compared in constant time with every
	// v1 candidate. The signed content uses the header's timestamp text
	// verbatim, as the sender signed it.
	want := make([][]byte, 0, len(v.Secrets))
	for _, s := range v.Secrets {
		if s.IsZero() {
			continue
		}
		mac := s.mac(msgID, tsRaw, payload)
		enc := make([]byte, base64.StdEncoding.EncodedLen(len(mac)))
		base64.StdEncoding.Encode(enc, mac)
		want = append(want, enc)
	}
	for _, field := range sigs {
		for _, vs := range strings.Fields(field) {
			version, sig, ok := strings.Cut(vs, ",")
			if !ok || version != "v1" {
				continue
			}
			for _, w := range want {
				if hmac.Equal([]byte(sig), w) {
					return nil
				}
			}
		}
	}
	return ErrSignature
}

// checkTimestamp parses unix seconds and applies the tolerance both ways.
func (v *Verifier) checkTimestamp(raw string) error {
	// Digits only: no sign, no spaces, no fractions. Eighteen digits are
	// far beyond any real clock and cannot overflow int64.
	if len(raw) > 18 || strings.TrimLeft(raw, "0123456789") != "" {
		return fmt.Errorf("%w: malformed", ErrTimestamp)
	}
	secs, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: malformed: %w", ErrTimestamp, err)
	}
	now := clock.System.Now
	if v.Clock != nil {
		now = v.Clock.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	// Compare in whole seconds so that the boundary is exact: ±300 s
	// passes with the default tolerance, ±301 s does not.
	diff := now().Unix() - secs
	tolSecs := int64(tol / time.Second)
	switch {
	case diff > tolSecs:
		return fmt.Errorf("%w: too old (%ds behind)", ErrTimestamp, diff)
	case -diff > tolSecs:
		return fmt.Errorf("%w: too new (%ds ahead)", ErrTimestamp, -diff)
	}
	return nil
}
