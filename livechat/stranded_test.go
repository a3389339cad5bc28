package livechat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// Tests of the ways a citizen was stranded before issue 16: a chat pinned
// to one agent, a tab left out, an empty conversation, junk queue names.

// A WeChat citizen entering the chat opens nothing; their first message
// opens the conversation and its offer carries it.
func TestEnteringWithoutWritingOpensNothing(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "")
	a1, _ := deskAgent(t, h, "a1")
	in := channels.InboundMessage{Channel: "wechat_miniprogram", ChannelUserID: "oUSER"}
	res, err := h.OpenConversation(t.Context(), in)
	require.NoError(t, err)
	require.Empty(t, res.SessionID)
	noFrame(t, a1, livechat.TypeOffer, 200*time.Millisecond)

	in.Text, in.DedupKey = "小区门口积水很深", "m1"
	res, err = h.CitizenMessage(t.Context(), in)
	require.NoError(t, err)
	require.True(t, res.NewSession)
	off := a1.Expect(livechat.TypeOffer, wait)
	require.Equal(t, res.SessionID, off.SessionID)
	require.Equal(t, "小区门口积水很深", lt.Data(t, off)["preview"])
	again, err := h.OpenConversation(t.Context(), channels.InboundMessage{Channel: "wechat_miniprogram", ChannelUserID: "oUSER"})
	require.NoError(t, err)
	require.Equal(t, res.SessionID, again.SessionID, "entering again finds the open conversation")
}

// A chat transferred to a named agent who declines it, or goes away, is
// offered to anyone else: the name is a first choice, never a wall.
func TestANamedAgentIsAFirstChoice(t *testing.T) {
	for _, how := range []string{"declines", "goes away"} {
		t.Run(how, func(t *testing.T) {
			h := lt.StartHub(t, "a1:p:general:2,a2:p:general:2,a3:p:general:2", clock.NewFake(t0), "")
			a1, _ := deskAgent(t, h, "a1")
			_, sid := activeChat(t, h, a1, "c1", "my rubbish was not collected")
			a2, _ := deskAgent(t, h, "a2")
			a3, _ := deskAgent(t, h, "a3")
			a3.SendData(livechat.TypePresence, "", "", map[string]string{"status": "away"})
			a3.Expect(livechat.TypePresence, wait)
			a1.SendData(livechat.TypeTransfer, sid, "", map[string]string{"to_agent": "a2"})
			require.Equal(t, sid, a2.Expect(livechat.TypeOffer, wait).SessionID)
			a3.SendData(livechat.TypePresence, "", "", map[string]string{"status": "available"})
			a3.Expect(livechat.TypePresence, wait)
			if how == "declines" {
				a2.Send(livechat.Frame{Type: livechat.TypeDecline, SessionID: sid})
			} else {
				a2.SendData(livechat.TypePresence, "", "", map[string]string{"status": "away"})
			}
			require.Equal(t, sid, a3.Expect(livechat.TypeOffer, wait).SessionID)
		})
	}
}

// A citizen with two tabs: both follow the chat the first message opens,
// and closing one tab does not forget the chat the other is about to open.
func TestTwoTabsBeforeTheFirstMessage(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "")
	a1, _ := deskAgent(t, h, "a1")
	tab := func() (*lt.Client, string) {
		c := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
		c.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web"})
		return c, c.Expect(livechat.TypeWelcome, wait).SessionID
	}
	b, sidB := tab()
	a, sidA := tab()
	require.Equal(t, sidB, sidA, "one chat to be, whichever tab")
	gone, _ := tab()
	gone.WS.Close() // a third tab closes before anyone writes

	write(t, a, sidA, "first words")
	echo := b.Expect(livechat.TypeMessage, wait)
	require.Equal(t, "first words", lt.Data(t, echo)["text"], "the other tab sees the chat open")
	require.Equal(t, sidA, a1.Expect(livechat.TypeOffer, wait).SessionID)
	write(t, b, sidB, "from the other tab")
}

// A hello's skills become queue names on the wall: an empty or an
// overlong one is refused.
func TestHelloSkillsAreBounded(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "")
	for _, sk := range []string{"", strings.Repeat("x", 65)} {
		c := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
		c.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web", "skills": []string{sk}})
		require.Equal(t, "bad_frame", lt.Data(t, c.Expect(livechat.TypeError, wait))["code"])
	}
}
