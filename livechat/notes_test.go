package livechat_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// recorder is a channel deliverer that keeps what it was given.
type recorder struct {
	mu   sync.Mutex
	sent []string
}

func (r *recorder) Deliver(_ context.Context, m channels.Outbound) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m.Text)
	return nil
}

func (r *recorder) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

// untilSeq reads message frames up to seq, returning their texts by from.
func untilSeq(t *testing.T, c *lt.Client, seq int64) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for {
		f := c.Expect(livechat.TypeMessage, wait)
		d := lt.Data(t, f)
		got[d["from"].(string)] = append(got[d["from"].(string)], d["text"].(string))
		if f.Seq >= seq {
			return got
		}
	}
}

const noteText = "内部备注：该市民上周已来电，情绪激动"

func TestNotesReachAgentsOnly(t *testing.T) {
	h := lt.StartHub(t, deskAgents, clock.NewFake(t0), "")
	deliv := &recorder{}
	h.RegisterDeliverer("web", deliv)
	tab1, tab2 := agentUp(t, h, "a1"), agentUp(t, h, "a1")
	sup := agentUp(t, h, "sup")
	presence(t, sup, "away") // not offered the chat
	cit, sid := citizenUp(t, h, "c1")
	acceptOffer(t, tab1, sid)
	tab2.Expect(livechat.TypeSession, wait)

	tab1.SendData(livechat.TypeNote, sid, "n-1", map[string]string{"text": noteText})
	var noteSeq int64
	for _, tab := range []*lt.Client{tab1, tab2} {
		f := tab.ExpectFrom(livechat.FromNote, wait)
		require.Equal(t, "n-1", f.ID)
		require.Equal(t, noteText, lt.Data(t, f)["text"])
		require.Equal(t, "a1", lt.Data(t, f)["agent_id"])
		noteSeq = f.Seq
	}
	tab1.SendData(livechat.TypeMessage, sid, "m-1", map[string]string{"text": "您好，请讲"})
	reply := tab2.ExpectFrom("agent", wait)
	require.Equal(t, noteSeq+1, reply.Seq)

	// Live: the citizen gets the reply, and nothing from the note before it.
	got := untilSeq(t, cit, reply.Seq)
	require.Empty(t, got[livechat.FromNote])
	require.Equal(t, []string{"您好，请讲"}, got["agent"])
	// On resume from the start: the same.
	again := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
	zero := int64(0)
	again.Send(livechat.Frame{Type: livechat.TypeResume, SessionID: sid, LastSeq: &zero})
	got = untilSeq(t, again, reply.Seq)
	require.Empty(t, got[livechat.FromNote])
	require.Equal(t, []string{"您好，请讲"}, got["agent"])
	// Not through the channel, not on Kafka.
	require.Eventually(t, func() bool { return len(deliv.texts()) > 0 }, wait, 5*time.Millisecond)
	require.NotContains(t, deliv.texts(), noteText)
	recs, err := h.Intake.Pending(100000)
	require.NoError(t, err)
	for _, r := range recs {
		require.NotContains(t, string(r.Value), "内部备注", "a note is never published: %s", r.Value)
	}

	// A supervisor who takes the chat over sees the note in the transcript.
	sup.Send(livechat.Frame{Type: livechat.TypeTakeover, SessionID: sid})
	got = untilSeq(t, sup, reply.Seq)
	require.Equal(t, []string{noteText}, got[livechat.FromNote])
	// And may write one, which the citizen does not get either.
	sup.SendData(livechat.TypeNote, sid, "n-2", map[string]string{"text": "已接手"})
	require.Equal(t, "n-2", sup.ExpectFrom(livechat.FromNote, wait).ID)
	sup.SendData(livechat.TypeMessage, sid, "m-2", map[string]string{"text": "我是值班长"})
	got = untilSeq(t, cit, sup.ExpectFrom("agent", wait).Seq)
	require.Empty(t, got[livechat.FromNote])
}

func TestNotesAreRefused(t *testing.T) {
	h := lt.StartHub(t, deskAgents, clock.NewFake(t0), "")
	a1, a2 := agentUp(t, h, "a1"), agentUp(t, h, "a2")
	presence(t, a2, "away")
	cit, sid := citizenUp(t, h, "c1")
	acceptOffer(t, a1, sid)
	tests := []struct {
		name string
		from *lt.Client
		sid  string
		text string
		code string
	}{
		{"another agent's chat", a2, sid, "看看", "forbidden"},
		{"no such chat", a1, "nope", "看看", "not_found"},
		{"empty", a1, sid, "  ", "bad_frame"},
		{"too long", a1, sid, strings.Repeat("字", 5001), "bad_frame"},
		{"from the citizen", cit, sid, "我也来", "bad_frame"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.from.SendData(livechat.TypeNote, tc.sid, "bad", map[string]string{"text": tc.text})
			e := tc.from.Expect(livechat.TypeError, wait)
			require.Equal(t, "bad", e.ID)
			require.Equal(t, tc.code, lt.Data(t, e)["code"])
		})
	}
}
