package sms_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/smsapi"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

func outbound(text string) channels.Outbound {
	return channels.Outbound{Channel: "sms", ChannelUserID: phone, SessionID: "s-1", EnvelopeID: "e-1", Text: text, Kind: "agent"}
}

// deliverAsync runs Deliver in the background.
func deliverAsync(ch *sms.Channel, m channels.Outbound) <-chan error {
	out := make(chan error, 1)
	go func() { out <- ch.Deliver(context.Background(), m) }()
	return out
}

func TestDeliverSendsThroughProvider(t *testing.T) {
	for _, provider := range providers {
		t.Run(provider, func(t *testing.T) {
			e := startHubEnv(t, provider, "", t0, nil)
			require.NoError(t, e.Ch.Deliver(context.Background(), outbound("您好，已受理。")))
			sent := e.Fake.Sent()
			require.Len(t, sent, 1)
			require.Equal(t, phone, sent[0].Phone)
			require.Equal(t, "您好，已受理。", sent[0].Text)
			require.Equal(t, 1, sent[0].Parts)
		})
	}
}

// advanceUntil moves the fake clock in steps until cond holds.
func advanceUntil(t *testing.T, e *hubEnv, step time.Duration, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		if cond() {
			return true
		}
		e.Clock.Advance(step)
		return false
	}, wait, 2*time.Millisecond, what)
}

// A transient provider failure before anything was sent is retried after
// the backoff; a permanent one is not.
func TestDeliverRetries(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderGeneric, "", t0, nil)
	e.Fake.FailNext(503, "unavailable")
	e.Fake.FailNext(502, "bad_gateway")
	done := deliverAsync(e.Ch, outbound("稍后回复"))
	advanceUntil(t, e, time.Second, "the third attempt", func() bool { return len(e.Fake.Sent()) == 1 })
	require.NoError(t, <-done)
	require.Equal(t, 3, e.Fake.Calls())

	e.Fake.FailNext(400, "bad_request")
	err := e.Ch.Deliver(context.Background(), outbound("x"))
	require.Error(t, err)
	require.True(t, sms.Permanent(err))
	require.Equal(t, 4, e.Fake.Calls(), "a refusal is not retried")

	// Out of attempts: the last transient error is returned.
	for range 3 {
		e.Fake.FailNext(503, "unavailable")
	}
	done = deliverAsync(e.Ch, outbound("y"))
	advanceUntil(t, e, time.Second, "three more attempts", func() bool { return e.Fake.Calls() == 7 })
	err = <-done
	require.Error(t, err)
	require.False(t, sms.Permanent(err))
}

// The per-number limit (channels.sms.per_number_per_minute) refuses without
// calling the provider; the provider's own throttling is not retried either.
func TestDeliverRateLimits(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderAliyun, "", t0, func(c *configs.SMS, _ *sms.Options) { c.PerNumberPerMinute = 1 })
	require.NoError(t, e.Ch.Deliver(context.Background(), outbound("一")))
	err := e.Ch.Deliver(context.Background(), outbound("二"))
	require.ErrorIs(t, err, smsapi.ErrRateLimited)
	require.Equal(t, 1, e.Fake.Calls())
	// Another number is not affected.
	other := outbound("三")
	other.ChannelUserID = "+8613900139000"
	require.NoError(t, e.Ch.Deliver(context.Background(), other))

	e.Clock.Advance(time.Minute)
	e.Fake.FailNext(200, "isv.BUSINESS_LIMIT_CONTROL")
	err = e.Ch.Deliver(context.Background(), outbound("四"))
	require.ErrorIs(t, err, smsapi.ErrRateLimited)
	require.Equal(t, 3, e.Fake.Calls())
}

