package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// A node cut off from the shared store (issue 18, test 8): the node holding
// the relay lease loses PostgreSQL (its proxy closes its connections and
// refuses new ones) while it keeps running. It turns unready within the
// lease's TTL, stops its single-owner work before another node takes it
// (§8.6: one owner at a time), and requests sent to the other nodes in the
// meantime are accepted and reach Kafka through the new relay holder. Once
// it reaches the store again it is ready again.
func TestClusterNodeCutOffFromStore(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: clusterEnv, StoreProxies: true})
	ctx := context.Background()
	direct := gatewaytest.NewClient(4)

	// The leases as the store holds them, read past the proxies.
	db, err := pgx.Connect(ctx, c.Postgres().PrimaryDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	leases := []string{"relay", "webhooks"}
	before := map[string]leaseRecord{}
	gatewaytest.Eventually(t, 20*time.Second, func() error {
		for _, name := range leases {
			r, err := readLease(ctx, db, name)
			if err != nil {
				return err
			}
			if r.Holder == "" || !time.Now().Before(r.Expires) {
				return fmt.Errorf("lease %s not held: %+v", name, r)
			}
			before[name] = r
		}
		return nil
	})
	old := nodeIndex(t, c, before["relay"].Holder)
	t.Logf("before the cut: relay %+v, webhooks %+v", before["relay"], before["webhooks"])
	moving := []string{"relay"} // the leases the cut node holds, which must move
	if before["webhooks"].Holder == before["relay"].Holder {
		moving = append(moving, "webhooks")
	} else {
		t.Logf("webhooks is held by %s, not by the cut node: it need not move", before["webhooks"].Holder)
	}

	var others []int
	for i := 1; i <= c.Nodes(); i++ {
		if i != old {
			others = append(others, i)
		}
	}

	cut := time.Now()
	c.CutStore(old)
	t.Logf("node-%d (the relay's holder) cut off from PostgreSQL", old)

	// Web requests to the other nodes, directly, every 300 ms from the cut
	// until the leases have moved.
	load := sendDuring(ctx, direct, c, others, 300*time.Millisecond)

	// The cut node turns unready within the lease's TTL.
	var took time.Duration // the 503's own latency
	gatewaytest.Eventually(t, 15*time.Second-time.Since(cut), func() error {
		start := time.Now()
		status, ready, err := readyz(ctx, c.Node(old).URL("/readyz"))
		took = time.Since(start)
		if err != nil {
			return err
		}
		if status != http.StatusServiceUnavailable || ready.Store != "unavailable" {
			return fmt.Errorf("node-%d /readyz: %d, store %q", old, status, ready.Store)
		}
		return nil
	})
	t.Logf("node-%d /readyz 503 (store unavailable) %v after the cut; that answer took %v",
		old, time.Since(cut).Round(time.Millisecond), took.Round(time.Millisecond))

	// Its leases pass to another node.
	after := map[string]leaseRecord{}
	gatewaytest.Eventually(t, 30*time.Second-time.Since(cut), func() error {
		for _, name := range moving {
			r, err := readLease(ctx, db, name)
			if err != nil {
				return err
			}
			if r.Holder == before[name].Holder || r.Holder == "" {
				return fmt.Errorf("lease %s still %+v", name, r)
			}
			after[name] = r
		}
		return nil
	})
	moved := time.Since(cut)
	answers := load.stop()
	for _, name := range moving {
		require.Greater(t, after[name].Token, before[name].Token, "lease %s: the fencing token grows with the new holder", name)
		t.Logf("lease %s: %s (token %d) → %s (token %d), seen in the store %v after the cut",
			name, before[name].Holder, before[name].Token, after[name].Holder, after[name].Token, moved.Round(time.Millisecond))
	}

	// One owner at a time: the cut node logged that it stopped the work
	// before the new holder logged that it took the lease. The nodes run
	// on one machine, so their clocks agree.
	for _, name := range moving {
		var lost, taken logLine
		gatewaytest.Eventually(t, 5*time.Second, func() error {
			var err error
			if lost, err = findLeaseLog(c.Node(old), "lease lost: stopping its work", name, 0, cut); err != nil {
				return fmt.Errorf("node-%d: %w", old, err)
			}
			holder := nodeIndex(t, c, after[name].Holder)
			if taken, err = findLeaseLog(c.Node(holder), "lease taken", name, after[name].Token, cut); err != nil {
				return fmt.Errorf("node-%d: %w", holder, err)
			}
			return nil
		})
		require.True(t, lost.Time.Before(taken.Time),
			"lease %s: node-%d stopped its work at %s, after %s took the lease at %s",
			name, old, lost.Time.Format(time.RFC3339Nano), after[name].Holder, taken.Time.Format(time.RFC3339Nano))
		t.Logf("lease %s: node-%d logged %q %v after the cut (%v); %s logged %q %v after the cut; %v with no holder",
			name, old, lost.Msg, lost.Time.Sub(cut).Round(time.Millisecond), lost.Err, after[name].Holder, taken.Msg,
			taken.Time.Sub(cut).Round(time.Millisecond), taken.Time.Sub(lost.Time).Round(time.Millisecond))
	}

	// Requests sent to the other nodes during the cut were accepted, and
	// the new relay holder publishes them.
	require.NotEmpty(t, answers)
	ids := map[string]string{} // envelope id → client_request_id
	var slowest time.Duration
	for _, a := range answers {
		require.NoError(t, a.err, "%s to node-%d", a.crid, a.node)
		rc, err := a.resp.Receipt()
		require.NoError(t, err, "%s to node-%d", a.crid, a.node)
		ids[rc.ID] = a.crid
		slowest = max(slowest, a.latency)
	}
	t.Logf("%d web requests to nodes %v during the cut: all 202, the slowest in %v", len(answers), others, slowest.Round(time.Millisecond))
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		recs, err := gatewaytest.ConsumeE(ctx, kcat, c.KafkaAddr(), "intake.envelopes")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, r := range recs {
			var env struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				return err
			}
			seen[env.ID] = true
		}
		for id, crid := range ids {
			if !seen[id] {
				return fmt.Errorf("%s (%s) not on intake.envelopes yet", id, crid)
			}
		}
		return nil
	})
	t.Logf("all %d on intake.envelopes %v after the cut", len(ids), time.Since(cut).Round(time.Millisecond))

	// Back on the store, the node is ready again; the leases stay where
	// they went.
	restored := time.Now()
	c.RestoreStore(old)
	gatewaytest.Eventually(t, 20*time.Second, func() error {
		status, ready, err := readyz(ctx, c.Node(old).URL("/readyz"))
		if err != nil {
			return err
		}
		if status != http.StatusOK || ready.Store != "ok" {
			return fmt.Errorf("node-%d /readyz: %d, store %q", old, status, ready.Store)
		}
		return nil
	})
	t.Logf("node-%d /readyz 200 %v after RestoreStore (cut for %v)", old,
		time.Since(restored).Round(time.Millisecond), restored.Sub(cut).Round(time.Millisecond))
	for _, name := range moving {
		r, err := readLease(ctx, db, name)
		require.NoError(t, err)
		require.Equal(t, after[name].Holder, r.Holder, "lease %s after the restore", name)
		require.Equal(t, after[name].Token, r.Token, "lease %s after the restore", name)
	}
}

