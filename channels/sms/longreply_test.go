package sms_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/smsapi"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/internal/clock"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

// chars counts as the providers do (UTF-16 units).
func chars(s string) int { return len(utf16.Encode([]rune(s))) }

// longReply is an n-character answer made of sentences.
func longReply(n int) string {
	const sentence = "经核查，您反映的小区路灯损坏问题已由城管部门安排维修，预计三个工作日内完成。"
	return string([]rune(strings.Repeat(sentence, n/len([]rune(sentence))+1))[:n])
}

// limitedAPI is a provider fake that enforces the provider's length rules.
type limitedAPI interface {
	URL() string
	Sent() []smsfake.Sent
	Inbox(phone string) []string
	LengthRefusals() int
}

func newLimitedAPI(t *testing.T, provider, keyID, secret string, opts ...smsfake.Option) limitedAPI {
	if provider == smsformat.ProviderAliyun {
		return smsfake.NewAliyun(t, keyID, secret, opts...)
	}
	return smsfake.NewTencent(t, keyID, secret, opts...)
}

// numberedReply returns the sends of phone's inbox that carry reply in
// numbered order (the automatic receipt is skipped), or nil.
func numberedReply(inbox []string, reply string) []string {
	var out []string
	var joined strings.Builder
	for _, c := range inbox {
		// 【signature】, the template's fixed text, then "(i/n)" and the piece.
		if i := strings.Index(c, "("); i >= 0 && strings.Contains(c[i:], "/") {
			body := c[i:]
			out = append(out, c)
			joined.WriteString(smsapi.StripNumber(body))
		}
	}
	if joined.String() != reply {
		return nil
	}
	return out
}

// Acceptance (issue: a long reply broke the providers' 500-character limit):
// through the whole gateway, an uplink and then a 600- or 1,500-character
// "answered" ticket event for its envelope reach the citizen's phone as
// ordered, numbered sends that each fit in 500 characters with the
// signature, at fakes that refuse longer ones as Aliyun and Tencent do.
// Before, the reply was cut to 500 characters (509 with 【12345热线】) and
// refused.
func TestLongTicketReplyArrivesWhole(t *testing.T) {
	for _, provider := range []string{smsformat.ProviderAliyun, smsformat.ProviderTencent} {
		for _, n := range []int{600, 1500} {
			t.Run(provider+"/"+strconv.Itoa(n), func(t *testing.T) {
				api := newLimitedAPI(t, provider, "ak-id", "ak-secret")
				g := lt.Start(t, "GATEWAY_CHANNELS_SMS_PROVIDER="+provider, "GATEWAY_CHANNELS_SMS_TOKEN=ak-id",
					"GATEWAY_CHANNELS_SMS_SECRET=ak-secret", "GATEWAY_CHANNELS_SMS_API_BASE="+api.URL(),
					"GATEWAY_CHANNELS_SMS_SIGN_NAME="+smsfake.SignatureName, "GATEWAY_CHANNELS_SMS_SDK_APP_ID=1400000000",
					"GATEWAY_CHANNELS_SMS_CALLBACK_TOKEN=callback-token-0123")
				in := smsformat.Inbound{Phone: phone, Text: "路灯坏了", SentAt: time.Now().Truncate(time.Second), DestCode: "12345"}
				if provider == smsformat.ProviderAliyun {
					in.ProviderID = "u1"
				}
				cb, err := smsfake.Uplink(provider, smsfake.CallbackAuth{Token: "callback-token-0123"}, in)
				require.NoError(t, err)
				req, err := cb.Request(context.Background(), g.Base+sms.PathInbound)
				require.NoError(t, err)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)

				var envID string
				require.Eventually(t, func() bool {
					for _, r := range g.Consume(t, "intake.envelopes", 200*time.Millisecond) {
						envID, _ = r.Value["id"].(string)
					}
					return envID != ""
				}, wait, 5*time.Millisecond, "the envelope on Kafka")
				reply := longReply(n)
				w := kafkago.Writer{Addr: kafkago.TCP(g.KafkaBrokers()...), Topic: "ticket.events", BatchTimeout: time.Millisecond}
				defer w.Close()
				v := `{"schema":"ticket-event/v1","envelope_id":"` + envID + `","ticket_id":"T-1","status":"answered","at":"` +
					time.Now().UTC().Format(time.RFC3339) + `","reply":{"text":"` + reply + `"}}`
				require.NoError(t, w.WriteMessages(context.Background(), kafkago.Message{Key: []byte(envID), Value: []byte(v)}))

				var got []string
				require.Eventually(t, func() bool {
					got = numberedReply(api.Inbox(phone), reply)
					return got != nil
				}, wait, 5*time.Millisecond, "the whole reply on the phone")
				want := (n + 480) / 481 // 500 less 【12345热线】 (9) and "(i/n)" (5), with slack for sentence breaks
				require.GreaterOrEqual(t, len(got), want)
				require.LessOrEqual(t, len(got), want+1)
				for i, c := range got {
					require.LessOrEqual(t, chars(c), smsfake.ContentLimit, "send %d fits", i+1)
					require.Contains(t, c, "】("+strconv.Itoa(i+1)+"/"+strconv.Itoa(len(got))+")", "in order")
				}
				require.Zero(t, api.LengthRefusals())
			})
		}
	}
}

