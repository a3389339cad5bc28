package livechat_test

import (
	"errors"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// The gateway restarts mid-conversation: the session, its transcript and its
// assignment survive, and both sides resume without loss or duplicates.
func TestRestartMidConversation(t *testing.T) {
	env := []string{"GATEWAY_AGENTS=a1:pw:general:3"}
	g := lt.Start(t, env...)
	citTok := g.CitizenToken(t)
	a1 := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	a1.Expect(livechat.TypeWelcome, wait)
	cit := g.MustDial(t, "/v1/ws/citizen", citTok)
	sid := cit.OpenSession(nil, "一") // seq 1, echoed
	a1.Expect(livechat.TypeOffer, wait)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a1.SendData(livechat.TypeMessage, sid, "a1", map[string]string{"text": "二"})
	for seq := int64(1); seq <= 3; seq++ { // message, receipt, reply
		if seq > 1 {
			require.EqualValues(t, seq, cit.Expect(livechat.TypeMessage, wait).Seq)
		}
		require.EqualValues(t, seq, a1.Expect(livechat.TypeMessage, wait).Seq)
	}

	g.Stop(t)
	// Both clients are told to reconnect.
	<-cit.Done
	<-a1.Done

	g2 := lt.StartIn(t, g.Dir, env...)
	a1 = g2.MustDial(t, "/v1/ws/agent", g2.AgentToken(t, "a1", "pw"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available", "sessions": map[string]int{sid: 2}})
	w := lt.Data(t, a1.Expect(livechat.TypeWelcome, wait))
	sessions := w["sessions"].([]any)
	require.Len(t, sessions, 1, "the assignment survives")
	require.Equal(t, "active", sessions[0].(map[string]any)["state"])
	require.EqualValues(t, 3, a1.Expect(livechat.TypeMessage, wait).Seq, "the agent gets only what it missed")

	cit = g2.MustDial(t, "/v1/ws/citizen", citTok) // the token survives: auth.token_secret is configured
	last := int64(2)
	cit.Send(livechat.Frame{Type: livechat.TypeHello, SessionID: sid, LastSeq: &last, Data: []byte(`{"channel":"web"}`)})
	require.Equal(t, "active", lt.Data(t, cit.Expect(livechat.TypeWelcome, wait))["state"])
	require.EqualValues(t, 3, cit.Expect(livechat.TypeMessage, wait).Seq)
	cit.SendData(livechat.TypeMessage, sid, "c2", map[string]string{"text": "三"})
	require.EqualValues(t, 4, cit.Expect(livechat.TypeMessage, wait).Seq)
	require.EqualValues(t, 4, a1.Expect(livechat.TypeMessage, wait).Seq)
}

// A client that never reads is disconnected without slowing anyone else:
// the same flood is sent once to a client that reads and once to one that
// does not; the latency of an unrelated conversation must stay within 10 %.
func TestSlowConsumerDoesNotSlowOthers(t *testing.T) {
	// No fsync: what is compared is the hub's fan-out, and a disk stall in
	// one round but not the other would decide the comparison.
	h := lt.StartHubNoSync(t, "a1:p:general:1,a2:p:general:50", clock.NewFake(t0), "", func(c *livechat.Config) { c.SendQueue = 64 }, noFrameLimits)
	a1 := agentUp(t, h, "a1")
	_, sidFast := citizenUp(t, h, "fast")
	a1.Expect(livechat.TypeOffer, wait)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sidFast})
	a1.Expect(livechat.TypeSession, wait)
	fast := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("fast"))
	fast.Send(livechat.Frame{Type: livechat.TypeHello, SessionID: sidFast, Data: []byte(`{"channel":"web"}`)})
	fast.Expect(livechat.TypeWelcome, wait)
	a2 := agentUp(t, h, "a2")

	measure := func(n int) time.Duration {
		var lat []time.Duration
		for i := range n {
			start := time.Now()
			a1.SendData(livechat.TypeMessage, sidFast, "m"+itoa(i), map[string]string{"text": "ping"})
			fast.Expect(livechat.TypeMessage, wait)
			lat = append(lat, time.Since(start))
			a1.Expect(livechat.TypeMessage, wait) // the echo
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat[len(lat)/2]
	}
	// The flood is relayed signalling (large, not stored), so that it
	// measures fan-out and not the disk.
	big := strings.Repeat("x", 48<<10)
	run := func(name string, reading bool) (time.Duration, error) {
		_, sid := citizenUp(t, h, name)
		for a2.Expect(livechat.TypeOffer, wait).SessionID != sid {
		}
		a2.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
		a2.Expect(livechat.TypeSession, wait)
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(h.Base, "http")+"/v1/ws/citizen?token="+h.CitizenToken(name), nil)
		require.NoError(t, err)
		defer ws.Close()
		require.NoError(t, ws.WriteJSON(livechat.Frame{Type: livechat.TypeHello, SessionID: sid, Data: []byte(`{"channel":"web"}`)}))
		readErr := make(chan error, 1)
		if reading {
			go func() {
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						readErr <- err
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 400; i++ {
				if a2.WriteFrame(livechat.Frame{Type: livechat.TypeRTCICE, SessionID: sid, Data: []byte(`{"candidate":"` + big + `"}`)}) != nil {
					return
				}
			}
		}()
		med := measure(100)
		<-done
		if reading {
			return med, nil
		}
		// Now read: the server must have cut this client off.
		_ = ws.SetReadDeadline(time.Now().Add(2 * wait))
		var closeErr error
		for closeErr == nil {
			_, _, closeErr = ws.ReadMessage()
		}
		return med, closeErr
	}
	measure(20) // warm up
	// Rounds alternate so that load from elsewhere on the machine hits both
	// conditions alike; the best round of each is compared.
	base, loaded := time.Hour, time.Hour
	var closeErr error
	for i := range 3 {
		b, _ := run("reader"+itoa(i), true)
		l, err := run("sleeper"+itoa(i), false)
		base, loaded, closeErr = min(base, b), min(loaded, l), err
	}
	t.Logf("median latency of another conversation: %v beside a reading client, %v beside a client that never reads", base, loaded)
	require.LessOrEqual(t, loaded, base+base/10+time.Millisecond, "a slow consumer must not slow others by more than 10%% (+1 ms timer noise)")
	var ce *websocket.CloseError
	if errors.As(closeErr, &ce) {
		require.Contains(t, []int{livechat.CloseSlow, websocket.CloseAbnormalClosure}, ce.Code)
	} else {
		var ne net.Error
		require.False(t, errors.As(closeErr, &ne) && ne.Timeout(), "the server must disconnect a client that does not read: %v", closeErr)
	}
}
