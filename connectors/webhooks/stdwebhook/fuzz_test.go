package stdwebhook_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/internal/clock"
)

// FuzzVerify feeds arbitrary header values: Verify must never panic, must
// return one of its three sentinels on failure, and must accept only when a
// correct v1 signature is really present.
func FuzzVerify(f *testing.F) {
	const id, ts = "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330"
	f.Add(id, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", `{"test": 2432232314}`)
	f.Add(id, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", `{"test": 2432232314}`)
	f.Add(id, ts, "v2,abc v1, v1,,, ,v1", "")
	f.Add(id, "99999999999999999999999", "v1,x", "x")
	f.Add("", "", "", "")
	f.Add(id, "+1614265330", "v1", "{}")
	f.Add(id, " 1614265330", "\tv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=\n", `{"test": 2432232314}`)

	sec, err := stdwebhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		f.Fatal(err)
	}
	ver := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{sec}, Clock: clock.NewFake(time.Unix(1614265330, 0))}
	f.Fuzz(func(t *testing.T, id, ts, sig, payload string) {
		h := http.Header{}
		h.Set(stdwebhook.HeaderID, id)
		h.Set(stdwebhook.HeaderTimestamp, ts)
		h.Set(stdwebhook.HeaderSignature, sig)
		err := ver.Verify(h, []byte(payload))
		if err != nil {
			if !errors.Is(err, stdwebhook.ErrMissingHeaders) && !errors.Is(err, stdwebhook.ErrTimestamp) && !errors.Is(err, stdwebhook.ErrSignature) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		// Accepted: the exact expected signature must be one of the fields.
		want := signAt(sec, id, ts, payload)
		found := false
		for _, f := range strings.Fields(sig) {
			if f == want {
				found = true
			}
		}
		if !found {
			t.Fatalf("accepted without the right signature: id=%q ts=%q sig=%q", id, ts, sig)
		}
	})
}

// signAt computes the signature for a digit-only timestamp text (the only
// kind Verify accepts). With leading zeros it differs from what was signed,
// but a fuzzer cannot forge a matching HMAC for such input anyway.
func signAt(sec stdwebhook.Secret, id, ts, payload string) string {
	var unix int64
	for _, c := range ts {
		unix = unix*10 + int64(c-'0')
	}
	return stdwebhook.Sign(sec, id, time.Unix(unix, 0), []byte(payload))
}
