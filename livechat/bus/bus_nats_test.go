package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat/bus"
	"github.com/hotline12345/gateway/livechat/bus/bustest"
)

func TestConformanceNATS(t *testing.T) {
	bustest.Run(t, func(t testing.TB, n int) []bus.Bus {
		nodes := natsCluster(t, n)
		out := make([]bus.Bus, n)
		for i, b := range nodes {
			out[i] = b
		}
		return out
	}, bustest.Features{MaxPayload: bus.MaxPayloadNATS})
}

// natsCluster starts n embedded servers on free loopback ports, each routed
// to the ones started before it (NATS completes the mesh), and returns once
// every server is routed to all the others.
func natsCluster(t testing.TB, n int) []*bus.NATS {
	t.Helper()
	nodes := make([]*bus.NATS, n)
	var addrs []string
	for i := range n {
		b, err := bus.NewNATS(context.Background(), bus.NATSConfig{
			NodeID: fmt.Sprintf("node-%d", i+1),
			Listen: "127.0.0.1:0",
			Peers:  append([]string(nil), addrs...),
			Secret: "route-secret",
		})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close(context.Background())) })
		nodes[i] = b
		addrs = append(addrs, b.Addr().String())
	}
	bustest.Eventually(t, 10*time.Second, func() bool {
		for _, b := range nodes {
			if b.Peers() != n-1 {
				return false
			}
		}
		return true
	}, "routes not up")
	return nodes
}

func TestNATSConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  bus.NATSConfig
		err  string
	}{
		{"one node", bus.NATSConfig{}, ""},
		{"cluster", bus.NATSConfig{Listen: "0.0.0.0:6222", Peers: []string{"10.0.0.2:6222"}}, ""},
		{"peers without listen", bus.NATSConfig{Peers: []string{"10.0.0.2:6222"}}, "cluster.listen"},
		{"bad listen", bus.NATSConfig{Listen: "6222"}, "cluster.listen"},
		{"bad peer", bus.NATSConfig{Listen: ":6222", Peers: []string{"10.0.0.2:x"}}, "cluster.peers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

// Without cluster.listen the bus is one node's, and no port is opened.
func TestNATSOneNode(t *testing.T) {
	b, err := bus.NewNATS(context.Background(), bus.NATSConfig{NodeID: "solo"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close(context.Background())) })
	require.Nil(t, b.Addr())
	rec, _ := bustest.Subscribe(t, b, "solo.chat")
	require.NoError(t, b.Publish(context.Background(), "solo.chat", []byte("hi")))
	bustest.Eventually(t, 5*time.Second, func() bool { return rec.Len() == 1 })
}

// A server without the route secret is refused: the node it dials logs the
// refusal and never counts it as a peer (it checks the secret first).
func TestNATSRouteSecret(t *testing.T) {
	var logs lockedBuffer
	node, err := bus.NewNATS(context.Background(), bus.NATSConfig{
		NodeID: "node-1",
		Listen: "127.0.0.1:0",
		Secret: "route-secret",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, node.Close(context.Background())) })
	intruder, err := bus.NewNATS(context.Background(), bus.NATSConfig{
		NodeID: "intruder",
		Listen: "127.0.0.1:0",
		Peers:  []string{node.Addr().String()},
		Secret: "not-the-secret",
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, intruder.Close(context.Background())) })
	bustest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(strings.ToLower(logs.String()), "authentication error")
	}, "no refusal logged")
	require.Zero(t, node.Peers())
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The server cuts a client that falls behind (a slow consumer); the node's
// client connects again and its subscriptions deliver again.
func TestNATSClientCutOff(t *testing.T) {
	nodes := natsCluster(t, 2)
	rec, _ := bustest.Subscribe(t, nodes[1], "cut")
	bustest.Connect(t, nodes[0], "cut", rec)
	require.NoError(t, nodes[1].KickClient())
	bustest.Eventually(t, 10*time.Second, func() bool { return nodes[1].Reconnects() == 1 }, "not reconnected")
	n := 0
	bustest.Eventually(t, 10*time.Second, func() bool {
		n++
		require.NoError(t, nodes[0].Publish(context.Background(), "cut", fmt.Appendf(nil, "after %d", n)))
		return rec.Len() > 0
	}, "no frame after the client was cut off")
	// The cut node publishes again too.
	back, _ := bustest.Subscribe(t, nodes[0], "back")
	bustest.Connect(t, nodes[1], "back", back)
}

// A cluster.listen already taken fails the start, within StartTimeout.
func TestNATSListenTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, err = bus.NewNATS(context.Background(), bus.NATSConfig{Listen: l.Addr().String(), StartTimeout: 500 * time.Millisecond})
	require.ErrorContains(t, err, "not ready")
}
