package livechat_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// A citizen who wrote about a broken street light on the web form and
// then opens the chat about the same light: the agent who accepts the chat
// sees the earlier request (contract §10, §11), linked by triage.
func TestAgentSeesTheCitizensEarlierRequest(t *testing.T) {
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw1:general:3")
	token := g.CitizenToken(t)
	var first struct{ ID string }
	require.Equal(t, 202, g.PostJSON(t, "/v1/channels/web/requests",
		map[string]any{"text": "人民路和西藏路路口的路灯坏了一个星期了，晚上很黑，请尽快修理"}, &first, "Authorization", "Bearer "+token))

	a1 := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw1"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{})
	a1.Expect(livechat.TypeWelcome, wait)
	cit := g.MustDial(t, "/v1/ws/citizen", token)
	sid := cit.OpenSession(nil, "人民路西藏路路口那盏路灯还是坏的，已经一个多星期了，晚上很黑")
	require.Equal(t, sid, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	view := lt.Data(t, a1.Expect(livechat.TypeSession, wait))
	hist, ok := view["history"].([]any)
	require.True(t, ok, "the session view lists the earlier request: %v", view)
	require.Len(t, hist, 1)
	item := hist[0].(map[string]any)
	require.Equal(t, first.ID, item["id"])
	require.Equal(t, "web", item["channel"])
	require.Equal(t, "acknowledged", item["status"]) // the automatic receipt went out
}

// A citizen whose browser is Chinese but who writes in English is offered
// to the agent with lang:en first: triage's language is a preference too.
func TestTheLanguageWrittenIsAPreference(t *testing.T) {
	g := lt.Start(t, "GATEWAY_AGENTS=zh:pw1:general:3,en:pw2:general|lang:en:3")
	agents := map[string]*lt.Client{}
	for id, pw := range map[string]string{"zh": "pw1", "en": "pw2"} {
		a := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, id, pw))
		a.SendData(livechat.TypeHello, "", "", map[string]any{})
		a.Expect(livechat.TypeWelcome, wait)
		agents[id] = a
	}
	cit := g.MustDial(t, "/v1/ws/citizen", g.CitizenToken(t))
	sid := cit.OpenSession(map[string]any{"channel": "web", "language": "zh-CN"},
		"Hello, the street light in front of my building has been broken for a week")
	require.Equal(t, sid, agents["en"].Expect(livechat.TypeOffer, wait).SessionID)
	noFrame(t, agents["zh"], livechat.TypeOffer, 200*time.Millisecond)
	rec, _ := g.Hub().SessionInfo(sid)
	require.Contains(t, rec.Skills, "lang:en")
}
