package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// Cluster mode (contract §8): three nodes on one PostgreSQL and one Kafka,
// each test with a cluster of its own.

// clusterEnv is what every node of these tests gets besides the harness's
// settings: the app channel (key k1) and no per-IP limit (every request
// comes from 127.0.0.1).
var clusterEnv = []string{"GATEWAY_CHANNELS_APP_KEYS=k1:" + appSecret,
	"GATEWAY_RATE_LIMIT_PER_IP=100000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=100000"}

// Any node answers any request (§8.1): a retry with the same idempotency key
// on another node gets the first answer and makes no second envelope, a
// nonce used on one node is refused on all, a citizen has one citizen_key
// whichever node files for them, and a request's status reads the same on
// every node and through the load balancer.
func TestClusterAnyNodeAnswersAnyRequest(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: clusterEnv})
	ctx := context.Background()
	direct := gatewaytest.NewClient(32)

	t.Run("balancer spreads connections over the nodes", func(t *testing.T) {
		seen := map[string]int{}
		lb := c.Client()
		for range 2 * c.Nodes() {
			resp, err := lb.Do(ctx, http.MethodGet, c.URL("/readyz"), nil, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
			var ready struct{ Node string }
			require.NoError(t, json.Unmarshal(resp.Body, &ready))
			seen[ready.Node]++
		}
		require.Equal(t, map[string]int{"node-1": 2, "node-2": 2, "node-3": 2}, seen)
	})

	t.Run("one idempotency key sent 100 times to 3 nodes at once", func(t *testing.T) {
		const n = 100
		const key = "cluster-idem-1"
		body := gatewaytest.WebRequest(key, "水管爆裂 burst water main")
		type answer struct {
			node int
			resp *gatewaytest.Response
			err  error
		}
		urls := make([]string, c.Nodes()+1)
		for i := 1; i <= c.Nodes(); i++ {
			urls[i] = c.Node(i).URL(webPath)
		}
		answers := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			node := i%c.Nodes() + 1
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := direct.PostJSON(ctx, urls[node], body)
				answers[i] = answer{node, resp, err}
			}()
		}
		wg.Wait()

		var first gatewaytest.Receipt
		tokens := 0
		for i, a := range answers {
			require.NoError(t, a.err, "request %d to node-%d", i, a.node)
			rc, err := a.resp.Receipt()
			require.NoError(t, err, "request %d to node-%d", i, a.node)
			if rc.CitizenToken != "" {
				tokens++
			}
			if i == 0 {
				first = rc
				require.NotEmpty(t, first.Number)
				continue
			}
			require.Equal(t, first.ID, rc.ID, "request %d to node-%d", i, a.node)
			require.Equal(t, first.Number, rc.Number, "request %d to node-%d", i, a.node)
			require.Equal(t, first.Status, rc.Status, "request %d to node-%d", i, a.node)
			require.True(t, first.ReceivedAt.Equal(rc.ReceivedAt), "request %d to node-%d", i, a.node)
			require.True(t, first.HandlingDue.Equal(rc.HandlingDue), "request %d to node-%d", i, a.node)
		}
		require.Equal(t, 1, tokens, "only the one accepting answer carries a citizen token")

		// All 99 repeats are on Kafka as request.duplicate, so the relay
		// has caught up; then there is one envelope for the key. The relay
		// delivers at least once and consumers de-duplicate by id
		// (docs/cluster.md: every node relays the outbox for now), so
		// envelopes and events are counted by id.
		gatewaytest.Eventually(t, 30*time.Second, func() error {
			envs, _, err := envelopesForKey(ctx, kcat, c.KafkaAddr(), "web:"+key)
			if err != nil {
				return err
			}
			dups, _, err := clusterEvents(ctx, kcat, c.KafkaAddr(), "request.duplicate", first.ID)
			if err != nil {
				return err
			}
			if len(envs) < 1 || len(dups) < n-1 {
				return fmt.Errorf("%d envelopes, %d request.duplicate on Kafka", len(envs), len(dups))
			}
			return nil
		})
		requireRelayed(t, c)
		envs, records, err := envelopesForKey(ctx, kcat, c.KafkaAddr(), "web:"+key)
		require.NoError(t, err)
		require.Len(t, envs, 1, "exactly one envelope for the key (%d records)", records)
		t.Logf("the envelope is in %d record(s) of intake.envelopes", records)
		env, ok := envs[first.ID]
		require.True(t, ok, "the envelope on Kafka is the one the 202s named: %v", envs)
		gatewaytest.RequireSchema(t, "envelope", env.Value)
		var got struct{ Number string }
		require.NoError(t, json.Unmarshal(env.Value, &got))
		require.Equal(t, first.Number, got.Number)
		dups, records, err := clusterEvents(ctx, kcat, c.KafkaAddr(), "request.duplicate", first.ID)
		require.NoError(t, err)
		require.Len(t, dups, n-1, "one request.duplicate per repeat (%d records)", records)

		// The same key with another body is a conflict on every node.
		other := gatewaytest.WebRequest(key, "another matter altogether")
		for i := 1; i <= c.Nodes(); i++ {
			resp, err := direct.PostJSON(ctx, c.Node(i).URL(webPath), other)
			require.NoError(t, err)
			requireClusterError(t, resp, http.StatusUnprocessableEntity, "idempotency_conflict")
		}
	})

	t.Run("a nonce used on one node is refused on the others", func(t *testing.T) {
		body := []byte(`{"client_request_id":"cluster-nonce","text":"pothole","user":{"id":"u-nonce"}}`)
		hdr := clusterSigned(appPath, "cluster-nonce-1", body)
		resp, err := direct.Do(ctx, http.MethodPost, c.Node(1).URL(appPath), body, hdr)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.Status, "%s", resp.Body)
		for i := 2; i <= c.Nodes(); i++ {
			resp, err := direct.Do(ctx, http.MethodPost, c.Node(i).URL(appPath), body, hdr)
			require.NoError(t, err)
			requireClusterError(t, resp, http.StatusUnauthorized, "replayed_nonce")
		}
	})

	t.Run("one citizen has one citizen_key on every node", func(t *testing.T) {
		file := func(node int, user, crid string) string {
			body := []byte(`{"client_request_id":"` + crid + `","text":"噪音扰民 noise at night","user":{"id":"` + user + `"}}`)
			resp, err := direct.Do(ctx, http.MethodPost, c.Node(node).URL(appPath), body, clusterSigned(appPath, "n-"+crid, body))
			require.NoError(t, err)
			rc, err := resp.Receipt()
			require.NoError(t, err)
			return rc.ID
		}
		a1, a2 := file(1, "u-citizen-9", "ck-1"), file(2, "u-citizen-9", "ck-2")
		b3 := file(3, "u-other-9", "ck-3")
		var keys map[string]string // envelope id → citizen_key
		gatewaytest.Eventually(t, 30*time.Second, func() error {
			var err error
			keys, err = citizenKeys(ctx, kcat, c.KafkaAddr())
			if err != nil {
				return err
			}
			for _, id := range []string{a1, a2, b3} {
				if keys[id] == "" {
					return fmt.Errorf("envelope %s not on Kafka yet", id)
				}
			}
			return nil
		})
		require.Equal(t, keys[a1], keys[a2], "the same app user via node-1 and node-2")
		require.NotEqual(t, keys[a1], keys[b3], "another user")
	})

	t.Run("a request's status reads on every node", func(t *testing.T) {
		resp, err := direct.PostJSON(ctx, c.Node(2).URL(webPath), gatewaytest.WebRequest("cluster-status", "路灯不亮 street light out"))
		require.NoError(t, err)
		rc, err := resp.Receipt()
		require.NoError(t, err)
		require.NotEmpty(t, rc.CitizenToken)
		bearer := http.Header{"Authorization": {"Bearer " + rc.CitizenToken}}
		read := func(cl *gatewaytest.Client, url string) {
			t.Helper()
			st, err := cl.Do(ctx, http.MethodGet, url, nil, bearer)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, st.Status, "%s: %s", url, st.Body)
			var view struct{ ID, Number, Channel string }
			require.NoError(t, json.Unmarshal(st.Body, &view))
			require.Equal(t, rc.ID, view.ID)
			require.Equal(t, rc.Number, view.Number)
			require.Equal(t, "web", view.Channel)
		}
		for i := 1; i <= c.Nodes(); i++ {
			read(direct, c.Node(i).URL("/v1/requests/"+rc.ID))
		}
		lb := c.Client()
		for range c.Nodes() { // one connection per node
			read(lb, c.URL("/v1/requests/"+rc.ID))
		}
	})
}

