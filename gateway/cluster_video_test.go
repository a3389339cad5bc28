package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// Two pion peers, a citizen and a sign-language agent on the two nodes that
// are not the chat home, set up a data channel on loopback with the relayed
// websockets as their only signalling path (issue 19 test 5): the rtc.*
// frames cross two relays and the home's hub untouched, and one message
// goes each way.
func TestClusterVideoSignallingAcrossNodes(t *testing.T) {
	c := startChatCluster(t, "s1:pw:sign_language|general:3",
		"GATEWAY_SIGN_LANGUAGE_CALENDAR=Mon-Sun 00:00-24:00 UTC") // always open
	home := c.home(1)
	nodes := c.others(home)
	citNode, agNode := nodes[0], nodes[1]
	t.Logf("chat home node-%d; citizen on node-%d, agent on node-%d", home, citNode, agNode)
	wait := 15 * time.Second

	ag := c.agent(agNode, "s1", "pw")

	// The citizen asks for a video session on its node and opens it there
	// as the answer says.
	var tok struct{ Token string }
	c.post(citNode, "/v1/citizen/sessions", map[string]any{}, &tok)
	resp, err := gatewaytest.NewClient(1).Do(context.Background(), http.MethodPost,
		c.Node(citNode).URL("/v1/channels/sign-language/sessions"), []byte(`{}`),
		http.Header{"Authorization": {"Bearer " + tok.Token}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var answer struct {
		Open  bool           `json:"open"`
		WS    string         `json:"ws"`
		Hello map[string]any `json:"hello"`
	}
	require.NoError(t, json.Unmarshal(resp.Body, &answer))
	require.True(t, answer.Open, "%s", resp.Body)
	cit := lt.MustDial(t, c.base(citNode), answer.WS, tok.Token)
	cit.SendData(livechat.TypeHello, "", "", answer.Hello)
	w := cit.Expect(livechat.TypeWelcome, wait)
	require.Equal(t, true, lt.Data(t, w)["video"])
	sid := w.SessionID

	off := ag.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, off.SessionID)
	require.Equal(t, true, lt.Data(t, off)["video"])
	ag.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	ag.Expect(livechat.TypeSession, wait)
	for lt.Data(t, cit.Expect(livechat.TypeQueue, wait))["state"] != "active" {
	}

	lt.VideoCall(t, ag, cit, sid, wait)
}