// Messages that cannot be sent fail permanently without calling the provider.
func TestDeliverRefusals(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderTencent, "", t0, nil)
	wrong := outbound("x")
	wrong.Channel = "web"
	badPhone := outbound("x")
	badPhone.ChannelUserID = "web-123"
	tests := []struct {
		name string
		m    channels.Outbound
		want error
	}{
		{"other channel", wrong, sms.ErrWrongChannel},
		{"not a phone number", badPhone, sms.ErrBadRecipient},
		{"empty text", outbound("  "), sms.ErrBadRecipient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Ch.Deliver(context.Background(), tt.m)
			require.ErrorIs(t, err, tt.want)
			require.True(t, sms.Permanent(err))
		})
	}
	require.Zero(t, e.Fake.Calls())

	// generic without api_base: the uplink works, replies fail for good.
	g := startHubEnv(t, smsformat.ProviderGeneric, "", t0, func(c *configs.SMS, _ *sms.Options) { c.APIBase = "" })
	err := g.Ch.Deliver(context.Background(), outbound("x"))
	require.ErrorIs(t, err, sms.ErrNoSender)
	require.True(t, sms.Permanent(err))
	status, body := g.uplink(t, text("1", "在吗", t0))
	require.Equal(t, 200, status, body)
	require.Contains(t, g.Logs.String(), "replies disabled")
}

// Replies longer than channels.sms.max_reply_chars are cut and end with "…".
func TestDeliverCutsLongReplies(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderTencent, "", t0, func(c *configs.SMS, _ *sms.Options) { c.MaxReplyChars = 100 })
	require.NoError(t, e.Ch.Deliver(context.Background(), outbound(reply150)))
	s := e.Fake.Sent()[0]
	require.Equal(t, 100, utf8.RuneCountInString(s.Text))
	require.True(t, strings.HasSuffix(s.Text, "…"))
	require.Equal(t, 2, s.Parts)
}

// A multi-part generic send that fails part-way is not repeated (the
// citizen would get part 1 twice); the part sent is recorded, so its
// failed report still names the session.
func TestDeliverPartialFailure(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderGeneric, "", t0, nil)
	e.Fake.(*smsfake.Generic).FailAfter(1, 503, "unavailable")
	err := e.Ch.Deliver(context.Background(), outbound(reply150))
	require.Error(t, err)
	require.Equal(t, 2, e.Fake.Calls())
	sent := e.Fake.Sent()
	require.Len(t, sent, 1)

	status, body := e.report(t, smsformat.Report{MessageID: sent[0].ID, Phone: phone, Error: "UNDELIV", At: t0})
	require.Equal(t, 200, status, body)
	_, evs := outbox(t, e.Hub.Intake)
	fails := eventsOfType(evs, normalize.EventMessageDeliveryFailed)
	require.Len(t, fails, 1)
	require.Equal(t, "s-1", fails[0]["session_id"])
	data := fails[0]["data"].(map[string]any)
	require.EqualValues(t, 1, data["part"])
	require.EqualValues(t, 3, data["parts"])
}

// emitOnly hides the transactional methods of the intake log.
type emitOnly struct{ sms.Emitter }

