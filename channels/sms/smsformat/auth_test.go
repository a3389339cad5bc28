package smsformat_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/internal/clock"
)

func TestAuthenticatorToken(t *testing.T) {
	a := smsformat.Authenticator{Token: "s3cret-token"}
	body := []byte(tencentUp)
	tests := []struct {
		name    string
		target  string
		header  string
		wantErr error
	}{
		{"header", "/v1/channels/sms/inbound", "s3cret-token", nil},
		{"query", "/v1/channels/sms/inbound?token=s3cret-token", "", nil},
		{"missing", "/v1/channels/sms/inbound", "", smsformat.ErrNoCredentials},
		{"wrong header", "/v1/channels/sms/inbound", "s3cret-tokeN", smsformat.ErrBadToken},
		{"wrong query", "/v1/channels/sms/inbound?token=x", "", smsformat.ErrBadToken},
		{"prefix of token", "/v1/channels/sms/inbound?token=s3cret", "", smsformat.ErrBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(string(body)))
			if tt.header != "" {
				r.Header.Set(smsformat.HeaderToken, tt.header)
			}
			err := a.Check(r, body)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.ErrorIs(t, err, smsformat.ErrUnauthorized)
		})
	}
}

func TestAuthenticatorSignature(t *testing.T) {
	now := time.Unix(1714557600, 0)
	const secret = "hmac-secret"
	a := smsformat.Authenticator{Secret: secret, Token: "also-set", Clock: clock.NewFake(now)}
	body := []byte(genericUp)
	ts := strconv.FormatInt(now.Unix(), 10)

	// Known answer, computed independently:
	// printf '1714557600\n%s' "$body" | openssl dgst -sha256 -hmac hmac-secret
	require.Equal(t, "1d3e93cb6873118c16821c8fe6577b5c78ecde2435fc3e28dd6bf111c712da7d", knownSig(t))

	sign := func(ts string, b []byte) string { return smsformat.SignBody(secret, ts, b) }
	tests := []struct {
		name    string
		ts, sig string
		token   string
		body    []byte
		wantErr error
	}{
		{"valid", ts, sign(ts, body), "", body, nil},
		{"valid upper-case hex", ts, strings.ToUpper(sign(ts, body)), "", body, nil},
		{"valid at +300s", strconv.FormatInt(now.Unix()+300, 10), sign(strconv.FormatInt(now.Unix()+300, 10), body), "", body, nil},
		{"stale at -301s", strconv.FormatInt(now.Unix()-301, 10), sign(strconv.FormatInt(now.Unix()-301, 10), body), "", body, smsformat.ErrStaleTimestamp},
		{"future at +301s", strconv.FormatInt(now.Unix()+301, 10), sign(strconv.FormatInt(now.Unix()+301, 10), body), "", body, smsformat.ErrStaleTimestamp},
		{"no timestamp", "", sign(ts, body), "", body, smsformat.ErrStaleTimestamp},
		{"garbage timestamp", "soon", sign(ts, body), "", body, smsformat.ErrStaleTimestamp},
		{"no signature", ts, "", "", body, smsformat.ErrNoCredentials},
		{"token is not enough when a secret is set", ts, "", "also-set", body, smsformat.ErrNoCredentials},
		{"tampered body", ts, sign(ts, body), "", append([]byte(nil), append(body, ' ')...), smsformat.ErrBadSignature},
		{"signature for other timestamp", ts, sign("1714557601", body), "", body, smsformat.ErrBadSignature},
		{"not hex", ts, "zz", "", body, smsformat.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/channels/sms/inbound", nil)
			if tt.ts != "" {
				r.Header.Set(smsformat.HeaderTimestamp, tt.ts)
			}
			if tt.sig != "" {
				r.Header.Set(smsformat.HeaderSignature, tt.sig)
			}
			if tt.token != "" {
				r.Header.Set(smsformat.HeaderToken, tt.token)
			}
			err := a.Check(r, tt.body)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.ErrorIs(t, err, smsformat.ErrUnauthorized)
		})
	}
}

func knownSig(t *testing.T) string {
	t.Helper()
	return smsformat.SignBody("hmac-secret", "1714557600", []byte(genericUp))
}

func TestAuthenticatorNotConfigured(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/channels/sms/inbound?token=", nil)
	require.ErrorIs(t, smsformat.Authenticator{}.Check(r, nil), smsformat.ErrNotConfigured)
}
