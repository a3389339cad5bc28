package livechat_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// dialBare opens a citizen websocket without a reading goroutine on the
// client side, so that the process's goroutines are the server's.
func dialBare(t *testing.T, h *lt.Hub, sub string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{ReadBufferSize: 256, WriteBufferSize: 256}
	ws, _, err := d.Dial("ws"+h.Base[len("http"):]+"/v1/ws/citizen?token="+h.CitizenToken(sub), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// TestIdleConnectionCost: a citizen waiting in the queue holds one goroutine
// (its reader) with a small stack; the writer exists only while there is
// something to send. 20,000 of them must fit in 16 KiB each (issue 3).
func TestIdleConnectionCost(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:5", clock.NewFake(t0), "")
	const n = 200
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for i := range n {
		ws := dialBare(t, h, fmt.Sprint("idle-", i))
		require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","data":{"channel":"web"}}`)))
		_, b, err := ws.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, livechat.TypeWelcome, frameType(b), string(b))
	}
	require.Eventually(t, func() bool { return runtime.NumGoroutine()-g0 <= n+2 }, 5*time.Second, 10*time.Millisecond,
		"an idle connection holds one goroutine: %d for %d connections", runtime.NumGoroutine()-g0, n)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if raceEnabled {
		return // the race detector's stacks are larger; the goroutine count above still holds
	}
	perConn := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	require.LessOrEqual(t, perConn, int64(6<<10), "stack bytes per idle connection")
}

// TestPings: the server pings idle connections; a client that answers stays
// connected, one that does not is closed after the pong wait.
func TestPings(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:5", clock.NewFake(t0), "", func(c *livechat.Config) {
		c.PingInterval = 50 * time.Millisecond
		c.PongWait = 300 * time.Millisecond
	})
	for _, tc := range []struct {
		name   string
		answer bool
	}{{"answering client stays", true}, {"silent client is closed", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ws := dialBare(t, h, "ping-"+tc.name)
			var pings atomic.Int32
			ws.SetPingHandler(func(data string) error {
				pings.Add(1)
				if tc.answer {
					return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
				}
				return nil
			})
			readErr := make(chan error, 1)
			go func() {
				for {
					if _, _, err := ws.ReadMessage(); err != nil {
						readErr <- err
						return
					}
				}
			}()
			select {
			case err := <-readErr:
				require.False(t, tc.answer, "closed although it answered: %v", err)
			case <-time.After(time.Second):
				require.True(t, tc.answer, "not closed without pongs")
			}
			require.GreaterOrEqual(t, pings.Load(), int32(4))
		})
	}
}

// Shutdown reaches every socket, also one that never said hello: the client
// is told to reconnect (1001) and Close does not wait for it to leave.
func TestCloseReachesConnectionsWithoutSession(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:5", clock.NewFake(t0), "")
	// Registered or refused as the hub closes: either way it hears 1001.
	c := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("silent"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, h.Hub.Close(ctx))
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, livechat.CloseGoingAway, closeCode(t, c))
}
