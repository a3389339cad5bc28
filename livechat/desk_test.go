package livechat_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// Tests of issue 16: no citizen is ever stranded.

// deskAgent connects an agent's console with a plain hello (no presence):
// what the console does right after login.
func deskAgent(t *testing.T, h *lt.Hub, id string) (*lt.Client, map[string]any) {
	t.Helper()
	c := lt.MustDial(t, h.Base, "/v1/ws/agent", h.AgentToken(id))
	c.SendData(livechat.TypeHello, "", "", map[string]any{})
	return c, lt.Data(t, c.Expect(livechat.TypeWelcome, wait))
}

// deskCitizen opens the widget: a hello in the citizen's language.
func deskCitizen(t *testing.T, h *lt.Hub, sub, lang string) (*lt.Client, livechat.Frame) {
	t.Helper()
	c := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken(sub))
	c.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web", "language": lang})
	return c, c.Expect(livechat.TypeWelcome, wait)
}

// write sends a citizen message and waits for its echo.
func write(t *testing.T, c *lt.Client, sid, text string) {
	t.Helper()
	c.SendData(livechat.TypeMessage, sid, "m-"+text, map[string]string{"text": text})
	for {
		if f := c.Expect(livechat.TypeMessage, wait); f.ID == "m-"+text {
			return
		}
	}
}

func TestNoOfferBeforeTheFirstMessage(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "")
	a1, _ := deskAgent(t, h, "a1")
	cit, w := deskCitizen(t, h, "c1", "zh-CN")
	d := lt.Data(t, w)
	require.Equal(t, "new", d["state"])
	require.EqualValues(t, 1, d["agents_on_duty"])
	require.Equal(t, false, d["no_agents"])
	sid := w.SessionID
	require.NotEmpty(t, sid)

	noFrame(t, a1, livechat.TypeOffer, 200*time.Millisecond)
	_, stored := h.SessionInfo(sid)
	require.False(t, stored, "nothing is stored before the citizen writes")

	write(t, cit, sid, "路灯坏了三天")
	off := a1.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, off.SessionID)
	require.Equal(t, "路灯坏了三天", lt.Data(t, off)["preview"])
	rec, stored := h.SessionInfo(sid)
	require.True(t, stored)
	require.NotEmpty(t, rec.EnvelopeID)
}

func TestCitizenSkillsArePreferences(t *testing.T) {
	const langWait = 30 * time.Second
	for _, tc := range []struct {
		name      string
		agents    string
		busy      string // an agent made busy first (capacity 1)
		lang      string
		required  []string
		hello     []string // skills from the widget
		first     string   // offered at once ("" none)
		afterWait string   // offered after routing.language_wait ("" none)
	}{
		{name: "nobody on duty speaks English: any agent at once",
			agents: "zh:p:general:2", lang: "en", first: "zh"},
		{name: "an English agent is offered first",
			agents: "zh:p:general:2,en:p:general|lang:en:2", lang: "en", first: "en"},
		{name: "the English agent is busy: any agent after the wait",
			agents: "zh:p:general:2,en:p:general|lang:en:1", busy: "en", lang: "en", afterWait: "zh"},
		{name: "a Chinese citizen: anyone",
			agents: "zh:p:general:2", lang: "zh-CN", first: "zh"},
		{name: "a topic from the widget is a preference too",
			agents: "zh:p:general:2", lang: "zh-CN", hello: []string{"tax"}, first: "zh"},
		{name: "an operator's required skill never gives way",
			agents: "zh:p:general:2", lang: "zh-CN", hello: []string{"tax"}, required: []string{"tax"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			h := lt.StartHub(t, tc.agents, clk, "", func(c *livechat.Config) {
				c.LanguageWait, c.RequiredSkills = langWait, tc.required
			})
			agents := map[string]*lt.Client{}
			for _, spec := range strings.Split(tc.agents, ",") {
				id, _, _ := strings.Cut(spec, ":")
				agents[id], _ = deskAgent(t, h, id)
			}
			if tc.busy != "" {
				bc, bw := deskCitizen(t, h, "busy", "en")
				write(t, bc, bw.SessionID, "first in line")
				a := agents[tc.busy]
				require.Equal(t, bw.SessionID, a.Expect(livechat.TypeOffer, wait).SessionID)
				a.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: bw.SessionID})
				a.Expect(livechat.TypeSession, wait)
			}
			cit := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
			cit.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web", "language": tc.lang, "skills": tc.hello})
			sid := cit.Expect(livechat.TypeWelcome, wait).SessionID
			write(t, cit, sid, "hello, my street light is broken")
			offered := func() string {
				for id, a := range agents {
					if f, ok := a.Next(50 * time.Millisecond); ok && f.Type == livechat.TypeOffer && f.SessionID == sid {
						return id
					}
				}
				return ""
			}
			got := ""
			for range 10 {
				if got = offered(); got != "" {
					break
				}
			}
			require.Equal(t, tc.first, got, "offered at once")
			if tc.first != "" {
				return
			}
			clk.Advance(langWait)
			got = ""
			for range 10 {
				if got = offered(); got != "" {
					break
				}
			}
			require.Equal(t, tc.afterWait, got, "offered after routing.language_wait")
		})
	}
}

