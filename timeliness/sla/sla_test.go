package sla_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

const wait = 5 * time.Second

type env struct {
	t     *testing.T
	g     *lt.Gateway
	clock *clock.Fake
}

func start(t *testing.T, agents string) *env {
	clock := clock.NewFake(time.Now())
	g := lt.StartWith(t, t.TempDir(), gateway.Options{Clock: clock}, "GATEWAY_AGENTS="+agents)
	return &env{t: t, g: g, clock: clock}
}

// advance moves the timeliness clock and waits until everything due fired.
func (e *env) advance(d time.Duration) {
	e.clock.Advance(d)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(e.t, e.g.SLA().Timers().Sync(ctx))
}

// slaEvents returns sla.* events on Kafka as "type/clock".
func (e *env) slaEvents() map[string]int {
	out := map[string]int{}
	for _, r := range e.g.Consume(e.t, "intake.events", 300*time.Millisecond) {
		typ := r.Value["type"].(string)
		if len(typ) > 4 && typ[:4] == "sla." {
			lt.Validate(e.t, "event", r.Raw)
			out[typ+"/"+r.Value["data"].(map[string]any)["clock"].(string)]++
		}
	}
	return out
}

func (e *env) agent(id string) *lt.Client { return e.agentAs(id, "available") }

func (e *env) agentAs(id, presence string) *lt.Client {
	c := e.g.MustDial(e.t, "/v1/ws/agent", e.g.AgentToken(e.t, id, "pw"))
	c.SendData(livechat.TypeHello, "", "", map[string]any{"presence": presence})
	c.Expect(livechat.TypeWelcome, wait)
	return c
}

// chat opens a conversation with a first citizen message, accepted by a.
func (e *env) chat(a *lt.Client) (*lt.Client, string) {
	cit := e.g.MustDial(e.t, "/v1/ws/citizen", e.g.CitizenToken(e.t))
	cit.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web"})
	sid := cit.Expect(livechat.TypeWelcome, wait).SessionID
	cit.SendData(livechat.TypeMessage, sid, "c1", map[string]string{"text": "你好"})
	cit.Expect(livechat.TypeMessage, wait)
	a.Expect(livechat.TypeOffer, wait)
	a.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a.Expect(livechat.TypeSession, wait)
	return cit, sid
}

func TestFirstResponseMetByAgent(t *testing.T) {
	e := start(t, "a1:pw:general:3")
	a1 := e.agent("a1")
	_, sid := e.chat(a1)
	e.advance(90 * time.Second)
	a1.SendData(livechat.TypeMessage, sid, "r1", map[string]string{"text": "您好"})
	a1.ExpectFrom("agent", wait)
	e.advance(10 * time.Minute)
	ev := e.slaEvents()
	require.Equal(t, 1, ev["sla.met/first_response"])
	require.Zero(t, ev["sla.breached/first_response"])
	require.Zero(t, ev["sla.warning/first_response"], "the reply came before the warning lead")
}

// A breach of the first-response clock flags the chat (contract §11): it
// stays with its agent, and an alert goes to the supervisors on duty
// (whatever their presence) or, when none is on duty, to every available
// agent.
func TestFirstResponseWarningThenBreachEscalates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		supervisor bool
	}{{"a supervisor on duty", true}, {"no supervisor on duty", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, "a1:pw:general:3,a2:pw:general:3,sup:pw:general:3:supervisor")
			a1 := e.agent("a1")
			var sup *lt.Client
			if tc.supervisor {
				sup = e.agentAs("sup", "away") // supervisors are told whatever their presence
			}
			cit, sid := e.chat(a1)
			a2 := e.agent("a2")

			e.advance(2 * time.Minute) // 60 s before the due time: the warning
			w := a1.Expect(livechat.TypeSLA, wait)
			require.Equal(t, "warning", lt.Data(t, w)["state"])
			require.Equal(t, "first_response", lt.Data(t, w)["clock"])
			if sup != nil {
				require.Equal(t, "warning", lt.Data(t, sup.Expect(livechat.TypeSLA, wait))["state"])
			}

			e.advance(61 * time.Second) // the due time: breached and escalated
			require.Equal(t, "breached", lt.Data(t, a1.Expect(livechat.TypeSLA, wait))["state"])
			alerted, spared := []*lt.Client{a1, a2}, []*lt.Client(nil)
			if sup != nil {
				alerted, spared = []*lt.Client{sup}, alerted
			}
			for _, c := range alerted {
				al := c.Expect(livechat.TypeAlert, wait)
				require.Equal(t, sid, al.SessionID)
				d := lt.Data(t, al)
				require.Equal(t, "escalated", d["kind"])
				require.Equal(t, "first_response", d["clock"])
				require.Equal(t, "a1", d["agent_id"])
				require.Equal(t, "active", d["state"])
				require.Equal(t, tc.supervisor, d["supervisors"])
			}
			// With a supervisor on duty the agents are not alerted: the hub
			// sends the alerts under the lock a hello waits for, so any
			// alert to them comes before the welcome.
			for _, c := range spared {
				c.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
				for _, f := range framesBefore(t, c, livechat.TypeWelcome) {
					require.NotEqual(t, livechat.TypeAlert, f.Type, "an agent alerted although a supervisor is on duty")
				}
			}

			// The chat stays with its agent.
			info, ok := e.g.Hub().SessionInfo(sid)
			require.True(t, ok)
			require.Equal(t, "active", info.State)
			require.Equal(t, "a1", info.AgentID)

			e.advance(time.Hour)
			ev := e.slaEvents()
			require.Equal(t, 1, ev["sla.warning/first_response"], "each clock fires once")
			require.Equal(t, 1, ev["sla.breached/first_response"])
			require.Zero(t, ev["sla.met/first_response"])

			// The conversation goes on with a1.
			a1.SendData(livechat.TypeMessage, sid, "r1", map[string]string{"text": "抱歉久等"})
			require.Equal(t, "r1", cit.ExpectFrom("agent", wait).ID)
		})
	}
}