// startWithAPI is startHubEnv over a given provider fake.
func startWithAPI(t *testing.T, provider string, clk *clock.Fake, api limitedAPI, tune func(*configs.SMS)) *hubEnv {
	t.Helper()
	hub := lt.StartHub(t, "a1:pw:general:5", clk, "")
	cfg := smsConfig(provider, api.URL())
	if tune != nil {
		tune(&cfg)
	}
	h := startChannel(t, hub.Hub, hub.DB, hub.Intake, cfg, sms.Options{}, clk)
	return &hubEnv{chanHarness: h, Hub: hub, Clock: clk}
}

// counter reads one of the channel's counters by name and labels
// ("provider", "outcome").
func counter(t *testing.T, ch *sms.Channel, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ch.Collectors()...)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() != labels[l.GetName()] {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Deliver splits by the configured template text and variable cap, and the
// sends are recorded so that a failed report names its numbered send.
func TestDeliverSplitsByConfiguredLimits(t *testing.T) {
	for _, provider := range []string{smsformat.ProviderAliyun, smsformat.ProviderTencent} {
		t.Run(provider, func(t *testing.T) {
			c := providerCreds(provider)
			tmpl := map[string]string{smsformat.ProviderAliyun: "市民热线答复：${content}", smsformat.ProviderTencent: "市民热线答复：{1}"}[provider]
			clk := clock.NewFake(t0)
			api := newLimitedAPI(t, provider, c.token, c.secret, smsfake.WithClock(clk), smsfake.WithTemplate(tmpl), smsfake.WithVariableCap(300))
			e := startWithAPI(t, provider, clk, api, func(s *configs.SMS) { s.TemplateFixedChars, s.MaxVariableChars = 6, 300 })
			reply := longReply(600)
			require.NoError(t, e.Ch.Deliver(context.Background(), outbound(reply)))
			sent := api.Sent()
			require.Len(t, sent, 3)
			var joined strings.Builder
			for i, s := range sent {
				require.LessOrEqual(t, chars(s.Text), 300)
				require.True(t, strings.HasPrefix(s.Text, "("+strconv.Itoa(i+1)+"/3)"))
				joined.WriteString(smsapi.StripNumber(s.Text))
			}
			require.Equal(t, reply, joined.String())
			require.Zero(t, api.LengthRefusals())
			require.Equal(t, 1.0, counter(t, e.Ch, "gateway_sms_replies_total", map[string]string{"provider": provider, "outcome": "sent"}))
			require.Equal(t, 3.0, counter(t, e.Ch, "gateway_sms_sends_total", map[string]string{"provider": provider}))

			status, body := e.report(t, smsformat.Report{MessageID: sent[1].ID, Phone: phone, Error: "UNDELIV", At: t0})
			require.Equal(t, 200, status, body)
			_, evs := outbox(t, e.Hub.Intake)
			fails := eventsOfType(evs, normalize.EventMessageDeliveryFailed)
			require.Len(t, fails, 1)
			data := fails[0]["data"].(map[string]any)
			require.EqualValues(t, 2, data["part"])
			require.EqualValues(t, 3, data["parts"])
		})
	}
}

// A provider's refusal for length is an error log line and a count, never a
// silent permanent failure: with template text the gateway was not told
// of, the reply is split smaller and still arrives; when nothing fits, the
// failure is logged and counted too.
func TestLengthRefusalIsLoggedAndCounted(t *testing.T) {
	for _, provider := range []string{smsformat.ProviderAliyun, smsformat.ProviderTencent} {
		t.Run(provider, func(t *testing.T) {
			c := providerCreds(provider)
			tmpl := map[string]string{smsformat.ProviderAliyun: "${content}", smsformat.ProviderTencent: "{1}"}[provider]
			clk := clock.NewFake(t0)
			api := newLimitedAPI(t, provider, c.token, c.secret, smsfake.WithClock(clk), smsfake.WithTemplate(strings.Repeat("字", 30)+tmpl))
			e := startWithAPI(t, provider, clk, api, nil)
			reply := longReply(600)
			require.NoError(t, e.Ch.Deliver(context.Background(), outbound(reply)))
			require.Equal(t, 1, api.LengthRefusals())
			require.NotNil(t, numberedReply(api.Inbox(phone), reply), "the citizen still gets all of it")
			require.Equal(t, 1.0, counter(t, e.Ch, "gateway_sms_length_refusals_total", map[string]string{"provider": provider}))
			logs := e.Logs.String()
			require.Contains(t, logs, `"level":"ERROR","msg":"sms: provider refused a send for length`)
			require.Contains(t, logs, `"recovered":true`)

			stuck := newLimitedAPI(t, provider, c.token, c.secret, smsfake.WithClock(clk), smsfake.WithContentLimit(15))
			e2 := startWithAPI(t, provider, clock.NewFake(t0), stuck, nil)
			err := e2.Ch.Deliver(context.Background(), outbound(reply))
			require.ErrorIs(t, err, smsapi.ErrTooLong)
			require.True(t, sms.Permanent(err))
			require.Equal(t, 3.0, counter(t, e2.Ch, "gateway_sms_length_refusals_total", map[string]string{"provider": provider}))
			require.Equal(t, 1.0, counter(t, e2.Ch, "gateway_sms_replies_total", map[string]string{"provider": provider, "outcome": "too_long"}))
			logs = e2.Logs.String()
			require.Contains(t, logs, `"recovered":false`)
			for _, l := range []string{logs, e.Logs.String()} {
				require.NotContains(t, l, "13800138000")
				require.NotContains(t, l, "路灯")
			}
		})
	}
}
