package livechat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

// fireRule stands in for triage's rules: the hub only needs to be told.
func fireRule(text string) (normalize.Emergency, bool) {
	if strings.Contains(text, "着火") || strings.Contains(text, "fire") {
		return normalize.Emergency{Category: "fire", Rules: []string{"fire.burning"}}, true
	}
	return normalize.Emergency{}, false
}

// An emergency chat jumps the queue, the supervisor on duty is alerted and
// the citizen is told where to call; a later message that turns out to be
// an emergency does the same and publishes request.emergency.
func TestEmergencyChatJumpsTheQueue(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:1,sup:p:general:1:supervisor", clock.NewFake(t0), "",
		func(c *livechat.Config) { c.Emergency = fireRule })
	h.TriageWith(fireRule)
	a1, _ := deskAgent(t, h, "a1")
	sup, _ := deskAgent(t, h, "sup")
	sup.SendData(livechat.TypePresence, "", "", map[string]string{"status": "away"}) // on duty, not taking chats
	sup.Expect(livechat.TypePresence, wait)
	_, busy := activeChat(t, h, a1, "c0", "first")

	// Two waiting chats: an ordinary one, then an emergency.
	c1, w1 := deskCitizen(t, h, "c1", "zh-CN")
	write(t, c1, w1.SessionID, "路灯坏了")
	c2, w2 := deskCitizen(t, h, "c2", "zh-CN")
	write(t, c2, w2.SessionID, "楼下着火了，浓烟很大")

	alert := sup.Expect(livechat.TypeAlert, wait)
	require.Equal(t, w2.SessionID, alert.SessionID)
	require.Equal(t, "emergency", lt.Data(t, alert)["kind"])
	require.Equal(t, "fire", lt.Data(t, alert)["category"])
	notice := c2.ExpectFrom("system", wait)
	require.Contains(t, lt.Data(t, notice)["text"], "119")

	// a1 frees up: the emergency is offered first although it came later.
	a1.Send(livechat.Frame{Type: livechat.TypeClose, SessionID: busy})
	off := a1.Expect(livechat.TypeOffer, wait)
	require.Equal(t, w2.SessionID, off.SessionID)
	require.Equal(t, "fire", lt.Data(t, off)["emergency"], "the offer names the emergency")
	w := h.Wall()
	require.Equal(t, w2.SessionID, w.Chats[0].SessionID, "the emergency heads the wall")
	require.Equal(t, "fire", w.Chats[0].Emergency)

	// A chat that becomes an emergency later publishes request.emergency.
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: w2.SessionID})
	a1.Expect(livechat.TypeSession, wait)
	write(t, c1, w1.SessionID, "现在隔壁也着火了")
	require.Equal(t, w1.SessionID, sup.Expect(livechat.TypeAlert, wait).SessionID)
	require.Eventually(t, func() bool {
		recs, err := h.Intake.Pending(1000)
		require.NoError(t, err)
		for _, r := range recs {
			if strings.Contains(string(r.Value), `"request.emergency"`) && strings.Contains(string(r.Value), w1.SessionID) {
				return true
			}
		}
		return false
	}, wait, 10*time.Millisecond)
	require.Contains(t, h.Log.String(), `"msg":"livechat: emergency chat"`)
	require.NotContains(t, h.Log.String(), "着火", "no message text in the log")
}