// leaseRecord is a lease as intake/lease stores it.
type leaseRecord struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	Token   uint64    `json:"token"`
}

// readLease reads lease name from the shared store's table (bucket
// "leases", the key is the name's bytes, the value JSON).
func readLease(ctx context.Context, db *pgx.Conn, name string) (leaseRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var v string
	err := db.QueryRow(ctx, `SELECT convert_from(value, 'UTF8') FROM gateway_kv WHERE bucket = 'leases' AND key = $1::bytea`,
		[]byte(name)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return leaseRecord{}, fmt.Errorf("no lease %s in the store", name)
	}
	if err != nil {
		return leaseRecord{}, err
	}
	var r leaseRecord
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return leaseRecord{}, fmt.Errorf("lease %s: %w: %s", name, err, v)
	}
	return r, nil
}

// nodeIndex is the 1-based index of the node named id.
func nodeIndex(t *testing.T, c *gatewaytest.Cluster, id string) int {
	t.Helper()
	for i := 1; i <= c.Nodes(); i++ {
		if gatewaytest.NodeID(i) == id {
			return i
		}
	}
	t.Fatalf("no node %q in the cluster", id)
	return 0
}

// readyzBody is what these tests read of /readyz.
type readyzBody struct {
	Store, Node string
	Peers       []string
}

