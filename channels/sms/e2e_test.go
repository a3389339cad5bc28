package sms_test

import (
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// reply150 is a 150-character Chinese reply: with the signature 【12345热线】
// (9 characters) it is 3 carrier parts of 58+9, 67 and 25 characters.
var reply150 = strings.Repeat("您好，您反映的路灯问题已转交城管部门处理。", 6) + "维修人员将在三日内到场，请保持电话畅通，谢谢您！"

// TestEndToEnd runs each provider's format through a real in-process
// gateway (hub, intake log, relay, embedded Kafka): an uplink text becomes
// an envelope on intake.envelopes and a chat message the agent receives
// after accepting the offer; the agent's reply leaves at the fake provider
// in the right parts; a failed delivery report becomes
// message.delivery_failed on intake.events naming the session.
func TestEndToEnd(t *testing.T) {
	require.Equal(t, 150, utf8.RuneCountInString(reply150))
	for _, provider := range providers {
		t.Run(provider, func(t *testing.T) {
			g := lt.Start(t, "GATEWAY_AGENTS=a1:pw:general:5")
			fake := newFake(t, provider, clock.System)
			cfg := smsConfig(provider, fake.URL())
			h := startChannel(t, g.Hub(), g.Intake().DB(), g.Intake(), cfg, sms.Options{}, clock.System)

			agent := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw"))
			agent.SendData(livechat.TypeHello, "", "", map[string]any{})
			agent.Expect(livechat.TypeWelcome, wait)
			agent.SendData(livechat.TypePresence, "", "", map[string]string{"status": "available"})

			in := smsformat.Inbound{Phone: phone, Text: "我家楼下路灯坏了三天", SentAt: time.Now().Add(-time.Second).Truncate(time.Second), DestCode: "12345"}
			if provider != smsformat.ProviderTencent {
				in.ProviderID = "100001"
			}
			status, body := h.uplink(t, in)
			require.Equal(t, 200, status, body)
			require.JSONEq(t, ackBody(provider), body)

			off := agent.Expect(livechat.TypeOffer, wait)
			sid := off.SessionID
			require.Equal(t, "sms", lt.Data(t, off)["channel"])
			agent.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
			msg := agent.Expect(livechat.TypeMessage, wait)
			require.Equal(t, "我家楼下路灯坏了三天", lt.Data(t, msg)["text"])
			require.Equal(t, "citizen", lt.Data(t, msg)["from"])

			// The agent's 150-character reply.
			agent.SendData(livechat.TypeMessage, sid, "a-1", map[string]string{"text": reply150})
			// Other messages (the automatic receipt) may go out too: pick the reply's.
			var reply []smsfake.Sent
			if provider == smsformat.ProviderGeneric {
				require.Eventually(t, func() bool { reply = replyParts(fake.Sent()); return reply != nil }, wait, 5*time.Millisecond, "3 parts at the provider")
				var lens []int
				for i, s := range reply {
					require.Equal(t, phone, s.Phone)
					require.Equal(t, smsfake.SignatureName, s.Sign)
					require.Equal(t, i+1, s.UDH.Seq)
					lens = append(lens, utf8.RuneCountInString(s.Text))
				}
				require.Equal(t, []int{58, 67, 25}, lens)
			} else {
				require.Eventually(t, func() bool {
					for _, s := range fake.Sent() {
						if s.Text == reply150 {
							reply = append(reply[:0], s)
						}
					}
					return len(reply) == 1
				}, wait, 5*time.Millisecond, "1 call at the provider")
				require.Equal(t, phone, reply[0].Phone)
				require.Equal(t, 3, reply[0].Parts)
			}
			ids := []string{}
			for _, s := range reply {
				ids = append(ids, s.ID)
			}

			// The ids are recorded before "reply sent" is logged.
			require.Eventually(t, func() bool {
				return strings.Contains(h.Logs.String(), `"phone":"+86138****8000","session":"`+sid+`","kind":"agent","parts":`)
			}, wait, 5*time.Millisecond, "the reply recorded")

			// Reports: the first id failed, the others were delivered; the
			// failure is sent twice (a provider retry) and counted once.
			failed := smsformat.Report{MessageID: ids[0], Phone: phone, Error: "MK:0001: 用户关机", At: time.Now().Truncate(time.Second)}
			for range 2 {
				status, body = h.report(t, failed)
				require.Equal(t, 200, status, body)
				require.JSONEq(t, ackBody(provider), body)
			}
			for _, id := range ids[1:] {
				status, body = h.report(t, smsformat.Report{MessageID: id, Phone: phone, Delivered: true, At: time.Now().Truncate(time.Second)})
				require.Equal(t, 200, status, body)
			}

			// Kafka: one envelope of channel sms with the E.164 number,
			// valid against the contract's schema.
			var envs []lt.Record
			require.Eventually(t, func() bool {
				envs = g.Consume(t, "intake.envelopes", 300*time.Millisecond)
				return len(envs) > 0
			}, wait, 5*time.Millisecond, "the envelope on Kafka")
			require.Len(t, envs, 1)
			lt.Validate(t, "envelope", envs[0].Raw)
			env := envs[0].Value
			require.Equal(t, "sms", env["channel"])
			require.Equal(t, sid, env["session_id"])
			require.Equal(t, envs[0].Key, env["citizen_key"])
			citizen := env["citizen"].(map[string]any)
			require.Equal(t, phone, citizen["phone"])
			require.Equal(t, phone, citizen["channel_user_id"])
			require.Equal(t, "我家楼下路灯坏了三天", env["content"].(map[string]any)["text"])
			require.Equal(t, "sms", envs[0].Headers["channel"])

			var fails []lt.Record
			require.Eventually(t, func() bool {
				fails = fails[:0]
				for _, r := range g.Consume(t, "intake.events", 300*time.Millisecond) {
					if r.Value["type"] == "message.delivery_failed" {
						fails = append(fails, r)
					}
				}
				return len(fails) > 0
			}, wait, 5*time.Millisecond, "message.delivery_failed on Kafka")
			require.Len(t, fails, 1, "a retried report is recorded once, a delivered one not at all")
			lt.Validate(t, "event", fails[0].Raw)
			ev := fails[0].Value
			require.Equal(t, sid, ev["session_id"])
			require.Equal(t, env["id"], ev["envelope_id"])
			require.Equal(t, "sms", ev["channel"])
			data := ev["data"].(map[string]any)
			require.Equal(t, ids[0], data["message_id"])
			require.Equal(t, "+86138****8000", data["phone"])
			require.Equal(t, "MK:0001: 用户关机", data["error"])

			// Logs never carry the number or the text.
			h.Stop()
			logs := h.Logs.String()
			require.Contains(t, logs, "+86138****8000")
			require.NotContains(t, logs, phone)
			require.NotContains(t, logs, "13800138000")
			require.NotContains(t, logs, "路灯坏了")
			require.NotContains(t, logs, "您好")
		})
	}
}

// replyParts returns the parts of one 3-part generic message that join to
// reply150, in seq order, or nil.
func replyParts(sent []smsfake.Sent) []smsfake.Sent {
	byRef := map[string][]smsfake.Sent{}
	for _, s := range sent {
		if s.UDH != nil && s.UDH.Total == 3 {
			byRef[s.UDH.Ref] = append(byRef[s.UDH.Ref], s)
		}
	}
	for _, parts := range byRef {
		if len(parts) != 3 {
			continue
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i].UDH.Seq < parts[j].UDH.Seq })
		if parts[0].Text+parts[1].Text+parts[2].Text == reply150 {
			return parts
		}
	}
	return nil
}
