package livechat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// noFrameLimits turns the chat's rate limits off, for tests whose floods
// measure something else (on a fake clock that never refills a bucket).
func noFrameLimits(c *livechat.Config) {
	c.MessageRate, c.SignalRate, c.TypingInterval, c.AbuseRefusals = 0, 0, 0, 0
}

// metricValue sums a counter or gauge of the hub's collectors over the
// series whose labels include want.
func metricValue(t *testing.T, h *lt.Hub, name string, want map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collectors()...)
	fams, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// refusedDial dials and requires the handshake to be refused with status and
// the contract's error body carrying code.
func refusedDial(t *testing.T, h *lt.Hub, path, token string, status int, code string) {
	t.Helper()
	_, resp, err := lt.Dial(t, h.Base, path, token, nil)
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, status, resp.StatusCode)
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(b, &body), string(b))
	require.Equal(t, code, body.Error.Code)
	require.NotEmpty(t, body.Error.Message)
}

// One client could open sockets until the process ran out of descriptors:
// now a socket over a cap is refused before the upgrade with an answer the
// client can read, and a closed socket gives its slot back.
func TestWebsocketCaps(t *testing.T) {
	tests := []struct {
		name   string
		tune   func(*livechat.Config)
		tokens func(h *lt.Hub, i int) string // the token of the i-th socket
		n      int                           // sockets accepted before the refusal
		status int
		code   string
		reason string
		other  func(h *lt.Hub) string // still accepted beside the refused one ("": none)
	}{
		{"per ip", func(c *livechat.Config) { c.MaxConnectionsPerIP, c.MaxConnectionsPerToken = 3, 0 },
			func(h *lt.Hub, i int) string { return h.CitizenToken("ip-" + itoa(i)) }, 3,
			http.StatusTooManyRequests, "rate_limited", "per_ip", nil},
		{"per token", func(c *livechat.Config) { c.MaxConnectionsPerIP, c.MaxConnectionsPerToken = 0, 2 },
			func(h *lt.Hub, _ int) string { return h.CitizenToken("tabs") }, 2,
			http.StatusTooManyRequests, "rate_limited", "per_token", func(h *lt.Hub) string { return h.CitizenToken("someone-else") }},
		{"in all", func(c *livechat.Config) { c.MaxConnections, c.MaxConnectionsPerIP, c.MaxConnectionsPerToken = 2, 0, 0 },
			func(h *lt.Hub, i int) string { return h.CitizenToken("all-" + itoa(i)) }, 2,
			http.StatusServiceUnavailable, "unavailable", "total", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", tc.tune)
			var open []*lt.Client
			for i := range tc.n {
				open = append(open, lt.MustDial(t, h.Base, "/v1/ws/citizen", tc.tokens(h, i)))
			}
			refusedDial(t, h, "/v1/ws/citizen", tc.tokens(h, tc.n), tc.status, tc.code)
			require.EqualValues(t, 1, metricValue(t, h, "gateway_websocket_refused_total", map[string]string{"reason": tc.reason}))
			require.EqualValues(t, tc.n, metricValue(t, h, "gateway_websockets_open", nil))
			if tc.other != nil {
				lt.MustDial(t, h.Base, "/v1/ws/citizen", tc.other(h))
			}
			// The slot comes back once the hub has let go of a closed socket.
			open[0].WS.Close()
			require.Eventually(t, func() bool {
				c, _, err := lt.Dial(t, h.Base, "/v1/ws/citizen", tc.tokens(h, tc.n), nil)
				if err == nil {
					c.WS.Close()
				}
				return err == nil
			}, wait, 5*time.Millisecond)
		})
	}
}

