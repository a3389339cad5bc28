package livechat_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/logtest"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// relayed is a hub (the chat home) and a relaying node in front of it:
// clients dial Base, whose websockets reach the hub over one link.
type relayed struct {
	hub   *lt.Hub
	relay *livechat.Relay
	home  string // the address of the hub's link route
	Base  string
}

// startRelayed starts them; relayMax is the relaying node's
// livechat.max_connections.
func startRelayed(t *testing.T, relayMax int, tune ...func(*livechat.Config)) *relayed {
	t.Helper()
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", tune...)
	home := echo.New()
	home.GET(livechat.LinkPath, func(c echo.Context) error { return h.ServeLink(c, "node-b") })
	homeSrv := httptest.NewServer(home)
	t.Cleanup(homeSrv.Close)

	logs := &logtest.Buffer{}
	cfg := configs.Default().LiveChat
	cfg.MaxConnections = relayMax
	r := livechat.NewRelay(cfg, logs.Logger(), func(ctx context.Context, addr string) (*websocket.Conn, error) {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+livechat.LinkPath, nil)
		return ws, err
	})
	rt := &relayed{hub: h, relay: r, home: strings.TrimPrefix(homeSrv.URL, "http://")}
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	// /v1/ws/nothing: a path the home has no websocket at.
	for _, path := range []string{"/v1/ws/citizen", "/v1/ws/agent", "/v1/ws/nothing"} {
		e.GET(path, func(c echo.Context) error { return r.Serve(c, rt.home, c.RealIP()) })
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, r.Close(ctx))
		srv.Close()
	})
	rt.Base = srv.URL
	return rt
}

func (rt *relayed) open(t *testing.T) int {
	return int(metricValue(t, rt.hub, "gateway_websockets_open", nil))
}

// A chat through a relaying node is the chat of the hub: the welcome, the
// first message's echo, the agent's offer, frames both ways.
func TestRelayCarriesAChat(t *testing.T) {
	rt := startRelayed(t, 0)
	agent := lt.MustDial(t, rt.Base, "/v1/ws/agent", rt.hub.AgentToken("a1"))
	citizen := lt.MustDial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("c1"))
	sid := citizen.OpenSession(nil, "路灯坏了")
	offer := agent.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, offer.SessionID)
	agent.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	require.EqualValues(t, 1, agent.Expect(livechat.TypeMessage, wait).Seq) // the transcript so far
	agent.SendData(livechat.TypeMessage, sid, "a-1", map[string]string{"text": "马上派人"})
	got := citizen.ExpectFrom("agent", wait)
	require.Equal(t, sid, got.SessionID)
	require.Equal(t, "马上派人", lt.Data(t, got)["text"])
	require.Equal(t, 2, rt.open(t))
}

// What the hub refuses reaches the client as the hub said it: an HTTP
// answer with the contract's body before the upgrade, a close code after.
func TestRelayPassesOnRefusals(t *testing.T) {
	rt := startRelayed(t, 0, func(c *livechat.Config) {
		c.MaxConnectionsPerIP = 2
		c.AllowedOrigins = []string{"https://console.hotline.example"}
	})
	first := lt.MustDial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("c1"))

	_, resp, err := lt.Dial(t, rt.Base, "/v1/ws/agent", rt.hub.AgentToken("a1"), http.Header{"Origin": {"https://evil.example"}})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	_, resp, err = lt.Dial(t, rt.Base, "/v1/ws/nothing", rt.hub.CitizenToken("c9"), nil)
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	bad, _, err := lt.Dial(t, rt.Base, "/v1/ws/citizen", "x.y", nil)
	require.NoError(t, err)
	require.Equal(t, livechat.CloseAuth, closeCode(t, bad))

	lt.MustDial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("c2"))
	_, resp, err = lt.Dial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("c3"), nil)
	require.Error(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)

	// A slot comes back once the hub has let go of a relayed socket.
	first.WS.Close()
	require.Eventually(t, func() bool {
		c, _, err := lt.Dial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("c3"), nil)
		if err == nil {
			c.WS.Close()
		}
		return err == nil
	}, wait, 5*time.Millisecond)
}

// Every way a relayed websocket ends tells its client to reconnect (1001),
// and the hub lets go of it.
func TestRelayClosesItsClients(t *testing.T) {
	tests := []struct {
		name   string
		end    func(rt *relayed)
		reason string
	}{
		{"the relaying node stops", func(rt *relayed) { rt.relay.CloseNotTo("") }, "server restarting"},
		{"another node is the home", func(rt *relayed) { rt.relay.CloseNotTo("elsewhere:1") }, "server restarting"},
		{"the home drops the link of a node gone silent", func(rt *relayed) { rt.hub.CloseLinksNotFrom(nil) }, "connection to the server lost"},
		{"the home stops", func(rt *relayed) { rt.hub.Stop() }, "server restarting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := startRelayed(t, 0)
			c := lt.MustDial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("c1"))
			c.Hello(nil)
			require.Equal(t, 1, rt.open(t))
			tc.end(rt)
			require.Equal(t, livechat.CloseGoingAway, closeCode(t, c))
			var ce *websocket.CloseError
			require.ErrorAs(t, c.Err, &ce)
			require.Contains(t, ce.Text, tc.reason)
			require.Eventually(t, func() bool { return rt.open(t) == 0 }, wait, time.Millisecond)
		})
	}
}

// The cap in all guards a node's descriptors: the home does not count the
// websockets another node relays (they hold none of its descriptors), and
// the relaying node caps its own.
func TestRelayCaps(t *testing.T) {
	tests := []struct {
		name              string
		homeMax, relayMax int
		accepted          int
		refusedWithStatus int // 0: the next one is accepted too
	}{
		{"the home's cap counts its own sockets only", 1, 0, 3, 0},
		{"the relaying node caps its sockets", 0, 2, 2, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := startRelayed(t, tc.relayMax, func(c *livechat.Config) {
				c.MaxConnections, c.MaxConnectionsPerIP, c.MaxConnectionsPerToken = tc.homeMax, 0, 0
			})
			for i := range tc.accepted {
				lt.MustDial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("c"+itoa(i)))
			}
			c, resp, err := lt.Dial(t, rt.Base, "/v1/ws/citizen", rt.hub.CitizenToken("next"), nil)
			if tc.refusedWithStatus == 0 {
				require.NoError(t, err)
				c.WS.Close()
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.refusedWithStatus, resp.StatusCode)
			require.Equal(t, tc.accepted, rt.open(t))
			reg := prometheus.NewRegistry()
			reg.MustRegister(rt.relay.Collectors()...)
			n, err := testutil.GatherAndCount(reg, "gateway_websockets_relayed", "gateway_websockets_relayed_refused_total")
			require.NoError(t, err)
			require.Equal(t, 2, n)
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gateway_websockets_relayed_refused_total Websockets this node refused to relay to the chat home: it holds as many as its cap (livechat.max_connections or its file limit).
# TYPE gateway_websockets_relayed_refused_total counter
gateway_websockets_relayed_refused_total 1
`), "gateway_websockets_relayed_refused_total"))
			require.Equal(t, float64(tc.accepted), testutil.ToFloat64(rt.relay.Collectors()[1]))
		})
	}
}