// A ticket.events record is applied whichever node consumes it (§8.5): the
// accepting node is stopped, one of the others applies the record, and every
// node shows the new status and reply; the handling clock is met once.
func TestClusterTicketEventAppliedByAnyNode(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: clusterEnv})
	ctx := context.Background()
	direct := gatewaytest.NewClient(1)

	resp, err := direct.PostJSON(ctx, c.Node(1).URL(webPath), gatewaytest.WebRequest("cluster-ticket", "井盖缺失 missing manhole cover"))
	require.NoError(t, err)
	rc, err := resp.Receipt()
	require.NoError(t, err)
	_, graceful := c.Node(1).Stop(15 * time.Second)
	require.True(t, graceful, "node-1 stops by itself")

	const reply = "已派维修队 a repair crew is on its way"
	at := time.Now().UTC()
	ev := `{"schema":"ticket-event/v1","envelope_id":"` + rc.ID + `","ticket_id":"T-18","status":"dispatched","at":"` +
		at.Format(time.RFC3339Nano) + `","reply":{"text":"` + reply + `"}}`
	gatewaytest.RequireSchema(t, "ticket-event", []byte(ev))
	produce := exec.CommandContext(ctx, kcat, "-P", "-b", c.KafkaAddr(), "-t", "ticket.events", "-k", rc.ID)
	produce.Stdin = strings.NewReader(ev + "\n")
	out, err := produce.CombinedOutput()
	require.NoError(t, err, string(out))

	bearer := http.Header{"Authorization": {"Bearer " + rc.CitizenToken}}
	for _, node := range []int{2, 3} {
		url := c.Node(node).URL("/v1/requests/" + rc.ID)
		gatewaytest.Eventually(t, 30*time.Second, func() error {
			st, err := direct.Do(ctx, http.MethodGet, url, nil, bearer)
			if err != nil {
				return err
			}
			if st.Status != http.StatusOK {
				return fmt.Errorf("node-%d: %d %s", node, st.Status, st.Body)
			}
			var view struct {
				Status, Reply string
				Timeliness    struct{ Handling struct{ State string } }
			}
			if err := json.Unmarshal(st.Body, &view); err != nil {
				return err
			}
			if view.Status != "dispatched" || view.Reply != reply || view.Timeliness.Handling.State != "met" {
				return fmt.Errorf("node-%d shows %s", node, st.Body)
			}
			return nil
		})
	}

	// Its effects reach Kafka from the surviving nodes.
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		for _, typ := range []string{"ticket.updated", "sla.met"} {
			evs, _, err := clusterEvents(ctx, kcat, c.KafkaAddr(), typ, rc.ID)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				return fmt.Errorf("no %s for %s on Kafka yet", typ, rc.ID)
			}
		}
		return nil
	})
	requireRelayed(t, c)
	updated, records, err := clusterEvents(ctx, kcat, c.KafkaAddr(), "ticket.updated", rc.ID)
	require.NoError(t, err)
	require.Len(t, updated, 1, "the record is applied once (%d records)", records)
	met, records, err := clusterEvents(ctx, kcat, c.KafkaAddr(), "sla.met", rc.ID)
	require.NoError(t, err)
	t.Logf("sla.met: %d event(s) in %d record(s)", len(met), records)
	clocks := map[string]int{}
	for _, e := range met {
		clocks[e.Data.Clock]++
	}
	require.Equal(t, 1, clocks["handling"], "sla.met for handling exactly once: %v", clocks)
	require.Equal(t, 1, clocks["first_response"], "the reply met the first response clock once: %v", clocks)
	dead, err := gatewaytest.ConsumeE(ctx, kcat, c.KafkaAddr(), "ticket.events.dlq")
	require.NoError(t, err)
	require.Empty(t, dead, "nothing dead-lettered")
}