// Through the whole gateway: the client IP as the channels see it, the
// contract's error body with Retry-After, the metrics, and /healthz still
// answering while the websockets are at their cap.
func TestWebsocketCapsThroughTheGateway(t *testing.T) {
	g := lt.Start(t, "GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=2")
	for range 2 {
		g.MustDial(t, "/v1/ws/citizen", g.CitizenToken(t))
	}
	_, resp, err := g.Dial(t, "/v1/ws/citizen", g.CitizenToken(t), nil)
	require.Error(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "30", resp.Header.Get("Retry-After"))
	b, _ := io.ReadAll(resp.Body)
	require.Contains(t, string(b), `"code":"rate_limited"`)

	for _, path := range []string{"/healthz", "/metrics"} {
		r, err := http.Get(g.Base + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		require.Equal(t, http.StatusOK, r.StatusCode, path)
		if path == "/metrics" {
			require.Contains(t, string(body), `gateway_websocket_refused_total{reason="per_ip"} 1`)
			require.Contains(t, string(body), "gateway_websockets_open 2")
		}
	}
}

// A socket refused for its token gives back the slot it held meanwhile.
func TestWebsocketCapsBadTokenGivesItsSlotBack(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", func(c *livechat.Config) { c.MaxConnectionsPerIP = 1 })
	for range 3 {
		c, _, err := lt.Dial(t, h.Base, "/v1/ws/citizen", "x.y", nil)
		require.NoError(t, err)
		require.Equal(t, livechat.CloseAuth, closeCode(t, c))
	}
	lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("good"))
}

// The default cap keeps descriptors for HTTP, the store and Kafka.
func TestCapFromFileLimit(t *testing.T) {
	tests := []struct {
		limit uint64
		want  int
	}{
		{1024, 768},       // 256 kept
		{4096, 3687},      // 10 % kept
		{65536, 58983},    // 10 % kept
		{1048576, 943719}, // 10 % kept
		{300, 150},        // too small for 256: half
		{1, 1},
		{1 << 62, 1 << 30},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, livechat.CapFromFileLimit(tc.limit), "limit %d", tc.limit)
	}
}

// activePair has agent a1 accept sub's session; it returns both clients and
// the session id.
func activePair(t *testing.T, h *lt.Hub, sub string) (agent, cit *lt.Client, sid string) {
	t.Helper()
	agent = agentUp(t, h, "a1")
	cit, sid = citizenUp(t, h, sub)
	require.Equal(t, sid, agent.Expect(livechat.TypeOffer, wait).SessionID)
	agent.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	agent.Expect(livechat.TypeSession, wait)
	return agent, cit, sid
}

// Messages: a burst per side of a session, then rate_limited error frames
// until the bucket refills; the other side keeps its own budget.
func TestChatMessagesAreRateLimited(t *testing.T) {
	clock := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:2", clock, "", func(c *livechat.Config) {
		c.MessageRate, c.MessageBurst, c.AbuseRefusals = 1, 3, 0
	})
	agent, cit, sid := activePair(t, h, "chatty")
	for i := range 3 {
		cit.SendData(livechat.TypeMessage, sid, "c"+itoa(i), map[string]string{"text": "hello " + itoa(i)})
		require.Equal(t, "c"+itoa(i), cit.ExpectFrom("citizen", wait).ID)
	}
	cit.SendData(livechat.TypeMessage, sid, "c3", map[string]string{"text": "one too many"})
	e := cit.Expect(livechat.TypeError, wait)
	require.Equal(t, "c3", e.ID)
	require.Equal(t, livechat.CodeRateLimited, lt.Data(t, e)["code"])
	require.EqualValues(t, 1, lt.Data(t, e)["retry_after_s"])
	require.EqualValues(t, 1, metricValue(t, h, "gateway_chat_frames_rate_limited_total", map[string]string{"type": "message", "side": "citizen"}))

	// The agent's budget is its own.
	for i := range 3 {
		agent.SendData(livechat.TypeMessage, sid, "a"+itoa(i), map[string]string{"text": "reply " + itoa(i)})
		require.Equal(t, "a"+itoa(i), cit.ExpectFrom("agent", wait).ID)
	}

	clock.Advance(time.Second) // one more token
	cit.SendData(livechat.TypeMessage, sid, "c4", map[string]string{"text": "later"})
	require.Equal(t, "c4", cit.ExpectFrom("citizen", wait).ID)
}

