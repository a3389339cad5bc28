package livechat_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

func TestRoute(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	ag := func(id string, load, capacity int, idle time.Duration, skills ...string) livechat.AgentView {
		return livechat.AgentView{ID: id, Skills: skills, Capacity: capacity, Load: load, Available: true, IdleSince: t0.Add(idle)}
	}
	w := func(id string, since time.Duration, skills ...string) livechat.Waiting {
		return livechat.Waiting{SessionID: id, Skills: skills, Since: t0.Add(since)}
	}
	for _, tc := range []struct {
		name    string
		agents  []livechat.AgentView
		waiting []livechat.Waiting
		want    []livechat.Assignment
	}{
		{"capacity: a full agent gets nothing",
			[]livechat.AgentView{ag("a", 2, 2, 0)}, []livechat.Waiting{w("s1", 0)}, nil},
		{"capacity fills up then stops",
			[]livechat.AgentView{ag("a", 0, 2, 0)}, []livechat.Waiting{w("s1", 0), w("s2", 1), w("s3", 2)},
			[]livechat.Assignment{{"s1", "a"}, {"s2", "a"}}},
		{"skills: only an agent with every skill",
			[]livechat.AgentView{ag("a", 0, 5, 0, "general"), ag("b", 3, 5, 0, "general", "tax")},
			[]livechat.Waiting{w("s1", 0, "tax")}, []livechat.Assignment{{"s1", "b"}}},
		{"skills: nobody has it",
			[]livechat.AgentView{ag("a", 0, 5, 0, "general")}, []livechat.Waiting{w("s1", 0, "sign_language")}, nil},
		{"least loaded first",
			[]livechat.AgentView{ag("a", 2, 5, 0), ag("b", 1, 5, 0), ag("c", 3, 5, 0)},
			[]livechat.Waiting{w("s1", 0)}, []livechat.Assignment{{"s1", "b"}}},
		{"ties go to the longest idle",
			[]livechat.AgentView{ag("a", 1, 5, 2*time.Minute), ag("b", 1, 5, time.Minute)},
			[]livechat.Waiting{w("s1", 0)}, []livechat.Assignment{{"s1", "b"}}},
		{"oldest waiting first when capacity is short",
			[]livechat.AgentView{ag("a", 0, 1, 0)}, []livechat.Waiting{w("new", 10), w("old", 1)},
			[]livechat.Assignment{{"old", "a"}}},
		{"priority (transfer, escalation) before age",
			[]livechat.AgentView{ag("a", 0, 1, 0)},
			[]livechat.Waiting{w("old", 0), {SessionID: "escalated", Since: t0.Add(time.Hour), Priority: 10}},
			[]livechat.Assignment{{"escalated", "a"}}},
		{"load spreads across agents",
			[]livechat.AgentView{ag("a", 0, 3, 0), ag("b", 0, 3, time.Second)},
			[]livechat.Waiting{w("s1", 0), w("s2", 1), w("s3", 2)},
			[]livechat.Assignment{{"s1", "a"}, {"s2", "b"}, {"s3", "a"}}},
		{"unavailable agents are skipped",
			[]livechat.AgentView{{ID: "a", Capacity: 5, Available: false}, ag("b", 4, 5, 0)},
			[]livechat.Waiting{w("s1", 0)}, []livechat.Assignment{{"s1", "b"}}},
		{"excluded agent (declined) is not asked again",
			[]livechat.AgentView{ag("a", 0, 5, 0), ag("b", 2, 5, 0)},
			[]livechat.Waiting{{SessionID: "s1", Since: t0, Exclude: []string{"a"}}}, []livechat.Assignment{{"s1", "b"}}},
		{"transfer to a named agent",
			[]livechat.AgentView{ag("a", 0, 5, 0), ag("b", 2, 5, 0)},
			[]livechat.Waiting{{SessionID: "s1", Since: t0, ToAgent: "b"}}, []livechat.Assignment{{"s1", "b"}}},
		{"video needs an idle agent and fills them",
			[]livechat.AgentView{ag("busy", 1, 5, 0, "sign_language"), ag("free", 0, 5, time.Second, "sign_language")},
			[]livechat.Waiting{{SessionID: "v1", Since: t0, Video: true, Skills: []string{"sign_language"}}, w("c1", 1, "sign_language")},
			[]livechat.Assignment{{"v1", "free"}, {"c1", "busy"}}},
		{"an agent on a call gets no chat offers",
			[]livechat.AgentView{{ID: "a", Capacity: 5, Available: true, OnCall: true, Load: 5}},
			[]livechat.Waiting{w("c1", 0)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, livechat.Route(tc.agents, tc.waiting, t0))
		})
	}
}

// A transfer to an agent who cannot take the session is refused at once,
// and the session stays with the sender (it was queued for them, and the
// citizen waited behind a full or absent agent).
func TestTransferToAnUnavailableAgentIsRefused(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2,a2:p:tax:1,a3:p:general:1", clock.NewFake(t0), "")
	a1, cit, sid := activePair(t, h, "c-1")
	a2 := agentUp(t, h, "a2")
	// a2 takes a tax conversation: full at 1 of 1.
	other := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("c-2"))
	// Tax is the citizen's preference: a2 has it and is offered the chat first.
	taxSID := other.OpenSession(map[string]any{"channel": "web", "skills": []string{"tax"}}, "个税怎么申报")
	require.Equal(t, taxSID, a2.Expect(livechat.TypeOffer, wait).SessionID)
	a2.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: taxSID})
	a2.Expect(livechat.TypeSession, wait)

	tests := []struct{ name, to string }{
		{"at capacity", "a2"},
		{"not logged in", "a3"},
		{"oneself", "a1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a1.SendData(livechat.TypeTransfer, sid, "t-"+tc.to, map[string]string{"to_agent": tc.to})
			e := a1.Expect(livechat.TypeError, wait)
			require.Equal(t, "t-"+tc.to, e.ID)
			require.Equal(t, "agent_unavailable", lt.Data(t, e)["code"])
			info, ok := h.SessionInfo(sid)
			require.True(t, ok)
			require.Equal(t, "active", info.State)
			require.Equal(t, "a1", info.AgentID, "the session stays with the sender")
		})
	}
	// The conversation goes on with a1.
	a1.SendData(livechat.TypeMessage, sid, "still-here", map[string]string{"text": "我还在"})
	require.Equal(t, "still-here", cit.ExpectFrom("agent", wait).ID)
}
