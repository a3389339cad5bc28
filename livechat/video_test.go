package livechat_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/connectors/turn"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// alwaysOpen keeps calendar edges out of tests that are not about them.
const alwaysOpen = "GATEWAY_SIGN_LANGUAGE_CALENDAR=Mon-Sun 00:00-24:00 UTC"

// videoCitizen asks for a video session over REST, then opens it on the
// citizen websocket as the answer says.
func videoCitizen(t *testing.T, g *lt.Gateway) (c *lt.Client, answer map[string]any, welcome livechat.Frame) {
	t.Helper()
	tok := g.CitizenToken(t)
	require.Equal(t, 200, g.PostJSON(t, "/v1/channels/sign-language/sessions", map[string]any{}, &answer, "Authorization", "Bearer "+tok))
	require.Equal(t, true, answer["open"], answer)
	require.Equal(t, "/v1/ws/citizen", answer["ws"])
	require.Equal(t, map[string]any{"channel": "web", "video": true}, answer["hello"])
	c = g.MustDial(t, answer["ws"].(string), tok)
	c.SendData(livechat.TypeHello, "", "", answer["hello"])
	return c, answer, c.Expect(livechat.TypeWelcome, wait)
}

func agentOn(t *testing.T, g *lt.Gateway, id string) *lt.Client {
	t.Helper()
	a := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, id, "pw"))
	a.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	a.Expect(livechat.TypeWelcome, wait)
	return a
}

// Two pion peers, a citizen and an agent, set up a data channel on loopback
// with the gateway's websockets as their only signalling path, and exchange
// a message. The video request's envelope, its first-response clock stopped
// by the acceptance, and the call's durations are published.
func TestVideoCallThroughGatewaySignalling(t *testing.T) {
	g := lt.Start(t, "GATEWAY_AGENTS=s1:pw:sign_language|general:3", alwaysOpen,
		"GATEWAY_SIGN_LANGUAGE_TURN_URLS=turn:127.0.0.1:3478?transport=udp", "GATEWAY_SIGN_LANGUAGE_TURN_SECRET=foobar",
		"GATEWAY_SIGN_LANGUAGE_STUN_URLS=stun:127.0.0.1:3478", "GATEWAY_SIGN_LANGUAGE_TURN_TTL=10m")
	agent := agentOn(t, g, "s1")
	cit, answer, w := videoCitizen(t, g)
	require.EqualValues(t, 1, answer["queue_position"])
	sid := w.SessionID
	wd := lt.Data(t, w)
	require.Equal(t, "queued", wd["state"])
	require.Equal(t, true, wd["video"])
	envID, _ := wd["envelope_id"].(string)
	require.NotEmpty(t, envID, "the video session's envelope exists from its opening")

	// The welcome's ICE servers: STUN, then TURN with REST credentials for this session.
	var ice []turn.ICEServer
	b, _ := json.Marshal(wd["ice_servers"])
	require.NoError(t, json.Unmarshal(b, &ice))
	require.Len(t, ice, 2)
	require.Equal(t, []string{"stun:127.0.0.1:3478"}, ice[0].URLs)
	require.Empty(t, ice[0].Username)
	require.True(t, strings.HasSuffix(ice[1].Username, ":"+sid), ice[1].Username)
	require.Equal(t, turn.Password("foobar", ice[1].Username), ice[1].Credential)
	var exp int64
	_, err := fmt.Sscanf(ice[1].Username, "%d:", &exp)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Add(10*time.Minute).Unix(), exp, 5)

	off := agent.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, off.SessionID)
	require.Equal(t, true, lt.Data(t, off)["video"])
	agent.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	require.Len(t, lt.Data(t, agent.Expect(livechat.TypeSession, wait))["ice_servers"], 2)
	waitActive(t, cit)

	// A console reloaded during the call (a second connection of the agent)
	// gets the ICE servers in its welcome, so it can rejoin the call.
	reload := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "s1", "pw"))
	reload.SendData(livechat.TypeHello, "", "", map[string]any{})
	views, _ := lt.Data(t, reload.Expect(livechat.TypeWelcome, wait))["sessions"].([]any)
	require.Len(t, views, 1)
	require.Len(t, views[0].(map[string]any)["ice_servers"], 2)
	reload.WS.Close()

	// The clock stops at the acceptance: the call is the first response.
	require.Eventually(t, func() bool {
		r, err := g.Intake().Request(envID)
		return err == nil && r.FirstResponseAt != nil
	}, wait, 5*time.Millisecond)

	lt.VideoCall(t, agent, cit, sid, wait)

	agent.Send(livechat.Frame{Type: livechat.TypeClose, SessionID: sid})
	cit.Expect(livechat.TypeClose, wait)

	envs := g.Consume(t, "intake.envelopes", 500*time.Millisecond)
	require.Len(t, envs, 1)
	lt.Validate(t, "envelope", envs[0].Raw)
	require.Equal(t, envID, envs[0].Value["id"])
	require.Equal(t, "sign_language", envs[0].Value["channel"])
	require.Equal(t, sid, envs[0].Value["session_id"])
	require.Equal(t, livechat.VideoEnvelopeText, envs[0].Value["content"].(map[string]any)["text"])
	seen := map[string]map[string]any{}
	for _, e := range g.Consume(t, "intake.events", 500*time.Millisecond) {
		lt.Validate(t, "event", e.Raw)
		typ := e.Value["type"].(string)
		if typ == "sla.met" || typ == "sla.breached" {
			typ += ":" + e.Value["data"].(map[string]any)["clock"].(string)
		}
		if e.Value["session_id"] == sid || e.Value["envelope_id"] == envID {
			require.Equal(t, "sign_language", e.Value["channel"], typ)
			seen[typ], _ = e.Value["data"].(map[string]any)
		}
	}
	for _, typ := range []string{"request.accepted", "session.opened", "session.queued", "session.offered", "session.assigned",
		"session.closed", "sla.met:first_response"} {
		require.Contains(t, seen, typ)
	}
	require.NotContains(t, seen, "sla.breached:first_response")
	closed := seen["session.closed"]
	require.Equal(t, true, closed["video"])
	require.GreaterOrEqual(t, closed["waited_s"], 0.0)
	require.Greater(t, closed["call_s"], 0.0)
}

