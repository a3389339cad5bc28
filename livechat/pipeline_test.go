package livechat_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// An agent's messages to different sessions are handled side by side, so
// that a burst of them shares group commits instead of waiting for one fsync
// each; each session still gets its messages in the order they were sent.
func TestAgentBurstAcrossSessionsSharesCommitsAndKeepsOrder(t *testing.T) {
	const sessions, rounds = 8, 20
	h := lt.StartHub(t, fmt.Sprintf("a1:p:general:%d", sessions), clock.NewFake(t0), "")
	agent := lt.MustDial(t, h.Base, "/v1/ws/agent", h.AgentToken("a1"))
	agent.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	agent.Expect(livechat.TypeWelcome, wait)

	var sids []string
	var citizens []*lt.Client
	for i := range sessions {
		c := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken(fmt.Sprint("burst-", i)))
		sid := c.OpenSession(nil, "你好") // the first message opens the session and offers it
		require.Equal(t, sid, agent.Expect(livechat.TypeOffer, wait).SessionID)
		agent.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
		agent.Expect(livechat.TypeSession, wait)
		sids, citizens = append(sids, sid), append(citizens, c)
	}

	before := h.DB.Stats().Commits
	for r := range rounds {
		for i, sid := range sids {
			agent.SendData(livechat.TypeMessage, sid, fmt.Sprintf("m%d-%d", r, i), map[string]any{"text": fmt.Sprint(r)})
		}
	}
	for _, c := range citizens {
		for r := range rounds {
			require.Equal(t, fmt.Sprint(r), lt.Data(t, c.ExpectFrom("agent", wait))["text"])
		}
	}
	commits := h.DB.Stats().Commits - before
	// One at a time is exactly one commit per message (160); side by side it
	// was ~40 here. The bound leaves room for a loaded machine.
	require.Less(t, commits, int64(sessions*rounds*3/4), "commits for %d messages", sessions*rounds)
	t.Logf("%d messages in %d commits", sessions*rounds, commits)
}
