package livechattest

import (
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
)

// waitFrame is how long the helpers here wait for a frame.
const waitFrame = 5 * time.Second

// FirstMessageID is the client id of the message OpenSession sends.
const FirstMessageID = "first"

// Hello says hello as a citizen with data (nil: {"channel": "web"}) and
// returns the welcome. A citizen without an open chat is given the id of the
// session their first message will open (state "new"); nothing is stored
// and no agent is offered anything until then.
func (c *Client) Hello(data any) livechat.Frame {
	c.t.Helper()
	if data == nil {
		data = map[string]any{"channel": "web"}
	}
	c.SendData(livechat.TypeHello, "", "", data)
	return c.Expect(livechat.TypeWelcome, waitFrame)
}

// OpenSession says hello (data as for Hello) and sends the first message,
// text, which opens the session the welcome reserved and routes it; it
// returns the session id once the message is echoed (seq 1, client id
// FirstMessageID). The queue frame that follows the first message is left
// for the caller to read.
func (c *Client) OpenSession(data any, text string) string {
	c.t.Helper()
	w := c.Hello(data)
	require.Equal(c.t, "new", Data(c.t, w)["state"], "a citizen with an open chat has no first message to send")
	sid := w.SessionID
	require.NotEmpty(c.t, sid)
	c.SendData(livechat.TypeMessage, sid, FirstMessageID, map[string]string{"text": text})
	echo := c.ExpectFrom("citizen", waitFrame)
	require.Equal(c.t, FirstMessageID, echo.ID)
	require.Equal(c.t, sid, echo.SessionID)
	return sid
}