// Typing is coalesced: one frame per side and interval reaches the other
// side, the rest are dropped silently (no error frame).
func TestTypingIsCoalesced(t *testing.T) {
	clock := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:2", clock, "")
	agent, cit, sid := activePair(t, h, "typist")
	tests := []struct {
		name     string
		from, to *lt.Client
		id       string
	}{
		{"citizen to agent", cit, agent, "c-after-typing"},
		{"agent to citizen", agent, cit, "a-after-typing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				tc.from.SendData(livechat.TypeTyping, sid, "", map[string]bool{"typing": true})
			}
			// A message after the burst arrives after whatever typing
			// frames were relayed: count them up to it.
			tc.from.SendData(livechat.TypeMessage, sid, tc.id, map[string]string{"text": "done typing"})
			typing := 0
			for {
				f, ok := tc.to.Next(wait)
				require.True(t, ok, "no message after the typing burst")
				if f.Type == livechat.TypeTyping {
					typing++
				}
				if f.Type == livechat.TypeMessage && f.ID == tc.id {
					break
				}
				require.NotEqual(t, livechat.TypeError, f.Type)
			}
			require.Equal(t, 1, typing, "50 typing frames within a second relay as one")
			clock.Advance(time.Second)
			tc.from.SendData(livechat.TypeTyping, sid, "", map[string]bool{"typing": false})
			tc.to.Expect(livechat.TypeTyping, wait)
		})
	}
}

// A client that goes on over its limits is closed with 1008.
func TestAbuseClosesTheConnection(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", func(c *livechat.Config) {
		c.MessageRate, c.MessageBurst, c.AbuseRefusals, c.AbuseWindow = 1, 2, 3, time.Minute
	})
	cit, sid := citizenUp(t, h, "flooder")
	for i := range 100 {
		if cit.WriteFrame(livechat.Frame{Type: livechat.TypeMessage, SessionID: sid, ID: "f" + itoa(i), Data: []byte(`{"text":"spam"}`)}) != nil {
			break // closed meanwhile
		}
	}
	require.Equal(t, livechat.ClosePolicy, closeCode(t, cit))
	require.EqualValues(t, 1, metricValue(t, h, "gateway_chat_abuse_closes_total", map[string]string{"side": "citizen"}))
	// Back again: the transcript holds the first message and the burst,
	// nothing more, and the budget has outlived the connection.
	again := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("flooder"))
	zero := int64(0)
	again.Send(livechat.Frame{Type: livechat.TypeResume, SessionID: sid, LastSeq: &zero})
	again.SendData(livechat.TypeMessage, sid, "again", map[string]string{"text": "hello?"})
	stored := 0
	for {
		f, ok := again.Next(wait)
		require.True(t, ok, "no rate_limited error after the replay")
		if f.Type == livechat.TypeError {
			require.Equal(t, livechat.CodeRateLimited, lt.Data(t, f)["code"])
			break
		}
		if f.Type == livechat.TypeMessage && lt.Data(t, f)["from"] == "citizen" {
			stored++
		}
	}
	// The first message opened the session (on the sender's budget for
	// sessions not yet held); the session's burst of 2 follows it.
	require.Equal(t, 1+2, stored, "the first message and the burst were stored, nothing more")
}

// Made-up session ids buy no fresh budgets: frames naming a session the hub
// does not hold share the sender's one budget, and probing others'
// sessions ends in a close for abuse (a new budget per id let one socket
// flood without limit and fill the limiter with keys).
func TestMadeUpSessionsShareOneBudget(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", func(c *livechat.Config) {
		c.SignalRate, c.SignalBurst, c.AbuseRefusals, c.AbuseWindow = 1, 3, 5, time.Minute
	})
	cit, _ := citizenUp(t, h, "prober")
	for i := range 200 {
		if cit.WriteFrame(livechat.Frame{Type: livechat.TypeRTCOffer, SessionID: "made-up-" + itoa(i), ID: "p" + itoa(i), Data: []byte(`{}`)}) != nil {
			break // closed meanwhile
		}
	}
	require.Equal(t, livechat.ClosePolicy, closeCode(t, cit))
	require.EqualValues(t, 1, metricValue(t, h, "gateway_chat_abuse_closes_total", map[string]string{"side": "citizen"}))
}
