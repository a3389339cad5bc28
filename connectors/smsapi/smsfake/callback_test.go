package smsfake_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/internal/clock"
)

var at = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// Every built callback decodes back to what it was built from and passes
// the gateway's authenticator.
func TestUplinkRoundTrip(t *testing.T) {
	tests := []struct {
		provider string
		msgs     []smsformat.Inbound
	}{
		{"aliyun", []smsformat.Inbound{
			{ProviderID: "1234567", Phone: "+8613800138000", Text: "我要投诉噪音", SentAt: at, DestCode: "01"},
			{ProviderID: "1234568", Phone: "+8613900139000", Text: "<b>&</b>", SentAt: at.Add(time.Second)},
		}},
		{"tencent", []smsformat.Inbound{{Phone: "+8613800138000", Text: "路灯坏了", SentAt: at, DestCode: "7"}}},
		{"tencent", []smsformat.Inbound{{Phone: "+85291234567", Text: "hi", SentAt: at}, {Phone: "+14155550123", Text: "yo", SentAt: at}}},
		{"generic", []smsformat.Inbound{{ProviderID: "m-1", Phone: "+8613800138000", Text: "第一部分", SentAt: at,
			DestCode: "12345", Part: &smsformat.Part{Ref: "a7", Total: 2, Seq: 1}}}},
		{"generic", []smsformat.Inbound{{Phone: "+8613800138000", Text: "x", SentAt: at}, {Phone: "+8613800138000", Text: "y", SentAt: at}}},
	}
	for _, tt := range tests {
		for _, auth := range []smsformat.Authenticator{{Token: "tok"}, {Secret: "sec", Clock: clock.NewFake(at)}} {
			t.Run(tt.provider, func(t *testing.T) {
				cb, err := smsfake.Uplink(tt.provider, smsfake.CallbackAuth{Token: auth.Token, Secret: auth.Secret, Now: at}, tt.msgs...)
				require.NoError(t, err)
				req, err := cb.Request(context.Background(), "http://gateway.test/v1/channels/sms/inbound?x=1")
				require.NoError(t, err)
				body, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				require.NoError(t, auth.Check(req, body))
				require.Equal(t, "1", req.URL.Query().Get("x"))

				got, err := smsformat.DecodeInbound(tt.provider, body)
				require.NoError(t, err)
				require.Len(t, got, len(tt.msgs))
				for i, want := range tt.msgs {
					require.True(t, want.SentAt.Equal(got[i].SentAt))
					got[i].SentAt = want.SentAt
					require.Equal(t, want, got[i])
				}
			})
		}
	}
}

func TestReportsRoundTrip(t *testing.T) {
	reps := []smsformat.Report{
		{MessageID: "id-1", Phone: "+8613800138000", Delivered: true, At: at},
		{MessageID: "id-2", Phone: "+8613900139000", Error: "MK:0001: 用户关机", At: at.Add(time.Minute)},
	}
	for _, provider := range []string{"aliyun", "tencent", "generic"} {
		t.Run(provider, func(t *testing.T) {
			cb, err := smsfake.Reports(provider, smsfake.CallbackAuth{Token: "tok"}, reps...)
			require.NoError(t, err)
			got, err := smsformat.DecodeReports(provider, cb.Body)
			require.NoError(t, err)
			require.Len(t, got, 2)
			for i, want := range reps {
				require.True(t, want.At.Equal(got[i].At))
				got[i].At = want.At
				require.Equal(t, want, got[i])
			}
		})
	}
}

func TestCallbackShapes(t *testing.T) {
	one := smsformat.Inbound{Phone: "+8613800138000", Text: "x", SentAt: at}
	cb, err := smsfake.Uplink("aliyun", smsfake.CallbackAuth{}, one)
	require.NoError(t, err)
	require.Equal(t, byte('['), cb.Body[0], "Aliyun pushes arrays")
	cb, err = smsfake.Uplink("tencent", smsfake.CallbackAuth{}, one)
	require.NoError(t, err)
	require.Equal(t, byte('{'), cb.Body[0], "a Tencent reply callback is one object")
	cb, err = smsfake.Reports("tencent", smsfake.CallbackAuth{}, smsformat.Report{MessageID: "1", Delivered: true, At: at})
	require.NoError(t, err)
	require.Equal(t, byte('['), cb.Body[0], "Tencent status callbacks are arrays")

	_, err = smsfake.Uplink("tencent", smsfake.CallbackAuth{}, smsformat.Inbound{Phone: "+8613800138000", Part: &smsformat.Part{Ref: "1", Total: 2, Seq: 1}})
	require.Error(t, err)
	_, err = smsfake.Uplink("twilio", smsfake.CallbackAuth{}, one)
	require.Error(t, err)
}
