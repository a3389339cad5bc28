package stdwebhook_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/vectorstest"

	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
)

type signVector struct {
	Secret            string `json:"secret"`
	WebhookID         string `json:"webhook_id"`
	WebhookTimestamp  string `json:"webhook_timestamp"`
	Payload           string `json:"payload"`
	WebhookSignature  string `json:"webhook_signature"`
	KnownBadSignature string `json:"known_bad_signature"`
}

func vector(t *testing.T) (signVector, stdwebhook.Secret, time.Time) {
	t.Helper()
	var v signVector
	vectorstest.Load(t, "standard_webhooks_sign", &v)
	sec, err := stdwebhook.ParseSecret(v.Secret)
	require.NoError(t, err)
	unix, err := strconv.ParseInt(v.WebhookTimestamp, 10, 64)
	require.NoError(t, err)
	return v, sec, time.Unix(unix, 0)
}

func headers(id, ts string, sigs ...string) http.Header {
	h := http.Header{}
	h.Set(stdwebhook.HeaderID, id)
	h.Set(stdwebhook.HeaderTimestamp, ts)
	for _, s := range sigs {
		h.Add(stdwebhook.HeaderSignature, s)
	}
	return h
}

func fixedClock(t time.Time) clock.Clock { return clock.NewFake(t) }

func TestSignVector(t *testing.T) {
	v, sec, ts := vector(t)
	require.Equal(t, v.WebhookSignature, stdwebhook.Sign(sec, v.WebhookID, ts, []byte(v.Payload)))

	h := stdwebhook.Headers(sec, v.WebhookID, ts, []byte(v.Payload))
	require.Equal(t, v.WebhookID, h.Get("webhook-id"))
	require.Equal(t, v.WebhookTimestamp, h.Get("webhook-timestamp"))
	require.Equal(t, v.WebhookSignature, h.Get("webhook-signature"))

	// The same secret without the whsec_ prefix.
	bare, err := stdwebhook.ParseSecret(v.Secret[len("whsec_"):])
	require.NoError(t, err)
	require.Equal(t, v.WebhookSignature, stdwebhook.Sign(bare, v.WebhookID, ts, []byte(v.Payload)))
}

func TestVerify(t *testing.T) {
	v, sec, ts := vector(t)
	other, err := stdwebhook.ParseSecret("whsec_" + "c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24=")
	require.NoError(t, err)
	otherSig := stdwebhook.Sign(other, v.WebhookID, ts, []byte(v.Payload))
	payload := []byte(v.Payload)
	flipped := []byte(v.Payload)
	flipped[len(flipped)-2] ^= 0x01

	tests := []struct {
		name    string
		secrets []stdwebhook.Secret
		h       http.Header
		payload []byte
		now     time.Time
		wantErr error
	}{
		{name: "vector", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts},
		{name: "known bad signature", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.KnownBadSignature), payload: payload, now: ts, wantErr: stdwebhook.ErrSignature},
		{name: "one changed payload byte", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: flipped, now: ts, wantErr: stdwebhook.ErrSignature},
		{name: "changed id", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID+"x", v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts, wantErr: stdwebhook.ErrSignature},
		{name: "rotation: two signatures, old one matches", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, otherSig+" "+v.WebhookSignature), payload: payload, now: ts},
		{name: "rotation: two header values", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, otherSig, v.WebhookSignature), payload: payload, now: ts},
		{name: "rotation: two secrets in verifier", secrets: []stdwebhook.Secret{other, sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts},
		{name: "rotation: new secret only", secrets: []stdwebhook.Secret{other, sec}, h: headers(v.WebhookID, v.WebhookTimestamp, otherSig), payload: payload, now: ts},
		{name: "unknown versions ignored", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, "v1a,abc v2,"+v.WebhookSignature[3:]+" junk "+v.WebhookSignature), payload: payload, now: ts},
		{name: "only unknown version", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, "v2,"+v.WebhookSignature[3:]), payload: payload, now: ts, wantErr: stdwebhook.ErrSignature},
		{name: "+300s accepted", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts.Add(300 * time.Second)},
		{name: "-300s accepted", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts.Add(-300 * time.Second)},
		{name: "too old +301s", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts.Add(301 * time.Second), wantErr: stdwebhook.ErrTimestamp},
		{name: "too new -301s", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts.Add(-301 * time.Second), wantErr: stdwebhook.ErrTimestamp},
		{name: "malformed timestamp", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, "-1614265330", v.WebhookSignature), payload: payload, now: ts, wantErr: stdwebhook.ErrTimestamp},
		{name: "missing id", secrets: []stdwebhook.Secret{sec}, h: headers("", v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts, wantErr: stdwebhook.ErrMissingHeaders},
		{name: "missing timestamp", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, "", v.WebhookSignature), payload: payload, now: ts, wantErr: stdwebhook.ErrMissingHeaders},
		{name: "missing signature", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp), payload: payload, now: ts, wantErr: stdwebhook.ErrMissingHeaders},
		{name: "blank signature", secrets: []stdwebhook.Secret{sec}, h: headers(v.WebhookID, v.WebhookTimestamp, "  "), payload: payload, now: ts, wantErr: stdwebhook.ErrMissingHeaders},
		{name: "no secrets configured", secrets: nil, h: headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature), payload: payload, now: ts, wantErr: stdwebhook.ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ver := stdwebhook.Verifier{Secrets: tc.secrets, Clock: fixedClock(tc.now)}
			err := ver.Verify(tc.h, tc.payload)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestVerifyTooOldTooNewMessages(t *testing.T) {
	v, sec, ts := vector(t)
	h := headers(v.WebhookID, v.WebhookTimestamp, v.WebhookSignature)
	old := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{sec}, Clock: fixedClock(ts.Add(time.Hour))}
	require.ErrorContains(t, old.Verify(h, []byte(v.Payload)), "too old")
	ahead := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{sec}, Clock: fixedClock(ts.Add(-time.Hour))}
	require.ErrorContains(t, ahead.Verify(h, []byte(v.Payload)), "too new")
	// A wider tolerance accepts the same message.
	wide := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{sec}, Tolerance: 2 * time.Hour, Clock: fixedClock(ts.Add(time.Hour))}
	require.NoError(t, wide.Verify(h, []byte(v.Payload)))
}

func TestRoundTrip(t *testing.T) {
	sec, err := stdwebhook.ParseSecret("whsec_" + "aGVsbG8gd29ybGQgc2VjcmV0IGtleSAzMiBieXRlcw==")
	require.NoError(t, err)
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"request.status","data":{"status":"dispatched"}}`)
	h := stdwebhook.Headers(sec, "msg_1", now, body)
	ver := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{sec}, Clock: fixedClock(now.Add(10 * time.Second))}
	require.NoError(t, ver.Verify(h, body))
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"prefixed", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"bare", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true},
		{"unpadded", "whsec_aGVsbG8", true},
		{"empty", "", false},
		{"prefix only", "whsec_", false},
		{"not base64", "whsec_!!!not-base64!!!", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := stdwebhook.ParseSecret(tc.in)
			if !tc.ok {
				require.ErrorIs(t, err, stdwebhook.ErrSecret)
				return
			}
			require.NoError(t, err)
			require.False(t, s.IsZero())
			require.NotContains(t, s.String(), tc.in[len(tc.in)-4:], "String must not reveal the key")
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	sec, err := stdwebhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(b, err)
	now := time.Unix(1614265330, 0)
	body := make([]byte, 2048)
	h := stdwebhook.Headers(sec, "msg_1", now, body)
	ver := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{sec}, Clock: fixedClock(now)}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := ver.Verify(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
