package livechat_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

const wait = 5 * time.Second

func TestWholeFlow(t *testing.T) {
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw1:general:3,a2:pw2:general|tax:3")

	// Available as soon as the console connects: no presence frame needed.
	a1 := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw1"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{})
	require.Equal(t, "available", lt.Data(t, a1.Expect(livechat.TypeWelcome, wait))["presence"])

	// The hello reserves a session id; nothing is offered before the first message.
	cit := g.MustDial(t, "/v1/ws/citizen", g.CitizenToken(t))
	cit.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web", "language": "zh-CN"})
	w := cit.Expect(livechat.TypeWelcome, wait)
	sid := w.SessionID
	require.NotEmpty(t, sid)
	require.Equal(t, "new", lt.Data(t, w)["state"])
	noFrame(t, a1, livechat.TypeOffer, 100*time.Millisecond)

	// Citizen → agent, acknowledged by the echo with seq and the client id;
	// the first message opens the session and is the offer's preview.
	cit.SendData(livechat.TypeMessage, sid, "c-1", map[string]string{"text": "我家楼下路灯坏了"})
	echo := cit.Expect(livechat.TypeMessage, wait)
	require.Equal(t, "c-1", echo.ID)
	require.EqualValues(t, 1, echo.Seq)
	// The automatic receipt follows the message that created the request.
	rc := cit.Expect(livechat.TypeMessage, wait)
	require.EqualValues(t, 2, rc.Seq)
	require.Equal(t, "system", lt.Data(t, rc)["from"])
	require.Contains(t, lt.Data(t, rc)["text"], "24")

	off := a1.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, off.SessionID)
	require.Equal(t, "我家楼下路灯坏了", lt.Data(t, off)["preview"])
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	// The agent gets the transcript so far: the message, then the receipt.
	got := a1.Expect(livechat.TypeMessage, wait)
	require.EqualValues(t, 1, got.Seq)
	require.Equal(t, "我家楼下路灯坏了", lt.Data(t, got)["text"])
	require.EqualValues(t, 2, a1.Expect(livechat.TypeMessage, wait).Seq)
	a1.Expect(livechat.TypeSession, wait)
	q := cit.Expect(livechat.TypeQueue, wait)
	for lt.Data(t, q)["state"] != "active" {
		q = cit.Expect(livechat.TypeQueue, wait)
	}

	// Typing and read both ways.
	a1.SendData(livechat.TypeTyping, sid, "", map[string]bool{"typing": true})
	require.Equal(t, sid, cit.Expect(livechat.TypeTyping, wait).SessionID)
	a1.SendData(livechat.TypeMessage, sid, "a-1", map[string]string{"text": "您好，请问具体地址？"})
	reply := cit.ExpectChat(wait)
	require.EqualValues(t, 3, reply.Seq)
	require.Equal(t, "agent", lt.Data(t, reply)["from"])
	cit.SendData(livechat.TypeRead, sid, "", map[string]int{"up_to_seq": 3})
	rd := a1.Expect(livechat.TypeRead, wait)
	require.EqualValues(t, 3, lt.Data(t, rd)["up_to_seq"])
	cit.SendData(livechat.TypeTyping, sid, "", map[string]bool{"typing": true})
	a1.Expect(livechat.TypeTyping, wait)

	// Transfer to the tax skill queue; a2 has it.
	a2 := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a2", "pw2"))
	a2.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	a2.Expect(livechat.TypeWelcome, wait)
	a1.SendData(livechat.TypeTransfer, sid, "", map[string]string{"to_skill": "tax"})
	off2 := a2.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, off2.SessionID)
	a2.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	// The new agent first gets the transcript so far, in seq order.
	for seq := int64(1); seq <= 3; seq++ {
		require.EqualValues(t, seq, a2.Expect(livechat.TypeMessage, wait).Seq)
	}
	// a1 may no longer write in it.
	a1.SendData(livechat.TypeMessage, sid, "a-2", map[string]string{"text": "x"})
	require.Equal(t, "forbidden", lt.Data(t, a1.Expect(livechat.TypeError, wait))["code"])

	a2.SendData(livechat.TypeMessage, sid, "a2-1", map[string]string{"text": "已为您登记，税务问题稍后答复"})
	require.EqualValues(t, 4, cit.ExpectChat(wait).Seq)
	a2.Send(livechat.Frame{Type: livechat.TypeClose, SessionID: sid})
	cit.Expect(livechat.TypeClose, wait)

	// Kafka: the envelope (with session_id) and every lifecycle and message event.
	envs := g.Consume(t, "intake.envelopes", 500*time.Millisecond)
	require.Len(t, envs, 1)
	lt.Validate(t, "envelope", envs[0].Raw)
	require.Equal(t, sid, envs[0].Value["session_id"])
	require.Equal(t, envs[0].Value["citizen_key"], envs[0].Key)
	evs := g.Consume(t, "intake.events", 500*time.Millisecond)
	seen := map[string]int{}
	for _, e := range evs {
		lt.Validate(t, "event", e.Raw)
		seen[e.Value["type"].(string)]++
		require.Equal(t, "event/v1", e.Headers["schema"])
	}
	for _, typ := range []string{"request.accepted", "request.acknowledged", "session.opened", "session.queued", "session.offered", "session.assigned",
		"session.transferred", "session.closed", "message.citizen", "message.agent"} {
		require.Positive(t, seen[typ], "missing event %s in %v", typ, seen)
	}
	require.Equal(t, 2, seen["message.agent"])
}
