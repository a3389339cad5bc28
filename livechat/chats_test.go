package livechat_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/sessions"
)

func TestHistoryAndSearchOfChats(t *testing.T) {
	clk := clock.NewFake(t0)
	h := lt.StartHub(t, deskAgents, clk, "")
	// a1 handles a chat about a street light and closes it.
	a1 := agentUp(t, h, "a1")
	sup := agentUp(t, h, "sup")
	presence(t, sup, "away")
	c1, light := citizenUp(t, h, "c1")
	acceptOffer(t, a1, light)
	c1.SendData(livechat.TypeMessage, light, "c-1", map[string]string{"text": "人民路的Street Light坏了"})
	c1.ExpectFrom("citizen", wait)
	a1.SendData(livechat.TypeNote, light, "n-1", map[string]string{"text": "已派单给市政"})
	a1.ExpectFrom(livechat.FromNote, wait)
	a1.Send(livechat.Frame{Type: livechat.TypeClose, SessionID: light})
	require.Eventually(t, func() bool { r, _ := h.SessionInfo(light); return r.State == sessions.StateClosed }, wait, 5*time.Millisecond)
	// A day later a2 has one about rubbish, still open.
	clk.Advance(24 * time.Hour)
	presence(t, a1, "away")
	a2 := agentUp(t, h, "a2")
	c2, rubbish := citizenUp(t, h, "c2")
	acceptOffer(t, a2, rubbish)
	c2.SendData(livechat.TypeMessage, rubbish, "c-1", map[string]string{"text": "垃圾三天没人清运"})
	c2.ExpectFrom("citizen", wait)

	search := func(who string, q url.Values) []string {
		st, _, body := call(t, http.MethodGet, h.Base+"/v1/agents/chats?"+q.Encode(), h.AgentToken(who), nil)
		require.Equal(t, http.StatusOK, st, string(body))
		var ids []string
		for _, c := range decode(t, body)["chats"].([]any) {
			ids = append(ids, c.(map[string]any)["session_id"].(string))
		}
		return ids
	}
	day := t0.Add(8 * time.Hour).Format("2006-01-02") // the first chat's date in China
	tests := []struct {
		name string
		who  string
		q    url.Values
		want []string
	}{
		{"an agent sees the chats they handled", "a1", nil, []string{light}},
		{"the other agent theirs", "a2", nil, []string{rubbish}},
		{"a supervisor every chat, newest first", "sup", nil, []string{rubbish, light}},
		{"text, case-insensitive", "sup", url.Values{"q": {"street LIGHT"}}, []string{light}},
		{"notes are searched too", "sup", url.Values{"q": {"派单"}}, []string{light}},
		{"text in another agent's chat", "a1", url.Values{"q": {"垃圾"}}, nil},
		{"by agent", "sup", url.Values{"agent_id": {"a2"}}, []string{rubbish}},
		{"by channel", "sup", url.Values{"channel": {"web"}}, []string{rubbish, light}},
		{"another channel", "sup", url.Values{"channel": {"sms"}}, nil},
		{"by date", "sup", url.Values{"from": {day}, "to": {day}}, []string{light}},
		{"since a time", "sup", url.Values{"from": {t0.Add(time.Hour).Format(time.RFC3339)}}, []string{rubbish}},
		{"limit", "sup", url.Values{"limit": {"1"}}, []string{rubbish}},
		{"an unknown number", "sup", url.Values{"number": {"2026112700019"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, search(tc.who, tc.q)) })
	}

	st, _, body := call(t, http.MethodGet, h.Base+"/v1/agents/chats?limit=0&from=yesterday", h.AgentToken("sup"), nil)
	require.Equal(t, http.StatusBadRequest, st)
	require.Contains(t, decode(t, body)["error"].(map[string]any)["fields"], "from")
	st, _, _ = call(t, http.MethodGet, h.Base+"/v1/agents/chats", "", nil)
	require.Equal(t, http.StatusUnauthorized, st)

	// One chat, read-only, notes included.
	st, _, body = call(t, http.MethodGet, h.Base+"/v1/agents/chats/"+light, h.AgentToken("a1"), nil)
	require.Equal(t, http.StatusOK, st, string(body))
	detail := decode(t, body)
	chat := detail["chat"].(map[string]any)
	require.Equal(t, light, chat["session_id"])
	require.Equal(t, "closed", chat["state"])
	require.Equal(t, "a1", chat["agent_id"])
	require.NotNil(t, chat["closed_at"])
	var froms []string
	for _, m := range detail["messages"].([]any) {
		froms = append(froms, m.(map[string]any)["from"].(string))
	}
	require.Contains(t, froms, livechat.FromNote)
	require.Contains(t, froms, "citizen")
	require.NotEmpty(t, chat["number"])
	require.Equal(t, []string{light}, search("a1", url.Values{"number": {chat["number"].(string)}}), "found by its request number")
	require.Empty(t, search("a2", url.Values{"number": {chat["number"].(string)}}), "not by another agent")
	for who, want := range map[string]int{"a2": 404, "sup": 200, "": 401} {
		st, _, _ := call(t, http.MethodGet, h.Base+"/v1/agents/chats/"+light, tokenOf(h, who), nil)
		require.Equal(t, want, st, who)
	}
	st, _, _ = call(t, http.MethodGet, h.Base+"/v1/agents/chats/nope", h.AgentToken("sup"), nil)
	require.Equal(t, http.StatusNotFound, st)
}

func tokenOf(h *lt.Hub, who string) string {
	if who == "" {
		return ""
	}
	return h.AgentToken(who)
}
