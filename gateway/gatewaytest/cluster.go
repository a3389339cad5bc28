package gatewaytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/internal/pgtest"
)

// ClusterTokenSecret is the auth.token_secret every node of a Cluster shares.
const ClusterTokenSecret = "gatewaytest-cluster-token-secret-0123456789"

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Nodes is the number of gateway processes; 0 means 3.
	Nodes int
	// Env holds extra NAME=value entries given to every node; they override
	// the harness's own settings.
	Env []string
	// Standby gives PostgreSQL a synchronous standby (see pgtest.Options),
	// for failover tests through Cluster.Postgres.
	Standby bool
	// StoreProxies puts a TCP proxy of its own between each node and each
	// PostgreSQL server (GATEWAY_STORE_URL names the proxies), so that a
	// test can cut one node off the shared store with Cluster.CutStore
	// while the others go on.
	StoreProxies bool
}

// Cluster is the gateway in cluster mode (contract §8): N gateway processes
// sharing one PostgreSQL and one Kafka-wire broker, the broker running in
// the test process as an external cluster would, behind a TCP load balancer
// without sticky sessions. Everything is stopped by t.Cleanup: the balancer,
// then the nodes, then the broker, then PostgreSQL.
type Cluster struct {
	t       testing.TB
	pg      *pgtest.Cluster
	broker  *kafka.Embedded
	nodes   []*Process
	lb      *balancer
	brokers string
	// storeProxies are each node's proxies to PostgreSQL, by node index
	// (0-based), with ClusterOptions.StoreProxies.
	storeProxies [][]*balancer
}

// StartCluster starts PostgreSQL (internal/pgtest), one Kafka-wire broker
// with the default topics, and o.Nodes gateway binaries with
// GATEWAY_STORE_URL, GATEWAY_KAFKA_BROKERS, GATEWAY_CLUSTER_NODE_ID=node-1…
// and a common GATEWAY_AUTH_TOKEN_SECRET; then a load balancer in front of
// them. It returns once every node's /readyz answers 200 and names the node.
// The nodes start one after the other, so the first creates the shared
// schema and secrets. Like Start, it skips the test (fails it under CI) when
// PostgreSQL is missing.
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	Binary(t) // fail on a broken build before starting servers
	c := &Cluster{t: t}
	// Cleanups run last first: registered PostgreSQL, broker, nodes,
	// balancer, they stop in the reverse order.
	c.pg = pgtest.Start(t, pgtest.Options{Standby: o.Standby})

	topics := configs.Default().Kafka.Topics
	broker, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: "127.0.0.1:0",
		Dir: filepath.Join(t.TempDir(), "kafka"), Partitions: 3},
		topics.Envelopes, topics.Events, topics.Tickets, topics.DeadLetter)
	if err != nil {
		t.Fatalf("gatewaytest: %v", err)
	}
	t.Cleanup(broker.Close)
	c.broker, c.brokers = broker, broker.Addr()

	for i := 1; i <= o.Nodes; i++ {
		dsn := c.pg.DSN()
		if o.StoreProxies {
			dsn = c.proxyStore(o.Standby)
		}
		env := []string{
			"GATEWAY_STORE_URL=" + dsn,
			"GATEWAY_CLUSTER_NODE_ID=" + NodeID(i),
			"GATEWAY_AUTH_TOKEN_SECRET=" + ClusterTokenSecret,
		}
		p := Start(t, Options{KafkaBrokers: c.brokers, Env: append(env, o.Env...)})
		if err := checkNode(p, NodeID(i)); err != nil {
			t.Fatalf("gatewaytest: %v", err)
		}
		c.nodes = append(c.nodes, p)
	}

	addrs := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		addrs[i] = p.HTTPAddr
	}
	c.lb, err = startBalancer(addrs)
	if err != nil {
		t.Fatalf("gatewaytest: %v", err)
	}
	t.Cleanup(c.lb.close)
	return c
}

// NodeID is the GATEWAY_CLUSTER_NODE_ID StartCluster gives node i (1-based).
func NodeID(i int) string { return fmt.Sprintf("node-%d", i) }

