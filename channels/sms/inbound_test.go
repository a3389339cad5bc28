package sms_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
)

func text(id, body string, at time.Time) smsformat.Inbound {
	return smsformat.Inbound{ProviderID: id, Phone: phone, Text: body, SentAt: at, DestCode: "12345"}
}

// A provider retrying the same callback three times yields one chat
// message, also when the retry comes after a restart.
func TestDuplicateCallbacks(t *testing.T) {
	for _, provider := range providers {
		t.Run(provider, func(t *testing.T) {
			dir := t.TempDir()
			e := startHubEnv(t, provider, dir, t0, nil)
			in := text("7001", "噪音扰民，请处理", t0)
			if provider == smsformat.ProviderTencent {
				in.ProviderID = "" // Tencent gives no id: the key is a hash
			}
			for range 3 {
				status, body := e.uplink(t, in)
				require.Equal(t, 200, status, body)
				require.JSONEq(t, ackBody(provider), body)
			}
			require.Equal(t, []string{"噪音扰民，请处理"}, citizenTexts(t, e.Hub.DB, phone))

			e.stopAll()
			e = startHubEnv(t, provider, dir, t0.Add(time.Minute), nil)
			status, body := e.uplink(t, in)
			require.Equal(t, 200, status, body)
			require.Equal(t, []string{"噪音扰民，请处理"}, citizenTexts(t, e.Hub.DB, phone))
			envs, evs := outbox(t, e.Hub.Intake)
			require.Len(t, envs, 1)
			require.Len(t, eventsOfType(evs, "message.citizen"), 1)
		})
	}
}

// Several messages in one batch, from two numbers, keep each number's order.
func TestBatch(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderAliyun, "", t0, nil)
	other := "+8613900139000"
	msgs := []smsformat.Inbound{
		text("1", "一", t0), {ProviderID: "2", Phone: other, Text: "甲", SentAt: t0},
		text("3", "二", t0.Add(time.Second)), text("4", "三", t0.Add(2*time.Second)),
		{ProviderID: "5", Phone: other, Text: "乙", SentAt: t0.Add(time.Second)},
	}
	status, body := e.uplink(t, msgs...)
	require.Equal(t, 200, status, body)
	require.Equal(t, []string{"一", "二", "三"}, citizenTexts(t, e.Hub.DB, phone))
	require.Equal(t, []string{"甲", "乙"}, citizenTexts(t, e.Hub.DB, other))
}