// clusterSigned returns the app channel's headers (key k1) for a POST of
// body to path, signed now: the nodes run on the real clock.
func clusterSigned(path, nonce string, body []byte) http.Header {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {nonce},
		"X-Signature": {app.Sign(appSecret, http.MethodPost, path, ts, nonce, body)}}
}

// requireClusterError checks a contract error body with its code.
func requireClusterError(t *testing.T, resp *gatewaytest.Response, status int, code string) {
	t.Helper()
	require.Equal(t, status, resp.Status, "%s", resp.Body)
	var body gatewaytest.ErrorBody
	require.NoError(t, json.Unmarshal(resp.Body, &body), "%s", resp.Body)
	require.NotNil(t, body.Error, "%s", resp.Body)
	require.Equal(t, code, body.Error.Code, "%s", resp.Body)
}

// requireRelayed waits until no node has records waiting for the relay, so
// that what the store holds is on Kafka.
func requireRelayed(t *testing.T, c *gatewaytest.Cluster) {
	t.Helper()
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		for i := 1; i <= c.Nodes(); i++ {
			p := c.Node(i)
			if !p.Running() {
				continue
			}
			d, err := gatewaytest.Metric(context.Background(), p.URL(""), "gateway_intake_log_depth")
			if err != nil {
				return err
			}
			if d != 0 {
				return fmt.Errorf("node-%d: intake log depth %v", i, d)
			}
		}
		return nil
	})
}