// checkNode confirms that p runs in cluster mode under the name id: its
// /readyz names it.
func checkNode(p *Process, id string) error {
	var ready struct{ Node string }
	resp, err := NewClient(1).HTTP.Get(p.URL("/readyz"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil {
		return fmt.Errorf("%s /readyz: %w", id, err)
	}
	if ready.Node != id {
		return fmt.Errorf("%s /readyz names node %q: not in cluster mode?", id, ready.Node)
	}
	return nil
}

// URL is path on the load balancer, which hands each new TCP connection to
// the next node (round robin, skipping nodes that refuse it). A keep-alive
// connection stays on its node: use Client to spread requests.
func (c *Cluster) URL(path string) string { return "http://" + c.lb.addr() + path }

// Client returns a client that opens a new connection for every request, so
// that successive requests through URL reach successive nodes.
func (c *Cluster) Client() *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &Client{HTTP: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

// Node is node i, 1-based as in its id NodeID(i), reached directly.
func (c *Cluster) Node(i int) *Process {
	c.t.Helper()
	if i < 1 || i > len(c.nodes) {
		c.t.Fatalf("gatewaytest: Node(%d) of a cluster of %d", i, len(c.nodes))
	}
	return c.nodes[i-1]
}

// Nodes is the number of nodes.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// KafkaAddr is the broker's address (GATEWAY_KAFKA_BROKERS of every node).
func (c *Cluster) KafkaAddr() string { return c.brokers }

// Postgres is the shared store's servers, e.g. for KillPrimary and Promote.
func (c *Cluster) Postgres() *pgtest.Cluster { return c.pg }

// proxyStore starts the next node's proxies to PostgreSQL (one per server)
// and returns pgtest's DSN with the proxies in place of the servers. The
// proxies stop after the node: t.Cleanup runs last first.
func (c *Cluster) proxyStore(standby bool) string {
	c.t.Helper()
	servers := []string{c.pg.PrimaryAddr()}
	if standby {
		servers = append(servers, c.pg.StandbyAddr())
	}
	var proxies []*balancer
	addrs := make([]string, len(servers))
	for i, s := range servers {
		p, err := startBalancer([]string{s})
		if err != nil {
			c.t.Fatalf("gatewaytest: store proxy: %v", err)
		}
		c.t.Cleanup(p.close)
		proxies = append(proxies, p)
		addrs[i] = p.addr()
	}
	c.storeProxies = append(c.storeProxies, proxies)
	// pgtest's DSN is postgres://user@host:port[,host:port]/db?params.
	dsn := c.pg.DSN()
	user, rest, ok1 := strings.Cut(dsn, "@")
	_, path, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 {
		c.t.Fatalf("gatewaytest: unexpected DSN shape %q", dsn)
	}
	return user + "@" + strings.Join(addrs, ",") + "/" + path
}

// CutStore cuts node i (1-based) off PostgreSQL: its proxies close every
// connection they carry and close each new one as soon as it is accepted
// (a refusal, as from a server that is down, rather than a silence, as
// from a lost route). The node itself keeps running. It needs
// ClusterOptions.StoreProxies.
func (c *Cluster) CutStore(i int) {
	c.t.Helper()
	for _, p := range c.nodeProxies(i, "CutStore") {
		p.block(true)
	}
}

// RestoreStore lets node i (1-based) reach PostgreSQL again after CutStore.
func (c *Cluster) RestoreStore(i int) {
	c.t.Helper()
	for _, p := range c.nodeProxies(i, "RestoreStore") {
		p.block(false)
	}
}

func (c *Cluster) nodeProxies(i int, method string) []*balancer {
	c.t.Helper()
	if c.storeProxies == nil {
		c.t.Fatalf("gatewaytest: %s needs ClusterOptions.StoreProxies", method)
	}
	if i < 1 || i > len(c.storeProxies) {
		c.t.Fatalf("gatewaytest: %s(%d) of a cluster of %d", method, i, len(c.storeProxies))
	}
	return c.storeProxies[i-1]
}

// balancer is a TCP load balancer: each accepted connection is joined to a
// connection to the next node in turn; a node whose dial fails is skipped.
type balancer struct {
	ln    net.Listener
	nodes []string
	wg    sync.WaitGroup // serve and every connection's goroutines

	mu      sync.Mutex
	next    int
	conns   map[net.Conn]struct{}
	closed  bool
	blocked bool // close every connection at once (block)
}

// dialTimeout bounds the balancer's dial of one node.
const dialTimeout = time.Second

func startBalancer(nodes []string) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("load balancer: %w", err)
	}
	b := &balancer{ln: ln, nodes: nodes, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

func (b *balancer) addr() string { return b.ln.Addr().String() }

func (b *balancer) serve() {
	defer b.wg.Done()
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return // closed
		}
		b.wg.Add(1)
		go b.proxy(conn)
	}
}

// pick returns the nodes in the order to try for the next connection.
func (b *balancer) pick() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := b.next
	b.next = (b.next + 1) % len(b.nodes)
	order := make([]string, 0, len(b.nodes))
	for i := range b.nodes {
		order = append(order, b.nodes[(start+i)%len(b.nodes)])
	}
	return order
}

// track registers conns for close; it reports false once the balancer is
// closed or while it is blocked.
func (b *balancer) track(conns ...net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.blocked {
		return false
	}
	for _, c := range conns {
		b.conns[c] = struct{}{}
	}
	return true
}

func (b *balancer) untrack(conns ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range conns {
		delete(b.conns, c)
	}
}

func (b *balancer) proxy(client net.Conn) {
	defer b.wg.Done()
	defer client.Close()
	if b.isBlocked() {
		return // closed at once
	}
	var up net.Conn
	for _, addr := range b.pick() {
		c, err := net.DialTimeout("tcp", addr, dialTimeout)
		if err == nil {
			up = c
			break
		}
	}
	if up == nil {
		return // no node answers: the client sees the connection closed
	}
	defer up.Close()
	if !b.track(client, up) {
		return
	}
	defer b.untrack(client, up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(up, client)
	}()
	pipe(client, up)
	<-done
}

// pipe copies src to dst until src ends, then half-closes dst so that the
// other side sees the end while the opposite direction goes on. An error
// (a reset, a node killed) closes both.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		_ = dst.Close()
		_ = src.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// block, while on, closes every connection the balancer carries and each
// new one as soon as it is accepted.
func (b *balancer) block(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.blocked = on
	if on {
		for c := range b.conns {
			_ = c.Close()
		}
	}
}

func (b *balancer) isBlocked() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocked
}

// close stops accepting, closes every open connection and waits for the
// goroutines. Idempotent.
func (b *balancer) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	_ = b.ln.Close()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}
