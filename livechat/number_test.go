package livechat_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

// A chat's first message makes its envelope: the agent's session view, the
// automatic receipt the citizen reads and the envelope on Kafka carry the
// same request number (contract §11).
func TestChatShowsOneRequestNumber(t *testing.T) {
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw1:general:3")
	a1 := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw1"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{})
	a1.Expect(livechat.TypeWelcome, wait)
	cit := g.MustDial(t, "/v1/ws/citizen", g.CitizenToken(t))
	sid := cit.OpenSession(nil, "小区门口的井盖松动了，请派人来看看")
	receipt, _ := lt.Data(t, cit.ExpectFrom("system", wait))["text"].(string)

	require.Equal(t, sid, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	view := lt.Data(t, a1.Expect(livechat.TypeSession, wait))
	number, _ := view["number"].(string)
	_, _, err := normalize.ParseNumber(number)
	require.NoError(t, err, "the session view has the request number: %v", view)
	require.Contains(t, receipt, number)

	var onKafka string
	for _, r := range g.Consume(t, "intake.envelopes", 500*time.Millisecond) {
		if r.Value["session_id"] == sid {
			onKafka, _ = r.Value["number"].(string)
		}
	}
	require.Equal(t, number, onKafka)
	rec, _ := g.Hub().SessionInfo(sid)
	require.Equal(t, view["envelope_id"], rec.EnvelopeID)
}