// Parts of a long message arriving out of order, in separate callbacks or
// one, and repeated, become one message in order; a part retried after the
// message was handed over is recognised and changes nothing.
func TestLongMessageReassembly(t *testing.T) {
	texts := []string{"我家楼下的路灯", "已经坏了三天，", "请尽快修理。"}
	tests := []struct {
		name    string
		batches [][]int // seqs per callback
	}{
		{"in order", [][]int{{1}, {2}, {3}}},
		{"out of order", [][]int{{3}, {1}, {2}}},
		{"one batch reversed", [][]int{{3, 2, 1}}},
		{"repeats", [][]int{{2}, {2, 1}, {1}, {3, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startHubEnv(t, smsformat.ProviderGeneric, "", t0, nil)
			for i, batch := range tt.batches {
				var msgs []smsformat.Inbound
				for _, seq := range batch {
					msgs = append(msgs, part("p"+strconv.Itoa(seq), texts[seq-1], "a7", 3, seq))
				}
				status, body := e.uplink(t, msgs...)
				require.Equal(t, 200, status, body)
				if i < len(tt.batches)-1 {
					require.Nil(t, citizenTexts(t, e.Hub.DB, phone), "nothing before the last part")
				}
			}
			require.Equal(t, []string{"我家楼下的路灯已经坏了三天，请尽快修理。"}, citizenTexts(t, e.Hub.DB, phone))
			require.Zero(t, e.Ch.Pending())

			// A late retry of part 2: acknowledged, not held, never released.
			status, body := e.uplink(t, part("p2", texts[1], "a7", 3, 2))
			require.Equal(t, 200, status, body)
			require.Zero(t, e.Ch.Pending())
			e.Clock.Advance(2 * time.Minute)
			require.Equal(t, []string{"我家楼下的路灯已经坏了三天，请尽快修理。"}, citizenTexts(t, e.Hub.DB, phone))
			s := openSession(t, e.Hub.DB, phone)
			require.Empty(t, s.Meta["incomplete"])
		})
	}
}

// A part that never comes: after channels.sms.reassembly_wait what arrived
// is released as one message marked incomplete.
func TestMissingPartTimesOut(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderGeneric, "", t0, func(c *configs.SMS, _ *sms.Options) { c.ReassemblyWait = time.Minute })
	status, _ := e.uplink(t, part("p3", "请尽快修理。", "b1", 3, 3))
	require.Equal(t, 200, status)
	status, _ = e.uplink(t, part("p1", "我家楼下的路灯", "b1", 3, 1))
	require.Equal(t, 200, status)

	e.Clock.Advance(59 * time.Second)
	require.Nil(t, citizenTexts(t, e.Hub.DB, phone))
	require.Equal(t, 1, e.Ch.Pending())

	e.Clock.Advance(time.Second)
	require.Eventually(t, func() bool { return len(citizenTexts(t, e.Hub.DB, phone)) == 1 }, wait, 5*time.Millisecond, "the incomplete message")
	require.Equal(t, []string{"我家楼下的路灯请尽快修理。"}, citizenTexts(t, e.Hub.DB, phone))
	s := openSession(t, e.Hub.DB, phone)
	require.Equal(t, "true", s.Meta["incomplete"])
	require.Equal(t, "2", s.Meta["missing_parts"])
	require.Zero(t, e.Ch.Pending())

	// The missing part comes after all: it is the citizen's text too, so
	// it is released on its own when its wait is over.
	status, _ = e.uplink(t, part("p2", "已经坏了三天，", "b1", 3, 2))
	require.Equal(t, 200, status)
	e.Clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return len(citizenTexts(t, e.Hub.DB, phone)) == 2 }, wait, 5*time.Millisecond, "the late part")
	require.Equal(t, "已经坏了三天，", citizenTexts(t, e.Hub.DB, phone)[1])
}

// A message released with a part missing into a conversation that is
// already open keeps its mark: on the transcript entry (which the agent's
// message frame is made from) and in its message.citizen event for the
// ticket team. Before, only a conversation's first message carried it.
func TestIncompleteMessageJoiningAConversationKeepsItsMark(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderGeneric, "", t0, func(c *configs.SMS, _ *sms.Options) { c.ReassemblyWait = time.Minute })
	status, body := e.uplink(t, text("s1", "路灯坏了", t0))
	require.Equal(t, 200, status, body)
	status, _ = e.uplink(t, part("p1", "我家楼下的路灯", "d4", 2, 1))
	require.Equal(t, 200, status)
	e.Clock.Advance(time.Minute)
	require.Eventually(t, func() bool { return len(citizenTexts(t, e.Hub.DB, phone)) == 2 }, wait, 5*time.Millisecond, "the incomplete message")

	s := openSession(t, e.Hub.DB, phone)
	require.Empty(t, s.Meta["incomplete"], "the conversation began with a whole message")
	msgs := transcript(t, e.Hub.DB, s.ID)
	last := msgs[len(msgs)-1]
	require.Equal(t, "我家楼下的路灯", last.Text)
	require.Equal(t, map[string]string{"incomplete": "true", "missing_parts": "2"}, last.Meta)

	_, evs := outbox(t, e.Hub.Intake)
	var marked int
	for _, ev := range evs {
		if ev["type"] != "message.citizen" {
			continue
		}
		data := ev["data"].(map[string]any)
		if data["text"] == "我家楼下的路灯" {
			require.Equal(t, map[string]any{"incomplete": "true", "missing_parts": "2"}, data["meta"])
			marked++
		} else {
			require.Nil(t, data["meta"])
		}
	}
	require.Equal(t, 1, marked)
}

