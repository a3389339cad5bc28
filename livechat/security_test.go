package livechat_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

func closeCode(t *testing.T, c *lt.Client) int {
	t.Helper()
	select {
	case <-c.Done:
	case <-time.After(wait):
		t.Fatal("connection not closed")
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, c.Err, &ce)
	return ce.Code
}

func TestWebsocketSecurity(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2,a2:p:general:2", clock.NewFake(t0), "", func(c *livechat.Config) {
		c.AllowedOrigins = []string{"https://console.hotline.example"}
	})

	t.Run("wrong origin is 403", func(t *testing.T) {
		_, resp, err := lt.Dial(t, h.Base, "/v1/ws/agent", h.AgentToken("a1"), http.Header{"Origin": {"https://evil.example"}})
		require.Error(t, err)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		c, _, err := lt.Dial(t, h.Base, "/v1/ws/agent", h.AgentToken("a1"), http.Header{"Origin": {"https://console.hotline.example"}})
		require.NoError(t, err)
		c.WS.Close()
	})
	for name, tok := range map[string]string{"no token": "", "bad token": "x.y", "citizen token on agent socket": h.CitizenToken("c")} {
		t.Run(name+" closes with the auth code", func(t *testing.T) {
			c, _, err := lt.Dial(t, h.Base, "/v1/ws/agent", tok, nil)
			require.NoError(t, err)
			require.Equal(t, livechat.CloseAuth, closeCode(t, c))
		})
	}
	t.Run("oversize frame closes the connection", func(t *testing.T) {
		c := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("big"))
		_ = c.WS.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","data":{"text":"`+strings.Repeat("x", 70<<10)+`"}}`))
		require.Equal(t, livechat.CloseTooBig, closeCode(t, c))
	})

	a1 := agentUp(t, h, "a1")
	a2 := agentUp(t, h, "a2")
	_, sid := citizenUp(t, h, "alice")
	var owner, other *lt.Client
	for owner == nil {
		if f, ok := a1.Next(20 * time.Millisecond); ok && f.Type == livechat.TypeOffer {
			owner, other = a1, a2
		} else if f, ok := a2.Next(20 * time.Millisecond); ok && f.Type == livechat.TypeOffer {
			owner, other = a2, a1
		}
	}
	// The other agent can neither take the offer nor act on the session.
	other.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	require.Equal(t, "forbidden", lt.Data(t, other.Expect(livechat.TypeError, wait))["code"])
	owner.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	owner.Expect(livechat.TypeSession, wait)
	for _, f := range []livechat.Frame{
		{Type: livechat.TypeMessage, SessionID: sid, Data: []byte(`{"text":"hi"}`)},
		{Type: livechat.TypeClose, SessionID: sid},
		{Type: livechat.TypeTransfer, SessionID: sid, Data: []byte(`{"to_skill":"general"}`)},
		{Type: livechat.TypeResume, SessionID: sid, Data: []byte(`{"last_seq":0}`)},
		{Type: livechat.TypeRTCOffer, SessionID: sid, Data: []byte(`{"sdp":"x"}`)},
	} {
		other.Send(f)
		require.Equal(t, "forbidden", lt.Data(t, other.Expect(livechat.TypeError, wait))["code"], f.Type)
	}

	// Another citizen can neither join, read nor write alice's session.
	mallory := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("mallory"))
	for _, f := range []livechat.Frame{
		{Type: livechat.TypeHello, SessionID: sid, Data: []byte(`{"channel":"web"}`)},
		{Type: livechat.TypeResume, SessionID: sid, Data: []byte(`{"last_seq":0}`)},
		{Type: livechat.TypeMessage, SessionID: sid, Data: []byte(`{"text":"hi"}`)},
		{Type: livechat.TypeTyping, SessionID: sid, Data: []byte(`{}`)},
		{Type: livechat.TypeRTCICE, SessionID: sid, Data: []byte(`{"candidate":"x"}`)},
	} {
		mallory.Send(f)
		require.Equal(t, "forbidden", lt.Data(t, mallory.Expect(livechat.TypeError, wait))["code"], f.Type)
	}
	noFrame(t, mallory, livechat.TypeMessage, 50*time.Millisecond)
}