// Delivery reports: a failure becomes one message.delivery_failed naming
// the session and envelope of the reply, however often the provider
// repeats it; a delivery records no event; an unknown id still reports the
// failure. Both with a transactional emitter and a plain one.
func TestReports(t *testing.T) {
	for _, provider := range providers {
		for _, plain := range []bool{false, true} {
			name := provider
			if plain {
				name += "/plain emitter"
			}
			t.Run(name, func(t *testing.T) {
				e := startHubEnv(t, provider, "", t0, nil)
				h := e.chanHarness
				if plain {
					e.Stop()
					h = startChannel(t, e.Hub.Hub, e.Hub.DB, emitOnly{e.Hub.Intake}, e.cfg, sms.Options{}, e.Clock)
				}
				require.NoError(t, h.Ch.Deliver(context.Background(), outbound("第一条")))
				require.NoError(t, h.Ch.Deliver(context.Background(), outbound("第二条")))
				sent := e.Fake.Sent()
				require.Len(t, sent, 2)

				failed := smsformat.Report{MessageID: sent[0].ID, Phone: phone, Error: "MK:0001: 用户关机", At: t0.Add(time.Minute)}
				delivered := smsformat.Report{MessageID: sent[1].ID, Phone: phone, Delivered: true, At: t0.Add(time.Minute)}
				unknown := smsformat.Report{MessageID: "999", Phone: phone, Error: "EXPIRED", At: t0.Add(time.Minute)}
				for range 3 {
					status, body := h.report(t, failed, delivered)
					require.Equal(t, 200, status, body)
					require.JSONEq(t, ackBody(provider), body)
				}
				status, body := h.report(t, unknown)
				require.Equal(t, 200, status, body)

				_, evs := outbox(t, e.Hub.Intake)
				require.Len(t, evs, 2, "one event per failed message, none for the delivery")
				ev := evs[0]
				require.Equal(t, normalize.EventMessageDeliveryFailed, ev["type"])
				require.Equal(t, "s-1", ev["session_id"])
				require.Equal(t, "e-1", ev["envelope_id"])
				require.Equal(t, "sms", ev["channel"])
				data := ev["data"].(map[string]any)
				require.Equal(t, sent[0].ID, data["message_id"])
				require.Equal(t, "+86138****8000", data["phone"])
				require.Equal(t, "MK:0001: 用户关机", data["error"])
				require.Equal(t, "agent", data["kind"])

				require.Nil(t, evs[1]["session_id"])
				require.Equal(t, "999", evs[1]["data"].(map[string]any)["message_id"])
				require.NotContains(t, h.Logs.String(), phone)
			})
		}
	}
}

// channels.sms.template reaches the provider: the automatic receipt for an
// uplink goes out through the configured Aliyun TemplateCode or Tencent
// TemplateId (the whole gateway, configured by environment).
func TestReplyTemplateFromConfig(t *testing.T) {
	for _, tc := range []struct{ provider, template, id string }{
		{smsformat.ProviderAliyun, "SMS_998877", "u1"}, {smsformat.ProviderTencent, "1234567", ""}, // Tencent uplinks carry no id
	} {
		t.Run(tc.provider, func(t *testing.T) {
			var api interface {
				URL() string
				Sent() []smsfake.Sent
			}
			if tc.provider == smsformat.ProviderAliyun {
				api = smsfake.NewAliyun(t, "ak-id", "ak-secret")
			} else {
				api = smsfake.NewTencent(t, "ak-id", "ak-secret")
			}
			g := lt.Start(t, "GATEWAY_CHANNELS_SMS_PROVIDER="+tc.provider, "GATEWAY_CHANNELS_SMS_TOKEN=ak-id",
				"GATEWAY_CHANNELS_SMS_SECRET=ak-secret", "GATEWAY_CHANNELS_SMS_API_BASE="+api.URL(),
				"GATEWAY_CHANNELS_SMS_SIGN_NAME="+smsfake.SignatureName, "GATEWAY_CHANNELS_SMS_SDK_APP_ID=1400000000",
				"GATEWAY_CHANNELS_SMS_TEMPLATE="+tc.template, "GATEWAY_CHANNELS_SMS_CALLBACK_TOKEN=callback-token-0123")
			cb, err := smsfake.Uplink(tc.provider, smsfake.CallbackAuth{Token: "callback-token-0123"},
				smsformat.Inbound{ProviderID: tc.id, Phone: phone, Text: "路灯坏了", SentAt: time.Now().Truncate(time.Second), DestCode: "12345"})
			require.NoError(t, err)
			req, err := cb.Request(context.Background(), g.Base+"/v1/channels/sms/inbound")
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Eventually(t, func() bool { return len(api.Sent()) > 0 }, wait, 5*time.Millisecond, "the receipt")
			require.Equal(t, tc.template, api.Sent()[0].Template)
		})
	}
}
