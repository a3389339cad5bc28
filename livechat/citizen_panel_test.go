package livechat_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// The agent who accepts a chat sees who writes and the citizen's earlier
// requests on any matter: here one from the web form (contract §11).
func TestSidePanelListsTheCitizensEarlierRequests(t *testing.T) {
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw1:general:3")
	token := g.CitizenToken(t)
	var first struct{ ID string }
	require.Equal(t, 202, g.PostJSON(t, "/v1/channels/web/requests",
		map[string]any{"text": "小区门口的垃圾三天没人清运了，气味很大"}, &first, "Authorization", "Bearer "+token))

	a1 := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw1"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{})
	a1.Expect(livechat.TypeWelcome, wait)
	cit := g.MustDial(t, "/v1/ws/citizen", token)
	sid := cit.OpenSession(map[string]any{"channel": "web", "language": "zh-CN"}, "人民路的路灯坏了")
	require.Equal(t, sid, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	panel, ok := lt.Data(t, a1.Expect(livechat.TypeSession, wait))["citizen"].(map[string]any)
	require.True(t, ok, "the session view has the citizen's panel")
	require.Equal(t, "web", panel["channel"])
	require.Equal(t, "zh-CN", panel["language"])
	require.Equal(t, "", panel["phone"])
	reqs := panel["requests"].([]any)
	require.Len(t, reqs, 1, "the earlier request, not the chat's own")
	item := reqs[0].(map[string]any)
	require.Equal(t, first.ID, item["id"])
	require.Equal(t, "web", item["channel"])
	require.NotEmpty(t, item["status"])
	require.NotEmpty(t, item["received_at"])
	require.Contains(t, item, "number")

	// A console that reconnects gets it in its welcome too.
	tab := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw1"))
	tab.SendData(livechat.TypeHello, "", "", map[string]any{})
	views := lt.Data(t, tab.Expect(livechat.TypeWelcome, wait))["sessions"].([]any)
	require.Len(t, views, 1)
	require.Len(t, views[0].(map[string]any)["citizen"].(map[string]any)["requests"], 1)
}