func readyz(ctx context.Context, url string) (int, readyzBody, error) {
	var body readyzBody
	resp, err := gatewaytest.NewClient(1).Do(ctx, http.MethodGet, url, nil, nil)
	if err != nil {
		return 0, body, err
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return 0, body, fmt.Errorf("/readyz %d: %w: %s", resp.Status, err, resp.Body)
	}
	return resp.Status, body, nil
}

// logLine is one JSON line of a gateway's log, as far as leases go.
type logLine struct {
	Time  time.Time `json:"time"`
	Msg   string    `json:"msg"`
	Lease string    `json:"lease"`
	Token uint64    `json:"token"`
	Err   string    `json:"err"`
}

// findLeaseLog returns the first line of p's log with message msg about
// lease at or after since, with token (when not 0).
func findLeaseLog(p *gatewaytest.Process, msg, lease string, token uint64, since time.Time) (logLine, error) {
	sc := bufio.NewScanner(strings.NewReader(p.Log()))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) != nil { // the harness's own lines
			continue
		}
		if l.Msg == msg && l.Lease == lease && (token == 0 || l.Token == token) && !l.Time.Before(since) {
			return l, nil
		}
	}
	if err := sc.Err(); err != nil {
		return logLine{}, err
	}
	return logLine{}, fmt.Errorf("no %q for lease %s (token %d) in the log since %s", msg, lease, token, since.Format(time.RFC3339Nano))
}

// cutoffAnswer is one web request sent during the cut.
type cutoffAnswer struct {
	node    int
	crid    string
	resp    *gatewaytest.Response
	err     error
	latency time.Duration
}

// cutoffLoad sends web requests until stop.
type cutoffLoad struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers []cutoffAnswer
}

// sendDuring sends a web request to each of nodes, directly, every period
// until stop is called.
func sendDuring(ctx context.Context, cl *gatewaytest.Client, c *gatewaytest.Cluster, nodes []int, period time.Duration) *cutoffLoad {
	l := &cutoffLoad{done: make(chan struct{})}
	urls := map[int]string{}
	for _, n := range nodes {
		urls[n] = c.Node(n).URL(webPath)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for round := 0; ; round++ {
			for _, n := range nodes {
				crid := fmt.Sprintf("cutoff-%d-%d", n, round)
				l.wg.Add(1)
				go func() {
					defer l.wg.Done()
					start := time.Now()
					resp, err := cl.PostJSON(ctx, urls[n], gatewaytest.WebRequest(crid, "占道经营 street stall blocking the pavement"))
					l.mu.Lock()
					l.answers = append(l.answers, cutoffAnswer{node: n, crid: crid, resp: resp, err: err, latency: time.Since(start)})
					l.mu.Unlock()
				}()
			}
			select {
			case <-l.done:
				return
			case <-tick.C:
			}
		}
	}()
	return l
}

// stop stops sending, waits for the answers and returns them.
func (l *cutoffLoad) stop() []cutoffAnswer {
	close(l.done)
	l.wg.Wait()
	return l.answers
}