func TestNobodyOnDutyIsToldAndLeavesAMessage(t *testing.T) {
	h := lt.StartHub(t, "zh:p:general:2", clock.NewFake(t0), "")
	cit, w := deskCitizen(t, h, "c1", "en")
	d := lt.Data(t, w)
	require.Equal(t, true, d["no_agents"])
	require.EqualValues(t, 0, d["agents_on_duty"])
	sid := w.SessionID

	cit.SendData(livechat.TypeLeaveMessage, sid, "", map[string]any{})
	require.Equal(t, "nothing_written", lt.Data(t, cit.Expect(livechat.TypeError, wait))["code"], "nothing to leave before writing")

	write(t, cit, sid, "the bus stop sign fell down")
	q := lt.Data(t, cit.Expect(livechat.TypeQueue, wait))
	require.Equal(t, true, q["no_agents"])
	require.NotContains(t, q, "estimated_wait_s", "no made-up wait when nobody can answer")

	cit.SendData(livechat.TypeLeaveMessage, sid, "", map[string]any{})
	cl := lt.Data(t, cit.Expect(livechat.TypeClose, wait))
	require.Equal(t, "left_message", cl["reason"])
	rec, ok := h.SessionInfo(sid)
	require.True(t, ok)
	require.Equal(t, "closed", rec.State)
	require.Equal(t, rec.EnvelopeID, cl["envelope_id"])
	require.Equal(t, rec.Meta["number"], cl["number"])
	require.NotEmpty(t, cl["number"])
	req, err := h.Intake.Request(rec.EnvelopeID)
	require.NoError(t, err)
	require.NotNil(t, req, "the request stays, with its clocks")
}

func TestWaitEstimateComesFromAgentsOnDuty(t *testing.T) {
	clk := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:1", clk, "")
	a1, _ := deskAgent(t, h, "a1")
	c0, w0 := deskCitizen(t, h, "c0", "zh-CN")
	write(t, c0, w0.SessionID, "first")
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: a1.Expect(livechat.TypeOffer, wait).SessionID})
	a1.Expect(livechat.TypeSession, wait)
	// a1 is full: each waiting citizen waits for a chat to end, about the
	// average handling time (5 minutes until chats have ended) per place.
	for i, sub := range []string{"c1", "c2"} {
		c, w := deskCitizen(t, h, sub, "zh-CN")
		clk.Advance(time.Second)
		write(t, c, w.SessionID, "next "+sub)
		q := lt.Data(t, c.Expect(livechat.TypeQueue, wait))
		require.EqualValues(t, i+1, q["queue_position"])
		require.EqualValues(t, (i+1)*300, q["estimated_wait_s"])
		require.EqualValues(t, 1, q["agents_on_duty"])
	}
}