// waitActive reads a citizen's queue frames until the session is active.
func waitActive(t *testing.T, c *lt.Client) {
	t.Helper()
	for lt.Data(t, c.Expect(livechat.TypeQueue, wait))["state"] != "active" {
		continue
	}
}

// queueAt reads a citizen's queue frames until one at position pos and
// returns its estimated wait.
func queueAt(t *testing.T, c *lt.Client, pos int) int {
	t.Helper()
	for {
		p, w := queueOf(t, c)
		if p == pos {
			return w
		}
	}
}

func citizenClaims(sub, channel string) tokens.Claims {
	return tokens.Claims{Sub: sub, Role: tokens.RoleCitizen, Channel: channel}
}

// queueOf reads a citizen's queue frames until one with state queued.
func queueOf(t *testing.T, c *lt.Client) (pos, wait int) {
	t.Helper()
	for {
		d := lt.Data(t, c.Expect(livechat.TypeQueue, 5*time.Second))
		if d["state"] == "queued" {
			return int(d["queue_position"].(float64)), int(d["estimated_wait_s"].(float64))
		}
	}
}

// Three sign-language agents and ten callers: the first three calls are
// offered at once, one per agent; the others wait in arrival order with
// positions 1..7 and estimated waits of position × the average handling time
// / 3 agents on duty (5 minutes until a call has ended), the same in the REST
// answer, the welcome and the queue frames. An agent on a call gets no chat
// offer; a freed agent gets the oldest waiting call, and the estimates then
// rest on the handling time of the call that ended.
func TestVideoQueueThreeAgentsTenCallers(t *testing.T) {
	g := lt.Start(t, "GATEWAY_AGENTS=s1:pw:sign_language|general:3,s2:pw:sign_language|general:3,s3:pw:sign_language|general:3", alwaysOpen)
	agents := map[string]*lt.Client{"s1": agentOn(t, g, "s1"), "s2": agentOn(t, g, "s2"), "s3": agentOn(t, g, "s3")}
	handling := 5 * time.Minute // until a call has ended
	estimate := func(pos int) int { return int((time.Duration(pos) * handling / 3).Seconds()) }

	type caller struct {
		c   *lt.Client
		sid string
	}
	var callers []caller
	offered := map[string]string{} // session → agent
	for i := range 10 {
		c, answer, w := videoCitizen(t, g)
		wd := lt.Data(t, w)
		callers = append(callers, caller{c, w.SessionID})
		if i < 3 {
			require.EqualValues(t, 1, answer["queue_position"], "caller %d", i+1)
			// Offered at once to a free agent: one call per agent.
			var got string
			require.Eventually(t, func() bool {
				for id, a := range agents {
					if f, ok := a.Next(10 * time.Millisecond); ok && f.Type == livechat.TypeOffer {
						require.Equal(t, w.SessionID, f.SessionID)
						require.Empty(t, offered[f.SessionID])
						got = id
						return true
					}
				}
				return false
			}, wait, 5*time.Millisecond)
			for _, a := range offered {
				require.NotEqual(t, a, got, "an agent with a call offered gets no second call")
			}
			offered[w.SessionID] = got
			continue
		}
		pos := i - 2
		require.EqualValues(t, pos, answer["queue_position"], "REST answer of caller %d", i+1)
		require.EqualValues(t, estimate(pos), answer["estimated_wait_s"], "REST answer of caller %d", i+1)
		require.EqualValues(t, pos, wd["queue_position"], "welcome of caller %d", i+1)
		require.EqualValues(t, estimate(pos), wd["estimated_wait_s"], "welcome of caller %d", i+1)
		require.EqualValues(t, 3, wd["agents_on_duty"], "welcome of caller %d", i+1)
		require.Equal(t, false, wd["no_agents"], "welcome of caller %d", i+1)
		p, e := queueOf(t, c)
		require.Equal(t, pos, p, "queue frame of caller %d", i+1)
		require.Equal(t, estimate(pos), e)
	}
	for _, cl := range callers[:3] {
		a := agents[offered[cl.sid]]
		a.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: cl.sid})
		require.Equal(t, "active", lt.Data(t, a.Expect(livechat.TypeSession, wait))["state"])
		waitActive(t, cl.c)
	}

	// A text chat arriving now (its first message opens it) is not offered
	// to any agent on a call.
	chat := g.MustDial(t, "/v1/ws/citizen", g.CitizenToken(t))
	chat.OpenSession(nil, "你好")
	cw := lt.Data(t, chat.Expect(livechat.TypeQueue, wait))
	require.Equal(t, "queued", cw["state"])
	for _, a := range agents {
		noFrame(t, a, livechat.TypeOffer, 100*time.Millisecond)
	}

	// s1 hangs up: the oldest waiting call (caller 4) goes to s1, not the
	// chat; everyone behind moves up one place.
	var s1Call string
	for sid, a := range offered {
		if a == "s1" {
			s1Call = sid
		}
	}
	agents["s1"].Send(livechat.Frame{Type: livechat.TypeClose, SessionID: s1Call})
	next := agents["s1"].Expect(livechat.TypeOffer, wait)
	require.Equal(t, callers[3].sid, next.SessionID)
	// The one call that ended is the average handling time now, but never
	// less than a minute: a quick call does not promise no wait.
	ended, ok := g.Hub().SessionInfo(s1Call)
	require.True(t, ok)
	require.NotNil(t, ended.ClosedAt)
	handling = max(ended.ClosedAt.Sub(*ended.AssignedAt), time.Minute)
	for i := 4; i < 10; i++ {
		require.Equal(t, estimate(i-3), queueAt(t, callers[i].c, i-3), "caller %d after one call ended", i+1)
	}
	noFrame(t, agents["s1"], livechat.TypeOffer, 100*time.Millisecond)
	_, n := g.Hub().AgentState("s1")
	require.Zero(t, n, "the offered call is not active until accepted")
}

