package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

// An agent's capacity is counted across all nodes (contract §8.3, issue 19):
// an agent with max_concurrent 2 and consoles on node-1 and node-2, ten
// citizens queued on those two nodes, the agent accepting every offer on
// whichever console shows it first. The store never holds more than two
// active chats of theirs, no chat is assigned twice, and as they close chats
// one by one all ten are served. (One node of the cluster runs the hub, the
// others relay to it; the store checks the capacity again in each
// assignment's transaction, for the moment when a home that lost its lease
// has not yet stopped.)
func TestClusterAgentCapacityAcrossNodes(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	const agentID, password, capacity, chats = "ag1", "pw-ag1", 2, 10
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3,
		Env: append(slices.Clone(clusterEnv), fmt.Sprintf("GATEWAY_AGENTS=%s:%s:general:%d", agentID, password, capacity))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := 15 * time.Second

	// The store as every node sees it, read all along by a watcher.
	db, err := pgx.Connect(ctx, c.Postgres().PrimaryDSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	w := &activeWatcher{agent: agentID, assignedAt: map[string]map[string]bool{}}
	var watching sync.WaitGroup
	watching.Add(1)
	go func() {
		defer watching.Done()
		w.run(ctx, db)
	}()
	t.Cleanup(func() { cancel(); watching.Wait() }) // before db closes

	post := func(node int, path string, body any, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := gatewaytest.NewClient(1).PostJSON(ctx, c.Node(node).URL(path), b)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
		require.NoError(t, json.Unmarshal(resp.Body, out))
	}
	base := func(node int) string { return "http://" + c.Node(node).HTTPAddr }

	// The agent's consoles on node-1 and node-2.
	consoles := make([]*lt.Client, 2)
	for i := range consoles {
		var login struct{ Token string }
		post(i+1, "/v1/agents/login", map[string]string{"id": agentID, "password": password}, &login)
		consoles[i] = lt.MustDial(t, base(i+1), "/v1/ws/agent", login.Token)
		consoles[i].SendData(livechat.TypeHello, "", "", map[string]any{})
		require.Equal(t, "available", lt.Data(t, consoles[i].Expect(livechat.TypeWelcome, wait))["presence"])
	}

	// Ten citizens, alternately on node-1 and node-2, each with a first
	// message that opens their chat.
	citizens := map[string]*lt.Client{}
	for i := range chats {
		node := i%2 + 1
		var tok struct{ Token string }
		post(node, "/v1/citizen/sessions", map[string]any{}, &tok)
		cit := lt.MustDial(t, base(node), "/v1/ws/citizen", tok.Token)
		cit.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web", "language": "zh-CN"})
		sid := cit.Expect(livechat.TypeWelcome, wait).SessionID
		require.NotEmpty(t, sid)
		cit.SendData(livechat.TypeMessage, sid, fmt.Sprintf("c-%d", i), map[string]string{"text": fmt.Sprintf("市民 %d 的问题", i)})
		require.Equal(t, fmt.Sprintf("c-%d", i), cit.Expect(livechat.TypeMessage, wait).ID)
		citizens[sid] = cit
	}

	// The agent accepts every offer on either console. Once they have two
	// chats they keep both for a while (the hub must offer nothing more
	// meanwhile), then close the older; when nothing waits any more they
	// close what they have.
	const hold = 1500 * time.Millisecond
	var (
		active   []string // the agent's chats, oldest first, as their consoles were told
		owner    = map[string]int{}
		assigned = map[string]int{}
		closing  = map[string]bool{}
		served   = map[string]bool{}
		bounced  int
		offered  = map[string]bool{}
		seenBy   = map[string]map[int]bool{}
		fullAt   time.Time
	)
	deadline := time.Now().Add(3 * time.Minute)
	for len(served) < chats {
		require.True(t, time.Now().Before(deadline), "served %d of %d; active %v", len(served), chats, active)
		for i, con := range consoles {
			f, ok := con.Next(10 * time.Millisecond)
			if !ok {
				continue
			}
			switch f.Type {
			case livechat.TypeOffer:
				// Both consoles show the offer; the agent takes it on the
				// one where they see it first.
				if offered[f.SessionID] {
					continue
				}
				offered[f.SessionID] = true
				require.NoError(t, con.WriteFrame(livechat.Frame{Type: livechat.TypeAccept, SessionID: f.SessionID, At: time.Now().UTC()}))
			case livechat.TypeSession:
				if lt.Data(t, f)["state"] != "active" {
					delete(offered, f.SessionID)
					continue // withdrawn: an offer that bounced
				}
				sid := f.SessionID
				require.Contains(t, citizens, sid)
				if seenBy[sid] == nil {
					seenBy[sid] = map[int]bool{}
				}
				// Each of the agent's consoles is told once of each assignment.
				require.False(t, seenBy[sid][i], "session %s assigned twice", sid)
				seenBy[sid][i] = true
				if assigned[sid]++; assigned[sid] > 1 {
					continue // the other console's copy
				}
				active = append(active, sid)
				owner[sid] = i
				require.LessOrEqual(t, len(active), capacity, "the agent's consoles show %v", active)
			case livechat.TypeClose:
				if !closing[f.SessionID] || served[f.SessionID] {
					continue
				}
				served[f.SessionID] = true
				for j, sid := range active {
					if sid == f.SessionID {
						active = append(active[:j], active[j+1:]...)
						break
					}
				}
			case livechat.TypeError:
				require.Equal(t, "agent_full", lt.Data(t, f)["code"], "%s", f.Data)
				bounced++
			}
		}
		open := 0
		for _, sid := range active {
			if !closing[sid] {
				open++
			}
		}
		if open < capacity {
			fullAt = time.Time{}
		} else if fullAt.IsZero() {
			fullAt = time.Now()
		}
		waiting := chats - len(assigned)
		if open > 0 && (open == capacity && time.Since(fullAt) >= hold || waiting == 0) {
			for _, sid := range active {
				if !closing[sid] {
					closing[sid] = true
					require.NoError(t, consoles[owner[sid]].WriteFrame(livechat.Frame{Type: livechat.TypeClose, SessionID: sid, At: time.Now().UTC()}))
					break
				}
			}
			fullAt = time.Time{}
		}
	}
	for sid, cit := range citizens {
		require.Equal(t, sid, cit.Expect(livechat.TypeClose, wait).SessionID)
	}

	// The store's view all along, and once everything was written.
	gatewaytest.Eventually(t, wait, func() error {
		if n := w.closedCount(); n < chats {
			return fmt.Errorf("%d of %d chats closed in the store", n, chats)
		}
		return nil
	})
	cancel()
	watching.Wait()
	require.NoError(t, w.err)
	require.Positive(t, w.polls)
	require.LessOrEqual(t, w.maxActive, capacity, "active chats of %s in the store at once", agentID)
	require.Equal(t, capacity, w.maxActive, "the agent was full at some point")
	for sid := range citizens {
		require.Len(t, w.assignedAt[sid], 1, "session %s: assignments seen in the store", sid)
	}

	// Kafka: one session.assigned per chat (events de-duplicated by id, as
	// consumers do), each to the agent.
	gatewaytest.Eventually(t, 60*time.Second, func() error {
		recs, err := gatewaytest.ConsumeE(context.Background(), kcat, c.KafkaAddr(), "intake.events")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		perSession := map[string]int{}
		for _, r := range recs {
			var ev normalize.Event
			if json.Unmarshal(r.Value, &ev) != nil || ev.Type != normalize.EventSessionAssigned || seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			if ev.AgentID != agentID {
				return fmt.Errorf("session %s assigned to %q", ev.SessionID, ev.AgentID)
			}
			perSession[ev.SessionID]++
		}
		for sid := range citizens {
			if perSession[sid] != 1 {
				return fmt.Errorf("session %s: %d session.assigned events (all: %v)", sid, perSession[sid], perSession)
			}
		}
		return nil
	})
	t.Logf("10 chats served by one agent on two nodes; %d accepts bounced as agent_full; %d store polls, at most %d active",
		bounced, w.polls, w.maxActive)
}

// activeWatcher polls the shared store's chat sessions: the most chats of
// one agent active at once, and the assignment times seen of each session
// (two: assigned twice).
type activeWatcher struct {
	agent      string
	maxActive  int
	polls      int
	closed     int
	assignedAt map[string]map[string]bool
	err        error
	mu         sync.Mutex
}

func (w *activeWatcher) run(ctx context.Context, db *pgx.Conn) {
	for ctx.Err() == nil {
		if err := w.poll(ctx, db); err != nil {
			if ctx.Err() == nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (w *activeWatcher) poll(ctx context.Context, db *pgx.Conn) error {
	rows, err := db.Query(ctx, `SELECT convert_from(value, 'UTF8') FROM gateway_kv WHERE bucket = 'chat_sessions'`)
	if err != nil {
		return err
	}
	defer rows.Close()
	active, closed := 0, 0
	w.mu.Lock()
	defer w.mu.Unlock()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		var s struct {
			ID         string     `json:"id"`
			State      string     `json:"state"`
			AgentID    string     `json:"agent_id"`
			AssignedAt *time.Time `json:"assigned_at"`
		}
		if err := json.Unmarshal([]byte(v), &s); err != nil {
			return err
		}
		if s.State == "active" && s.AgentID == w.agent {
			active++
		}
		if s.State == "closed" {
			closed++
		}
		if s.AssignedAt != nil {
			if w.assignedAt[s.ID] == nil {
				w.assignedAt[s.ID] = map[string]bool{}
			}
			w.assignedAt[s.ID][s.AssignedAt.UTC().Format(time.RFC3339Nano)] = true
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.polls++
	w.maxActive = max(w.maxActive, active)
	w.closed = closed
	return nil
}

func (w *activeWatcher) closedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}
