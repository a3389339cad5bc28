package app_test

import (
	"context"
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

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
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
	v := &app.Verifier{Keys: map[string]string{"k1": "s3cret"}, Skew: 300 * time.Second, Clock: clock.NewFake(now)}
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

// An unknown key and a bad signature get the same answer, so that keys
// cannot be told apart by probing (the answers differed).
func TestUnknownKeyLooksLikeABadSignature(t *testing.T) {
	v := &app.Verifier{Keys: map[string]string{"k1": "s3cret"}, Skew: 300 * time.Second, Clock: clock.NewFake(now)}
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{}`)
	answer := func(key, secret string) *apierr.Error {
		r := httptest.NewRequest("POST", "/v1/channels/app/requests", nil)
		r.Header = http.Header{"X-App-Key": {key}, "X-Timestamp": {ts}, "X-Nonce": {"n"},
			"X-Signature": {app.Sign(secret, "POST", "/v1/channels/app/requests", ts, "n", body)}}
		_, err := v.Verify(r, body)
		var ae *apierr.Error
		require.True(t, errors.As(err, &ae), "%v", err)
		return ae
	}
	unknown, badSig := answer("k9", "s3cret"), answer("k1", "wrong")
	require.Equal(t, badSig.Code, unknown.Code)
	require.Equal(t, badSig.Message, unknown.Message)
}

type nonces map[string]bool

func (n nonces) UseNonce(_ context.Context, scope, nonce string) error {
	if n[scope+"/"+nonce] {
		return intakelog.ErrReplay
	}
	n[scope+"/"+nonce] = true
	return nil
}

// The app's user is in the signed body of POST /v1/citizen/sessions: a
// header the signature did not cover decided the identity, and without it
// every user of an app was one citizen.
func TestCitizenSubjectIsTheSignedUser(t *testing.T) {
	ch := app.New(channels.Deps{Clock: clock.NewFake(now)},
		configs.App{Keys: map[string]string{"k1": "s3cret"}, TimestampSkew: 300 * time.Second},
		configs.RateLimit{PerIP: 10, PerIPBurst: 10, PerAppKey: 10, PerAppKeyBurst: 10}, nonces{})
	const path = "/v1/citizen/sessions"
	ts := strconv.FormatInt(now.Unix(), 10)
	req := func(nonce, signedBody, sentBody string, hdr ...string) (string, error) {
		r := httptest.NewRequest("POST", path, strings.NewReader(sentBody))
		r.Header = http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {nonce},
			"X-Signature": {app.Sign("s3cret", "POST", path, ts, nonce, []byte(signedBody))}}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return ch.CitizenSubject(r, []byte(sentBody))
	}
	tests := []struct {
		name, nonce, signed, sent string
		hdr                       []string
		want                      string
		code                      apierr.Code
	}{
		{name: "user a", nonce: "n1", signed: `{"user":{"id":"a"}}`, sent: `{"user":{"id":"a"}}`, want: "k1:a"},
		{name: "user b is another citizen", nonce: "n2", signed: `{"user":{"id":"b","phone":"+8613800138000","verified":true}}`,
			sent: `{"user":{"id":"b","phone":"+8613800138000","verified":true}}`, want: "k1:b"},
		{name: "a header does not name the user", nonce: "n3", signed: `{"user":{"id":"a"}}`, sent: `{"user":{"id":"a"}}`,
			hdr: []string{"X-App-User", "b"}, want: "k1:a"},
		{name: "no user", nonce: "n4", signed: `{}`, sent: `{}`, code: apierr.CodeInvalid},
		{name: "empty body", nonce: "n5", signed: ``, sent: ``, code: apierr.CodeBadRequest},
		{name: "blank user id", nonce: "n6", signed: `{"user":{"id":" "}}`, sent: `{"user":{"id":" "}}`, code: apierr.CodeInvalid},
		{name: "user swapped after signing", nonce: "n7", signed: `{"user":{"id":"a"}}`, sent: `{"user":{"id":"b"}}`, code: apierr.CodeUnauthorized},
		{name: "replayed nonce", nonce: "n1", signed: `{"user":{"id":"a"}}`, sent: `{"user":{"id":"a"}}`, code: apierr.CodeReplay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := req(tc.nonce, tc.signed, tc.sent, tc.hdr...)
			if tc.code == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, sub)
				return
			}
			var ae *apierr.Error
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, tc.code, ae.Code, ae.Message)
		})
	}
}