func TestAgentsAreAvailableAtConnect(t *testing.T) {
	for _, tc := range []struct{ initial, want string }{{"", "available"}, {"away", "away"}} {
		t.Run(tc.want, func(t *testing.T) {
			h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", func(c *livechat.Config) { c.InitialPresence = tc.initial })
			a1, w := deskAgent(t, h, "a1")
			require.Equal(t, tc.want, w["presence"])
			cit, cw := deskCitizen(t, h, "c1", "zh-CN")
			write(t, cit, cw.SessionID, "hello")
			if tc.want == "available" {
				require.Equal(t, cw.SessionID, a1.Expect(livechat.TypeOffer, wait).SessionID)
			} else {
				noFrame(t, a1, livechat.TypeOffer, 200*time.Millisecond)
			}
		})
	}
}

// activeChat opens a chat that agent takes.
func activeChat(t *testing.T, h *lt.Hub, agent *lt.Client, sub, text string) (*lt.Client, string) {
	t.Helper()
	c, w := deskCitizen(t, h, sub, "zh-CN")
	write(t, c, w.SessionID, text)
	for {
		if f := agent.Expect(livechat.TypeOffer, wait); f.SessionID == w.SessionID {
			break
		}
	}
	agent.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: w.SessionID})
	for {
		if f := agent.Expect(livechat.TypeSession, wait); f.SessionID == w.SessionID {
			return c, w.SessionID
		}
	}
}

func TestABreachStaysWithItsAgentAndIsFlagged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		agents  string
		alerted []string
		quiet   []string
	}{
		{"a supervisor on duty is alerted", "a1:p:general:2,a2:p:general:2,sup:p:general:2:supervisor", []string{"sup"}, []string{"a2"}},
		{"no supervisor: every available agent is", "a1:p:general:2,a2:p:general:2", []string{"a1", "a2"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := lt.StartHub(t, tc.agents, clock.NewFake(t0), "")
			agents := map[string]*lt.Client{}
			a1, _ := deskAgent(t, h, "a1")
			agents["a1"] = a1
			_, sid := activeChat(t, h, a1, "c1", "water leaking")
			for _, spec := range strings.Split(tc.agents, ",")[1:] {
				id, _, _ := strings.Cut(spec, ":")
				agents[id], _ = deskAgent(t, h, id)
			}
			due := t0.Add(3 * time.Minute)
			h.Alert(sid, "breached", "next_response", due)
			h.Escalate(t.Context(), sid)
			sla := lt.Data(t, a1.Expect(livechat.TypeSLA, wait))
			require.Regexp(t, `^\d{12}$`, sla["number"], "the sla frame names the chat by its request number")
			for _, id := range tc.alerted {
				f := agents[id].Expect(livechat.TypeAlert, wait)
				require.Equal(t, sid, f.SessionID)
				d := lt.Data(t, f)
				require.Equal(t, "escalated", d["kind"])
				require.Equal(t, "a1", d["agent_id"])
				require.Equal(t, "next_response", d["clock"])
			}
			for _, id := range tc.quiet {
				noFrame(t, agents[id], livechat.TypeAlert, 100*time.Millisecond)
			}
			rec, _ := h.SessionInfo(sid)
			require.Equal(t, "active", rec.State)
			require.Equal(t, "a1", rec.AgentID, "the chat stays with its agent")
			require.EqualValues(t, 1, testutil.ToFloat64(counterOf(t, h, "gateway_livechat_escalations_total")))
			require.Contains(t, h.Log.String(), `"msg":"livechat: escalated"`)
			require.NotContains(t, h.Log.String(), "water leaking")
		})
	}
}