// framesBefore returns the frames c receives before the next one of type typ.
func framesBefore(t *testing.T, c *lt.Client, typ string) []livechat.Frame {
	t.Helper()
	var out []livechat.Frame
	for {
		f, ok := c.Next(wait)
		require.True(t, ok, "no %q frame", typ)
		if f.Type == typ {
			return out
		}
		out = append(out, f)
	}
}

func TestNextResponseClock(t *testing.T) {
	e := start(t, "a1:pw:general:3")
	a1 := e.agent("a1")
	cit, sid := e.chat(a1)
	a1.SendData(livechat.TypeMessage, sid, "r1", map[string]string{"text": "您好"})
	cit.ExpectFrom("agent", wait)

	// The citizen writes again: the next-response clock starts; writing more
	// while waiting does not postpone it.
	cit.SendData(livechat.TypeMessage, sid, "c2", map[string]string{"text": "在吗"})
	a1.ExpectFrom("citizen", wait)
	e.advance(time.Minute)
	cit.SendData(livechat.TypeMessage, sid, "c3", map[string]string{"text": "在吗？？"})
	a1.ExpectFrom("citizen", wait)
	e.advance(61 * time.Second)
	require.Equal(t, "warning", lt.Data(t, a1.Expect(livechat.TypeSLA, wait))["state"])
	a1.SendData(livechat.TypeMessage, sid, "r2", map[string]string{"text": "在的"})
	cit.ExpectFrom("agent", wait)
	e.advance(5 * time.Minute)

	// It restarts with the next citizen message after the reply, and breaches.
	cit.SendData(livechat.TypeMessage, sid, "c4", map[string]string{"text": "然后呢"})
	a1.ExpectFrom("citizen", wait)
	e.advance(3*time.Minute + time.Second)
	ev := e.slaEvents()
	require.Equal(t, 1, ev["sla.met/next_response"])
	require.Equal(t, 2, ev["sla.warning/next_response"])
	require.Equal(t, 1, ev["sla.breached/next_response"])
}

func TestHandlingStoppedByDispatchedAndReplyReachesWebChat(t *testing.T) {
	e := start(t, "a1:pw:general:3")
	a1 := e.agent("a1")
	cit, sid := e.chat(a1)
	info, ok := e.g.Hub().SessionInfo(sid)
	require.True(t, ok)

	p := kafkago.Writer{Addr: kafkago.TCP(e.g.KafkaBrokers()...), Topic: "ticket.events", BatchTimeout: time.Millisecond}
	defer p.Close()
	tick := func(v string) {
		require.NoError(t, p.WriteMessages(context.Background(), kafkago.Message{Key: []byte(info.EnvelopeID), Value: []byte(v)}))
	}
	at := e.clock.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	tick(`{"schema":"ticket-event/v1","envelope_id":"` + info.EnvelopeID + `","ticket_id":"T1","status":"dispatched","at":"` + at + `","reply":{"text":"已派单至街道办"}}`)
	tick(`{"schema":"ticket-event/v1","envelope_id":"` + info.EnvelopeID + `","status":"nonsense","at":"` + at + `"}`)
	tick(`not json`)
	tick(`{"schema":"ticket-event/v1","envelope_id":"` + info.EnvelopeID + `","ticket_id":"T1","status":"dispatched","at":"` + at + `","reply":{"text":"已派单至街道办"}}`)
	// handling_unit and no_follow_up are in the schema now, and a field the
	// gateway does not know yet is valid by it too: none is dead-lettered.
	tick(`{"schema":"ticket-event/v1","envelope_id":"` + info.EnvelopeID + `","ticket_id":"T1","status":"resolved","at":"` + at +
		`","handling_unit":"黄浦区市容绿化局","no_follow_up":false,"a_field_from_a_later_version":{"x":1}}`)

	// The reply reaches the citizen in the web chat, once.
	m := cit.ExpectFrom("agent", wait)
	require.Equal(t, "已派单至街道办", lt.Data(t, m)["text"])
	require.Eventually(t, func() bool {
		r, err := e.g.Intake().Request(info.EnvelopeID)
		return err == nil && r.Status == "resolved" && r.HandledAt != nil && r.Extra["handling_unit"] == "黄浦区市容绿化局"
	}, wait, 10*time.Millisecond)
	e.advance(25 * time.Hour)
	ev := e.slaEvents()
	require.Equal(t, 1, ev["sla.met/handling"])
	require.Zero(t, ev["sla.breached/handling"])
	require.Equal(t, 1, ev["sla.met/first_response"], "a ticket reply is a first response")
	noChat(t, cit)

	// The two malformed records went to the dead-letter topic with a reason.
	dlq := e.g.Consume(t, "ticket.events.dlq", 300*time.Millisecond)
	require.Len(t, dlq, 2)
	for _, r := range dlq {
		require.NotEmpty(t, r.Headers["reason"])
	}
}

func noChat(t *testing.T, c *lt.Client) {
	t.Helper()
	for {
		f, ok := c.Next(200 * time.Millisecond)
		if !ok {
			return
		}
		if f.Type == livechat.TypeMessage {
			var d map[string]any
			_ = json.Unmarshal(f.Data, &d)
			t.Fatalf("unexpected message %v", d)
		}
	}
}