// Pending parts survive a restart: the channel and its store are closed
// with two of three parts held; after reopening, the last part completes
// the message. A group whose wait passes while the gateway is down is
// released at once after the restart.
func TestPartsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e := startHubEnv(t, smsformat.ProviderGeneric, dir, t0, nil)
	for _, p := range []smsformat.Inbound{part("p1", "一二", "c3", 3, 1), part("p2", "三四", "c3", 3, 2),
		{ProviderID: "q1", Phone: "+8613900139000", Text: "孤单的", SentAt: t0, Part: &smsformat.Part{Ref: "9", Total: 2, Seq: 1}}} {
		status, body := e.uplink(t, p)
		require.Equal(t, 200, status, body)
	}
	require.Equal(t, 2, e.Ch.Pending())
	e.stopAll()

	// Back 30 s later: both groups reloaded, deadlines kept (60 s wait).
	e = startHubEnv(t, smsformat.ProviderGeneric, dir, t0.Add(30*time.Second), nil)
	require.Equal(t, 2, e.Ch.Pending())
	status, body := e.uplink(t, part("p3", "五六", "c3", 3, 3))
	require.Equal(t, 200, status, body)
	require.Equal(t, []string{"一二三四五六"}, citizenTexts(t, e.Hub.DB, phone))
	require.Equal(t, 1, e.Ch.Pending())

	// A retry of part 1 after the restart is recognised.
	status, _ = e.uplink(t, part("p1", "一二", "c3", 3, 1))
	require.Equal(t, 200, status)
	require.Equal(t, 1, e.Ch.Pending())

	e.Clock.Advance(30 * time.Second) // 60 s after the lonely part first arrived
	require.Eventually(t, func() bool { return len(citizenTexts(t, e.Hub.DB, "+8613900139000")) == 1 }, wait, 5*time.Millisecond, "the lonely part released")
	require.Equal(t, "true", openSession(t, e.Hub.DB, "+8613900139000").Meta["incomplete"])
	e.stopAll()

	// Down past the deadline: released at start-up.
	e = startHubEnv(t, smsformat.ProviderGeneric, dir, t0.Add(time.Hour), nil)
	status, _ = e.uplink(t, part("r1", "迟到", "d4", 2, 1))
	require.Equal(t, 200, status)
	e.stopAll()
	e = startHubEnv(t, smsformat.ProviderGeneric, dir, t0.Add(3*time.Hour), nil)
	require.Eventually(t, func() bool {
		tx := citizenTexts(t, e.Hub.DB, phone)
		return len(tx) > 0 && tx[len(tx)-1] == "迟到"
	}, wait, 5*time.Millisecond, "the overdue part released at start-up")
}

// Texts from one number within channels.sms.conversation_window join one
// conversation; after a longer silence a new conversation (and envelope)
// starts. The citizen key stays the same.
func TestConversationWindow(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderGeneric, "", t0, func(c *configs.SMS, _ *sms.Options) { c.ConversationWindow = 30 * time.Minute })
	send := func(id, body string) {
		status, b := e.uplink(t, text(id, body, e.Clock.Now()))
		require.Equal(t, 200, status, b)
	}
	send("1", "第一条")
	first := openSession(t, e.Hub.DB, phone)
	e.Clock.Advance(20 * time.Minute)
	send("2", "第二条")
	require.Equal(t, first.ID, openSession(t, e.Hub.DB, phone).ID)
	require.Equal(t, []string{"第一条", "第二条"}, citizenTexts(t, e.Hub.DB, phone))

	e.Clock.Advance(31 * time.Minute)
	send("3", "第三条")
	second := openSession(t, e.Hub.DB, phone)
	require.NotEqual(t, first.ID, second.ID)
	require.Equal(t, []string{"第三条"}, citizenTexts(t, e.Hub.DB, phone))
	require.Equal(t, first.CitizenKey, second.CitizenKey)

	envs, _ := outbox(t, e.Hub.Intake)
	require.Len(t, envs, 2)
	for _, env := range envs {
		require.Equal(t, first.CitizenKey, env["citizen_key"])
		require.Equal(t, phone, env["citizen"].(map[string]any)["phone"])
	}
}

// flakyConv fails the first n hand-offs, then passes them on.
type flakyConv struct {
	channels.Conversations
	fails atomic.Int32
}

func (f *flakyConv) CitizenMessage(ctx context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	if f.fails.Add(-1) >= 0 {
		return channels.ChatResult{}, errors.New("store busy")
	}
	return f.Conversations.CitizenMessage(ctx, m)
}