// envelopesForKey returns the envelopes of intake.envelopes whose
// idempotency-key header is key, by envelope id, and how many records hold
// them.
func envelopesForKey(ctx context.Context, kcat, brokers, key string) (map[string]gatewaytest.Record, int, error) {
	recs, err := gatewaytest.ConsumeE(ctx, kcat, brokers, "intake.envelopes")
	if err != nil {
		return nil, 0, err
	}
	out, n := map[string]gatewaytest.Record{}, 0
	for _, r := range recs {
		if r.Headers["idempotency-key"] != key {
			continue
		}
		var env struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			return nil, 0, err
		}
		out[env.ID] = r
		n++
	}
	return out, n, nil
}

// citizenKeys maps the id of every envelope on intake.envelopes to its
// citizen_key, checking that the record key is the citizen_key.
func citizenKeys(ctx context.Context, kcat, brokers string) (map[string]string, error) {
	recs, err := gatewaytest.ConsumeE(ctx, kcat, brokers, "intake.envelopes")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range recs {
		var env struct {
			ID         string `json:"id"`
			CitizenKey string `json:"citizen_key"`
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			return nil, err
		}
		if env.CitizenKey == "" || r.Key != env.CitizenKey {
			return nil, fmt.Errorf("envelope %s: citizen_key %q, record key %q", env.ID, env.CitizenKey, r.Key)
		}
		out[env.ID] = env.CitizenKey
	}
	return out, nil
}

// clusterEvent is what these tests read of an event.
type clusterEvent struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	EnvelopeID string `json:"envelope_id"`
	Data       struct {
		Clock string `json:"clock"`
	} `json:"data"`
}

// clusterEvents returns the events of type typ about envelope id on
// intake.events by event id, and how many records hold them.
func clusterEvents(ctx context.Context, kcat, brokers, typ, id string) (map[string]clusterEvent, int, error) {
	recs, err := gatewaytest.ConsumeE(ctx, kcat, brokers, "intake.events")
	if err != nil {
		return nil, 0, err
	}
	out, n := map[string]clusterEvent{}, 0
	for _, r := range recs {
		var e clusterEvent
		if err := json.Unmarshal(r.Value, &e); err != nil {
			return nil, 0, err
		}
		if e.Type == typ && e.EnvelopeID == id {
			out[e.ID] = e
			n++
		}
	}
	return out, n, nil
}

// /readyz names the node and its peers (§8): the nodes running now, each
// holding its member lease. A node stopped gracefully drops out at once, a
// node killed within 15 s (its lease's expiry), one restarted is back.
func TestClusterReadyzNamesPeers(t *testing.T) {
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: clusterEnv})
	ctx := context.Background()
	peersOf := func(node int, want ...string) func() error {
		return func() error {
			_, ready, err := readyz(ctx, c.Node(node).URL("/readyz"))
			if err != nil {
				return err
			}
			if ready.Node != gatewaytest.NodeID(node) || !slices.Equal(ready.Peers, append([]string{}, want...)) {
				return fmt.Errorf("node-%d /readyz: node %q, peers %q; want peers %q", node, ready.Node, ready.Peers, want)
			}
			return nil
		}
	}
	gatewaytest.Eventually(t, 10*time.Second, peersOf(1, "node-2", "node-3"))
	gatewaytest.Eventually(t, 10*time.Second, peersOf(3, "node-1", "node-2"))

	_, graceful := c.Node(3).Stop(15 * time.Second)
	require.True(t, graceful)
	require.NoError(t, peersOf(1, "node-2")(), "a node stopped gracefully gives its member lease up")

	c.Node(2).Kill()
	killed := time.Now()
	gatewaytest.Eventually(t, 30*time.Second, peersOf(1))
	t.Logf("a node killed is no peer %v later", time.Since(killed).Round(100*time.Millisecond))

	c.Node(3).Restart()
	gatewaytest.Eventually(t, 10*time.Second, peersOf(1, "node-3"))
}