func TestSupervisorTakesOverAndReassigns(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2,a2:p:general:1,sup:p:general:2:supervisor", clock.NewFake(t0), "")
	a1, _ := deskAgent(t, h, "a1")
	cit, sid := activeChat(t, h, a1, "c1", "noise at night")
	a2, _ := deskAgent(t, h, "a2")
	sup, w := deskAgent(t, h, "sup")
	require.Equal(t, []any{"supervisor"}, w["agent"].(map[string]any)["roles"])

	// Not a supervisor: refused.
	a2.Send(livechat.Frame{Type: livechat.TypeTakeover, SessionID: sid})
	require.Equal(t, "forbidden", lt.Data(t, a2.Expect(livechat.TypeError, wait))["code"])

	sup.Send(livechat.Frame{Type: livechat.TypeTakeover, SessionID: sid})
	require.Equal(t, "noise at night", lt.Data(t, sup.Expect(livechat.TypeMessage, wait))["text"], "the transcript first")
	require.Equal(t, "active", lt.Data(t, sup.Expect(livechat.TypeSession, wait))["state"])
	gone := lt.Data(t, a1.Expect(livechat.TypeSession, wait))
	require.Equal(t, "taken_over", gone["state"])
	require.Equal(t, "sup", gone["by"])
	a1.SendData(livechat.TypeMessage, sid, "x", map[string]string{"text": "still here?"})
	require.Equal(t, "forbidden", lt.Data(t, a1.Expect(livechat.TypeError, wait))["code"])
	sup.SendData(livechat.TypeMessage, sid, "s1", map[string]string{"text": "我是值班长"})
	require.Equal(t, "sup", lt.Data(t, cit.ExpectChat(wait))["agent_id"])

	// a1's next chat is reassigned by the supervisor to a2, who is offered it.
	for _, c := range []*lt.Client{sup, a2} { // away, so that a1 gets it
		c.SendData(livechat.TypePresence, "", "", map[string]string{"status": "away"})
		c.Expect(livechat.TypePresence, wait)
	}
	_, other := activeChat(t, h, a1, "c2", "another")
	a2.SendData(livechat.TypePresence, "", "", map[string]string{"status": "available"})
	a2.Expect(livechat.TypePresence, wait)
	sup.SendData(livechat.TypeTransfer, other, "", map[string]string{"to_agent": "a2"})
	require.Equal(t, "reassigned", lt.Data(t, a1.Expect(livechat.TypeSession, wait))["state"])
	require.Equal(t, other, a2.Expect(livechat.TypeOffer, wait).SessionID)
	a2.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: other})
	a2.Expect(livechat.TypeSession, wait)

	// a2 is full now: the supervisor cannot hand their own chat to a2.
	sup.SendData(livechat.TypeTransfer, sid, "", map[string]string{"to_agent": "a2"})
	require.Equal(t, "agent_unavailable", lt.Data(t, sup.Expect(livechat.TypeError, wait))["code"])
	rec, _ := h.SessionInfo(sid)
	require.Equal(t, "sup", rec.AgentID, "a refused transfer leaves the chat where it was")
	require.EqualValues(t, 1, testutil.ToFloat64(counterVecOf(t, h, "gateway_livechat_supervisor_actions_total", "takeover")))
	for _, msg := range []string{"livechat: taken over", "livechat: reassigned"} {
		require.Contains(t, h.Log.String(), `"msg":"`+msg+`"`)
	}
	require.NotContains(t, h.Log.String(), "noise at night")
}

func TestTheWall(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:1,sup:p:general:2:supervisor", clock.NewFake(t0), "")
	a1, _ := deskAgent(t, h, "a1")
	_, risky := activeChat(t, h, a1, "c1", "flooded basement")
	c2, w2 := deskCitizen(t, h, "c2", "zh-CN")
	write(t, c2, w2.SessionID, "waiting one")
	deskAgent(t, h, "sup")
	h.Alert(risky, "breached", "next_response", t0.Add(3*time.Minute))
	h.Escalate(t.Context(), risky)

	get := func(token string) (int, livechat.Wall) {
		req, _ := http.NewRequest(http.MethodGet, h.Base+"/v1/agents/wall", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var w livechat.Wall
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&w))
		}
		return resp.StatusCode, w
	}
	code, _ := get("")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = get(h.AgentToken("a1"))
	require.Equal(t, http.StatusForbidden, code)
	code, w := get(h.AgentToken("sup"))
	require.Equal(t, http.StatusOK, code)

	require.Len(t, w.Chats, 2)
	require.Equal(t, risky, w.Chats[0].SessionID, "the chat at risk first")
	require.True(t, w.Chats[0].Escalated)
	require.Equal(t, "next_response", w.Chats[0].Clock)
	require.Regexp(t, `^\d{12}$`, w.Chats[0].Number, "the wall names chats by their request number")
	require.Equal(t, "a1", w.Chats[0].AgentID)
	require.Contains(t, []string{"queued", "offered"}, w.Chats[1].State)
	require.Len(t, w.Queues, 1)
	require.Equal(t, 1, w.Queues[0].Waiting)
	byID := map[string]livechat.WallAgent{}
	for _, a := range w.Agents {
		byID[a.ID] = a
	}
	require.Equal(t, livechat.WallAgent{ID: "a1", Presence: "available", Connected: true, Load: 1, Capacity: 1,
		Skills: []string{"general"}, Roles: []string{}}, byID["a1"])
	require.Equal(t, []string{"supervisor"}, byID["sup"].Roles)
}

