package app_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/normalize/apierr"
)

// Sign follows the contract's canonical string, computed here independently.
func TestSignMatchesTheContract(t *testing.T) {
	body := []byte(`{"text":"hello"}`)
	bodySum := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write([]byte("POST\n/v1/channels/app/requests\n1772443800\nabc\n" + hex.EncodeToString(bodySum[:])))
	want := hex.EncodeToString(m.Sum(nil))
	require.Equal(t, want, app.Sign("s3cret", "POST", "/v1/channels/app/requests", "1772443800", "abc", body))
}

var now = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func TestVerify(t *testing.T) {
	v := &app.Verifier{Keys: map[string]string{"k1": "s3cret"}, Skew: 300 * time.Second, Now: func() time.Time { return now }}
	body := []byte(`{"text":"hello"}`)
	const path = "/v1/channels/app/requests"
	ts := strconv.FormatInt(now.Unix(), 10)
	good := func() http.Header {
		return http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {"n1"},
			"X-Signature": {app.Sign("s3cret", "POST", path, ts, "n1", body)}}
	}
	at := func(d time.Duration) http.Header {
		ts := strconv.FormatInt(now.Add(d).Unix(), 10)
		return http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {"n1"},
			"X-Signature": {app.Sign("s3cret", "POST", path, ts, "n1", body)}}
	}
	with := func(k, val string) http.Header { h := good(); h.Set(k, val); return h }
	without := func(k string) http.Header { h := good(); h.Del(k); return h }
	tests := []struct {
		name   string
		method string
		target string
		hdr    http.Header
		body   []byte
		want   apierr.Code // "" = valid
	}{
		{"valid", "POST", path, good(), body, ""},
		{"valid with a query string", "POST", path + "?x=1", good(), body, ""},
		{"upper-case hex", "POST", path, with("X-Signature", strings.ToUpper(good().Get("X-Signature"))), body, ""},
		{"within the skew, past", "POST", path, at(-300 * time.Second), body, ""},
		{"within the skew, future", "POST", path, at(300 * time.Second), body, ""},
		{"stale", "POST", path, at(-301 * time.Second), body, apierr.CodeStale},
		{"from the future", "POST", path, at(301 * time.Second), body, apierr.CodeStale},
		{"timestamp not a number", "POST", path, func() http.Header {
			h := good()
			h.Set("X-Timestamp", "yesterday")
			h.Set("X-Signature", app.Sign("s3cret", "POST", path, "yesterday", "n1", body))
			return h
		}(), body, apierr.CodeStale},
		{"no key", "POST", path, without("X-App-Key"), body, apierr.CodeUnauthorized},
		{"no timestamp", "POST", path, without("X-Timestamp"), body, apierr.CodeUnauthorized},
		{"no nonce", "POST", path, without("X-Nonce"), body, apierr.CodeUnauthorized},
		{"no signature", "POST", path, without("X-Signature"), body, apierr.CodeUnauthorized},
		{"unknown key", "POST", path, with("X-App-Key", "k2"), body, apierr.CodeUnauthorized},
		{"nonce too long", "POST", path, with("X-Nonce", strings.Repeat("n", 129)), body, apierr.CodeUnauthorized},
		{"signature not hex", "POST", path, with("X-Signature", "zz"), body, apierr.CodeUnauthorized},
		{"other body", "POST", path, good(), []byte(`{"text":"hellO"}`), apierr.CodeUnauthorized},
		{"other path", "POST", "/v1/channels/app/requests/", good(), body, apierr.CodeUnauthorized},
		{"other method", "PUT", path, good(), body, apierr.CodeUnauthorized},
		{"other nonce", "POST", path, with("X-Nonce", "n2"), body, apierr.CodeUnauthorized},
		{"bad signature and stale: the signature decides", "POST", path, func() http.Header {
			h := at(-time.Hour)
			h.Set("X-Signature", strings.Repeat("ab", 32))
			return h
		}(), body, apierr.CodeUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Header = tc.hdr
			s, err := v.Verify(r, tc.body)
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, app.Signed{AppKey: "k1", Nonce: tc.hdr.Get("X-Nonce")}, s)
				return
			}
			var ae *apierr.Error
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, tc.want, ae.Code, ae.Message)
			require.Equal(t, 401, apierr.Status(ae.Code))
		})
	}
}