// A whole message that cannot be recorded is refused with 503 (the provider
// retries); a long message whose parts are durable is acknowledged and its
// hand-off retried by Run.
func TestHandOffFailures(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderTencent, "", t0, nil)
	e.Stop()
	conv := &flakyConv{Conversations: e.Hub.Hub}
	conv.fails.Store(1)
	h := startChannel(t, conv, e.Hub.DB, e.Hub.Intake, e.cfg, sms.Options{}, e.Clock)
	in := smsformat.Inbound{Phone: phone, Text: "你好", SentAt: t0}
	status, body := h.uplink(t, in)
	require.Equal(t, 503, status)
	require.JSONEq(t, `{"error":{"code":"unavailable","message":"temporarily unavailable, retry later"},`+
		`"result":503,"errmsg":"temporarily unavailable, retry later"}`, body)
	require.Nil(t, citizenTexts(t, e.Hub.DB, phone))
	status, _ = h.uplink(t, in)
	require.Equal(t, 200, status)
	require.Equal(t, []string{"你好"}, citizenTexts(t, e.Hub.DB, phone))

	g := startHubEnv(t, smsformat.ProviderGeneric, "", t0, nil)
	g.Stop()
	conv = &flakyConv{Conversations: g.Hub.Hub}
	conv.fails.Store(2)
	h = startChannel(t, conv, g.Hub.DB, g.Hub.Intake, g.cfg, sms.Options{}, g.Clock)
	for _, p := range []smsformat.Inbound{part("x1", "甲", "e5", 2, 1), part("x2", "乙", "e5", 2, 2)} {
		status, body := h.uplink(t, p)
		require.Equal(t, 200, status, body)
	}
	// The inline hand-off failed; Run retried at once and failed; the next
	// retry comes after a second.
	require.Eventually(t, func() bool { return conv.fails.Load() <= 0 }, wait, 5*time.Millisecond, "the first retry")
	g.Clock.Advance(time.Second)
	require.Eventually(t, func() bool { return len(citizenTexts(t, g.Hub.DB, phone)) == 1 }, wait, 5*time.Millisecond, "the retried hand-off")
	require.Equal(t, []string{"甲乙"}, citizenTexts(t, g.Hub.DB, phone))
}

// A blank text is acknowledged and ignored; Aliyun and Tencent, which can
// only be given a URL, may authenticate with a separate callback token.
func TestBlankTextAndCallbackToken(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderAliyun, "", t0, func(_ *configs.SMS, o *sms.Options) { o.CallbackToken = "cb-token" })
	body := []byte(`[{"phone_number":"13800138000","content":"  ","send_time":"2024-05-01 18:00:00","sequence_id":1}]`)
	status, answer := e.postRaw(t, sms.PathInbound, body, smsfakeToken("cb-token"))
	require.Equal(t, 200, status, answer)
	require.Nil(t, openSession(t, e.Hub.DB, phone))

	body = []byte(`[{"phone_number":"13800138000","content":"你好","send_time":"2024-05-01 18:00:00","sequence_id":2}]`)
	status, _ = e.postRaw(t, sms.PathInbound, body, smsfakeToken("LTAI-test-key"))
	require.Equal(t, 401, status, "the access key id is not the callback token")
	status, answer = e.postRaw(t, sms.PathInbound, body, smsfakeToken("cb-token"))
	require.Equal(t, 200, status, answer)
	require.Equal(t, []string{"你好"}, citizenTexts(t, e.Hub.DB, phone))
	s := openSession(t, e.Hub.DB, phone)
	require.Equal(t, "+8613800138000", s.Meta["phone"])
}

func smsfakeToken(tok string) smsfake.CallbackAuth { return smsfake.CallbackAuth{Token: tok} }

// A provider retry that comes after the conversation window (or after the
// conversation was closed) is recognised as such: it neither closes the
// citizen's conversation nor opens an empty one.
func TestLateRetry(t *testing.T) {
	e := startHubEnv(t, smsformat.ProviderAliyun, "", t0, nil)
	in := text("88", "第一条", t0)
	status, _ := e.uplink(t, in)
	require.Equal(t, 200, status)
	first := openSession(t, e.Hub.DB, phone)
	e.Clock.Advance(31 * time.Minute)
	status, body := e.uplink(t, in)
	require.Equal(t, 200, status, body)
	require.Equal(t, first.ID, openSession(t, e.Hub.DB, phone).ID)
	_, evs := outbox(t, e.Hub.Intake)
	require.Len(t, eventsOfType(evs, "session.opened"), 1)
	require.Empty(t, eventsOfType(evs, "session.closed"))
}