func TestDeskMetricsAndAuditLog(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2,a2:p:general:2", clock.NewFake(t0), "")
	a1, _ := deskAgent(t, h, "a1")
	cit, w := deskCitizen(t, h, "c1", "zh-CN")
	const secret = "my phone is 13912345678 and my ID 310101199001011234"
	write(t, cit, w.SessionID, secret)
	require.Equal(t, w.SessionID, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a1.Send(livechat.Frame{Type: livechat.TypeDecline, SessionID: w.SessionID})
	a2, _ := deskAgent(t, h, "a2")
	require.Equal(t, w.SessionID, a2.Expect(livechat.TypeOffer, wait).SessionID)
	a2.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: w.SessionID})
	a2.Expect(livechat.TypeSession, wait)
	c3, w3 := deskCitizen(t, h, "c3", "zh-CN")
	write(t, c3, w3.SessionID, "zebra crossing paint")
	a1.SendData(livechat.TypePresence, "", "", map[string]string{"status": "away"})
	a1.Expect(livechat.TypePresence, wait)
	a2.SendData(livechat.TypeTransfer, w.SessionID, "", map[string]string{"to_skill": "general"})
	a2.Expect(livechat.TypeSession, wait)

	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collectors()...)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gateway_livechat_agents Configured agents by presence (available, away, offline) and whether their console is connected.
# TYPE gateway_livechat_agents gauge
gateway_livechat_agents{connected="true",presence="available"} 1
gateway_livechat_agents{connected="true",presence="away"} 1
# HELP gateway_livechat_waiting_sessions Chats waiting for an agent, by queue (the skills they require; general: none).
# TYPE gateway_livechat_waiting_sessions gauge
gateway_livechat_waiting_sessions{queue="general"} 2
# HELP gateway_livechat_oldest_wait_seconds How long the longest-waiting chat of each queue has waited.
# TYPE gateway_livechat_oldest_wait_seconds gauge
gateway_livechat_oldest_wait_seconds{queue="general"} 0
# HELP gateway_livechat_active_sessions Chats an agent is answering.
# TYPE gateway_livechat_active_sessions gauge
gateway_livechat_active_sessions 0
`), "gateway_livechat_agents", "gateway_livechat_waiting_sessions", "gateway_livechat_oldest_wait_seconds", "gateway_livechat_active_sessions"))
	require.EqualValues(t, 1, testutil.ToFloat64(counterVecOf(t, h, "gateway_livechat_offers_total", "declined")))
	require.GreaterOrEqual(t, testutil.ToFloat64(counterVecOf(t, h, "gateway_livechat_offers_total", "accepted")), 1.0)

	logs := h.Log.String()
	for _, msg := range []string{"livechat: presence", "livechat: offer", "livechat: declined", "livechat: accepted", "livechat: transferred"} {
		require.Contains(t, logs, `"msg":"`+msg+`"`)
	}
	require.Contains(t, logs, `"to":"away"`)
	for _, pii := range []string{"13912345678", "310101199001011234", "my phone", "zebra"} {
		require.NotContains(t, logs, pii, "no message text, phone or ID number in the log")
	}
}

// counterOf finds a collector by metric name among the hub's.
func counterOf(t *testing.T, h *lt.Hub, name string) prometheus.Collector {
	t.Helper()
	for _, c := range h.Collectors() {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if strings.Contains(d.String(), `"`+name+`"`) {
				return c
			}
		}
	}
	t.Fatalf("no collector %s", name)
	return nil
}

func counterVecOf(t *testing.T, h *lt.Hub, name, label string) prometheus.Collector {
	t.Helper()
	v, ok := counterOf(t, h, name).(*prometheus.CounterVec)
	require.True(t, ok)
	return v.WithLabelValues(label)
}