// Only the citizen and the assigned agent can signal in a video session:
// another citizen, an agent who is not assigned, and the offered agent
// before accepting are refused and reach no one. Relayed frames arrive in
// order with their data untouched.
func TestRTCFramesOnlyBetweenTheParties(t *testing.T) {
	h := lt.StartHub(t, "a1:p:sign_language:1,a2:p:sign_language|general:2", clock.NewFake(t0), "")
	a1 := agentUp(t, h, "a1")
	alice := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("alice"))
	alice.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web", "video": true})
	sid := alice.Expect(livechat.TypeWelcome, wait).SessionID
	require.Equal(t, sid, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a2 := agentUp(t, h, "a2")
	mallory := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("mallory"))
	appAlice := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.Tokens.Issue(citizenClaims("alice", "app"), time.Hour))

	rtc := func(typ string) livechat.Frame {
		return livechat.Frame{Type: typ, SessionID: sid, Data: []byte(`{"sdp":"v=0\r\n","type":"offer"}`)}
	}
	refused := func(c *lt.Client, who string) {
		t.Helper()
		for _, typ := range []string{livechat.TypeRTCOffer, livechat.TypeRTCAns, livechat.TypeRTCICE} {
			c.Send(rtc(typ))
			e := c.Expect(livechat.TypeError, wait)
			require.Equal(t, "forbidden", lt.Data(t, e)["code"], "%s %s", who, typ)
		}
	}
	refused(a1, "offered agent before accepting")
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a1.Expect(livechat.TypeSession, wait)
	refused(a2, "agent not assigned")
	refused(mallory, "another citizen")
	refused(appAlice, "same subject on another channel")
	for _, c := range []*lt.Client{alice, a1} {
		noFrame(t, c, livechat.TypeRTCOffer, 50*time.Millisecond)
	}

	// The parties' frames: in order, data untouched, to the other party only.
	const n = 50
	for i := range n {
		alice.Send(livechat.Frame{Type: livechat.TypeRTCICE, SessionID: sid, ID: fmt.Sprint(i),
			Data: []byte(fmt.Sprintf(`{"candidate":{"candidate":"candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host","sdpMid":"0","sdpMLineIndex":0}}`, i, 50000+i))})
	}
	for i := range n {
		f := a1.Expect(livechat.TypeRTCICE, wait)
		require.Equal(t, fmt.Sprint(i), f.ID)
		require.JSONEq(t, fmt.Sprintf(`{"candidate":{"candidate":"candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host","sdpMid":"0","sdpMLineIndex":0}}`, i, 50000+i), string(f.Data))
	}
	a1.Send(rtc(livechat.TypeRTCOffer))
	got := alice.Expect(livechat.TypeRTCOffer, wait)
	require.JSONEq(t, `{"sdp":"v=0\r\n","type":"offer"}`, string(got.Data))
	for _, c := range []*lt.Client{a2, mallory, appAlice} {
		noFrame(t, c, livechat.TypeRTCICE, 50*time.Millisecond)
		noFrame(t, c, livechat.TypeRTCOffer, 10*time.Millisecond)
	}
	noFrame(t, alice, livechat.TypeRTCICE, 50*time.Millisecond) // not echoed to the sender
}
