package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/livechat"
)

// A rolling restart loses no chat message and shows none twice (contract
// §8.3, issue 19 test 2): 200 citizen–agent pairs (40 in the race suite)
// chat through the balancer while node-1, node-2 and node-3 are stopped with
// SIGTERM and started again in turn, the chat home among them. Every
// client reconnects through the balancer when its websocket closes (always
// with 1001) and resumes by last_seq. Then:
//   - no client was shown a seq twice or a gap in a session;
//   - what the citizens and agents saw together is every session's stored
//     transcript, message for message;
//   - every message a client saw acknowledged (its echo) is stored once;
//   - every pair still chats after the last restart: no citizen stranded.
//
// A message whose websocket closed before its echo is not sent again (a
// person would look, then write again); it may or may not be stored, and
// either way the clients and the store agree.
func TestClusterChatRollingRestart(t *testing.T) {
	pairs, agents, perAgent := 40, 8, 5
	if clusterLoad() {
		pairs, agents, perAgent = 200, 20, 10
	}
	var specs []string
	for i := range agents {
		specs = append(specs, fmt.Sprintf("ag%d:pw:general:%d", i, perAgent))
	}
	specs = append(specs, "sup:pw-sup:general:1:supervisor") // reads the transcripts; never connects
	c := startChatCluster(t, strings.Join(specs, ","), "GATEWAY_LIVECHAT_MESSAGE_RATE=0", "GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var all []*chatter
	var quiet atomic.Bool
	var wg sync.WaitGroup
	run := func(ch *chatter) {
		all = append(all, ch)
		wg.Add(1)
		go func() { defer wg.Done(); ch.run(ctx) }()
	}
	for i := range agents {
		run(&chatter{c: c, role: "agent", token: agentTokenOf(t, c, 1, fmt.Sprintf("ag%d", i), "pw")})
	}
	citizens := make([]*chatter, pairs)
	for i := range citizens {
		var tok struct{ Token string }
		c.post(1+i%c.Nodes(), "/v1/citizen/sessions", map[string]any{}, &tok)
		citizens[i] = &chatter{c: c, role: "citizen", token: tok.Token, name: fmt.Sprintf("c%d", i), quiet: &quiet}
		run(citizens[i])
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	// Every pair chats before the restarts...
	waitAll := func(what string, ok func(ch *chatter) bool) {
		t.Helper()
		gatewaytest.Eventually(t, 90*time.Second, func() error {
			for _, ch := range citizens {
				if !ok(ch) {
					return fmt.Errorf("%s: not yet %s: %s", ch.name, what, ch)
				}
			}
			return nil
		})
	}
	answered := func(n int) func(ch *chatter) bool { return func(ch *chatter) bool { return ch.answeredCount() >= n } }
	waitAll("answered once", answered(1))

	// ...and through them: SIGTERM each node in turn, start it again.
	for i := 1; i <= c.Nodes(); i++ {
		home := c.home(i%c.Nodes() + 1)
		p := c.Node(i)
		took, graceful := p.Stop(30 * time.Second)
		require.True(t, graceful, "node-%d stops on SIGTERM (%v)", i, took)
		p.Restart()
		t.Logf("node-%d restarted (the chat home was node-%d)", i, home)
	}
	sent := 0
	for _, ch := range citizens {
		sent = max(sent, ch.answeredCount())
	}
	waitAll("answered after the restarts", answered(sent+2))
	quiet.Store(true) // then every message is answered and seen before the clients stop
	waitAll("quiet", func(ch *chatter) bool { ch.mu.Lock(); defer ch.mu.Unlock(); return !ch.waiting })
	cancel()
	wg.Wait()

	// What the clients saw against what the store holds.
	sup := agentTokenOf(t, c, 1, "sup", "pw-sup")
	var reconnects, unacked, msgs int
	for _, ch := range all {
		require.Empty(t, ch.problems, "%s %s", ch.role, ch.name)
		for code, n := range ch.closes { // a node stopping tells its clients, and those it relays, to reconnect
			require.Equal(t, livechat.CloseGoingAway, code, "%s %s: %d closes with %d", ch.role, ch.name, n, code)
		}
		reconnects += ch.connects - 1
		unacked += ch.unacked
	}
	for _, cit := range citizens {
		sid := cit.sessionID()
		stored := transcript(t, c, sup, sid)
		seen := map[int64]seenMessage{}
		for _, ch := range all {
			for seq, m := range ch.seen[sid] {
				if prev, ok := seen[seq]; ok {
					require.Equal(t, prev, m, "session %s seq %d: two clients saw different messages", sid, seq)
				}
				seen[seq] = m
			}
		}
		require.Equal(t, len(stored), len(seen), "session %s: what the clients saw is the stored transcript", sid)
		ids := map[string]bool{}
		for _, m := range stored {
			require.Equal(t, m, seen[m.Seq], "session %s seq %d", sid, m.Seq)
			if m.ID != "" {
				require.False(t, ids[m.ID], "session %s: %s stored twice", sid, m.ID)
				ids[m.ID] = true
			}
		}
		for _, ch := range all {
			for id := range ch.acked[sid] {
				require.True(t, ids[id], "session %s: %s was acknowledged but is not stored", sid, id)
			}
		}
		msgs += len(stored)
	}
	t.Logf("%d pairs, %d stored messages; %d reconnects; %d messages sent but not acknowledged (their websocket closed first)",
		pairs, msgs, reconnects, unacked)
}

// seenMessage is a message as a client saw it and the store holds it.
type seenMessage struct {
	Seq  int64  `json:"seq"`
	ID   string `json:"id"`
	From string `json:"from"`
	Text string `json:"text"`
}

// agentChat is GET /v1/agents/chats/{sid}: a chat and its transcript.
type agentChat struct {
	Chat struct {
		State   string `json:"state"`
		AgentID string `json:"agent_id"`
	} `json:"chat"`
	Messages []seenMessage `json:"messages"`
}

// readChat reads a chat through the given node, as a console does.
func readChat(c *chatCluster, node int, token, sid string) (agentChat, error) {
	var chat agentChat
	resp, err := gatewaytest.NewClient(1).Do(context.Background(), http.MethodGet, c.Node(node).URL("/v1/agents/chats/"+sid),
		nil, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		return chat, err
	}
	if resp.Status != http.StatusOK {
		return chat, fmt.Errorf("%d: %s", resp.Status, resp.Body)
	}
	return chat, json.Unmarshal(resp.Body, &chat)
}

// transcript reads a session's transcript through node 1, as a
// supervisor's console does, once a node answers (nodes restart here).
func transcript(t *testing.T, c *chatCluster, token, sid string) []seenMessage {
	t.Helper()
	var chat agentChat
	gatewaytest.Eventually(t, 15*time.Second, func() (err error) {
		chat, err = readChat(c, 1, token, sid)
		return err
	})
	return chat.Messages
}

// chatter is a citizen or an agent that chats as long as ctx lasts,
// reconnecting through the balancer whenever its websocket closes and
// resuming by last_seq. A citizen writes a message once the last was
// answered; an agent accepts every offer and answers every citizen message.
// Its fields are read once run returned.
type chatter struct {
	c           *chatCluster
	role, token string
	name        string

	mu      sync.Mutex
	sid     string                           // a citizen's session
	seen    map[string]map[int64]seenMessage // session → seq →
	acked   map[string]map[string]bool       // session → client ids echoed
	last    map[string]int64                 // session → the last seq seen
	answers int                              // a citizen's messages answered
	latest  string                           // a citizen's latest message's id
	// unanswered is an agent's: per session the citizen's messages seen
	// and not yet answered; an answer lost with its websocket is written
	// again on the next.
	unanswered map[string]map[string]bool
	waiting    bool         // for an answer to latest
	quiet      *atomic.Bool // a citizen writes no more
	sent       int          // a citizen's messages sent
	problems   []string     // duplicates, gaps
	closes     map[int]int  // close codes the server sent, while the test ran
	connects   int
	unacked    int
}

// String says where a citizen is, for a test that failed.
func (ch *chatter) String() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var tail []string
	for seq := max(ch.last[ch.sid]-3, 1); seq <= ch.last[ch.sid]; seq++ {
		m := ch.seen[ch.sid][seq]
		tail = append(tail, fmt.Sprintf("%d:%s/%s", seq, m.From, m.ID))
	}
	return fmt.Sprintf("session %s, latest %s (waiting %v), %d connects, %d unacked, last seen %v",
		ch.sid, ch.latest, ch.waiting, ch.connects, ch.unacked, tail)
}

func (ch *chatter) answeredCount() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.answers
}

func (ch *chatter) sessionID() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.sid
}

func (ch *chatter) problem(format string, args ...any) {
	ch.problems = append(ch.problems, fmt.Sprintf(format, args...))
}

func (ch *chatter) run(ctx context.Context) {
	ch.seen, ch.acked, ch.last = map[string]map[int64]seenMessage{}, map[string]map[string]bool{}, map[string]int64{}
	ch.unanswered = map[string]map[string]bool{}
	ch.closes = map[int]int{}
	for ctx.Err() == nil {
		u := "ws" + strings.TrimPrefix(ch.c.URL("/v1/ws/"+ch.role), "http") + "?token=" + ch.token
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
		if err != nil {
			select { // the node the balancer chose is stopping, or the home moves
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ch.session(ctx, ws)
	}
}

// session chats on one websocket until it closes or ctx ends.
//
// Client ids are never reused: a message whose echo did not come is not sent
// again with its id, so the store can hold any id at most once. A citizen
// writes its next message once the last was answered, or, after a
// reconnect, when the last turns out not to be stored (it may still come,
// after the next: the old websocket's last frame was on its way). An agent
// answers each citizen message it has seen unanswered once its view is whole:
// after the transcript that follows an accept (the session frame comes
// after it), and after the replay that follows a hello (the presence frame
// asked for after the hello comes after it).
func (ch *chatter) session(ctx context.Context, ws *websocket.Conn) {
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()
	var wmu sync.Mutex
	send := func(f livechat.Frame) {
		wmu.Lock()
		defer wmu.Unlock()
		f.At = time.Now().UTC()
		_ = ws.WriteJSON(f)
	}
	ch.mu.Lock()
	ch.connects++
	conn := ch.connects
	hello := livechat.Frame{Type: livechat.TypeHello}
	if ch.role == "citizen" {
		hello.Data = json.RawMessage(`{"channel":"web"}`)
		if last, ok := ch.last[ch.sid]; ok {
			hello.LastSeq = &last
		}
	} else {
		hello.Data, _ = json.Marshal(map[string]any{"sessions": ch.last})
	}
	ch.mu.Unlock()
	send(hello)
	if ch.role == "agent" {
		send(livechat.Frame{Type: livechat.TypePresence, Data: json.RawMessage(`{"status":"available"}`)})
	}

	pending := map[string]bool{} // client ids sent on this websocket and not yet echoed
	write := func(sid, id, text string) {
		pending[id] = true
		b, _ := json.Marshal(map[string]string{"text": text})
		send(livechat.Frame{Type: livechat.TypeMessage, SessionID: sid, ID: id, Data: b})
	}
	defer func() {
		ch.mu.Lock()
		ch.unacked += len(pending)
		ch.mu.Unlock()
	}()
	// A citizen's: the seq up to which the replay after the welcome goes
	// (0: none or over).
	settleAt := int64(0)
	next := func() {
		ch.waiting = false
		if ch.quiet.Load() {
			return
		}
		ch.waiting = true
		ch.latest = fmt.Sprintf("%s-%d", ch.name, ch.sent)
		ch.sent++
		write(ch.sid, ch.latest, "问题 "+ch.latest)
	}
	// settle: the replay is over; the last message lost with the old
	// websocket is followed by a new one.
	settle := func() {
		if settleAt > 0 && ch.last[ch.sid] >= settleAt {
			settleAt = 0
			if !seenID(ch.seen[ch.sid], ch.latest) {
				next()
			}
		}
	}
	// An agent's: settled once the replay after the hello is over; per
	// session whether the transcript after an accept is over; the
	// messages answered on this websocket.
	settled, transcriptDone, answered := false, map[string]bool{}, map[string]bool{}
	unanswered := ch.unanswered // until the answer's echo: it may be lost with this websocket
	answer := func(sid string) {
		if !settled || !transcriptDone[sid] {
			return
		}
		for x := range unanswered[sid] {
			if !answered[x] {
				write(sid, fmt.Sprintf("re-%s#%d", x, conn), "收到："+x)
				answered[x] = true
			}
		}
	}
	for {
		var f livechat.Frame
		if err := ws.ReadJSON(&f); err != nil {
			if ctx.Err() == nil {
				code := -1 // no close frame: the connection was cut
				if ce, ok := errors.AsType[*websocket.CloseError](err); ok {
					code = ce.Code
				}
				ch.mu.Lock()
				ch.closes[code]++
				ch.mu.Unlock()
			}
			return
		}
		ch.mu.Lock()
		switch f.Type {
		case livechat.TypeWelcome:
			if ch.role == "agent" {
				var d struct {
					Sessions []struct {
						ID string `json:"session_id"`
					}
				}
				_ = json.Unmarshal(f.Data, &d)
				for _, s := range d.Sessions {
					transcriptDone[s.ID] = true
				}
				break
			}
			var d struct {
				LastSeq int64 `json:"last_seq"`
			}
			_ = json.Unmarshal(f.Data, &d)
			if ch.sid == "" {
				ch.sid = f.SessionID
				ch.seen[ch.sid], ch.acked[ch.sid] = map[int64]seenMessage{}, map[string]bool{}
				next()
				break
			}
			settleAt = max(d.LastSeq, 1)
			settle()
		case livechat.TypePresence:
			if !settled {
				settled = true
				for sid := range unanswered {
					answer(sid)
				}
			}
		case livechat.TypeOffer:
			transcriptDone[f.SessionID] = false
			send(livechat.Frame{Type: livechat.TypeAccept, SessionID: f.SessionID})
		case livechat.TypeSession:
			var d struct{ State string }
			_ = json.Unmarshal(f.Data, &d)
			if d.State == "active" {
				transcriptDone[f.SessionID] = true
				answer(f.SessionID)
			}
		case livechat.TypeMessage:
			sid := f.SessionID
			var d seenMessage
			_ = json.Unmarshal(f.Data, &d)
			d.Seq, d.ID = f.Seq, f.ID
			if ch.seen[sid] == nil {
				ch.seen[sid], ch.acked[sid] = map[int64]seenMessage{}, map[string]bool{}
			}
			last, known := ch.last[sid]
			switch {
			case f.Seq <= last:
				ch.problem("%s seq %d again (last %d)", sid, f.Seq, last)
			case known && f.Seq != last+1 || !known && ch.role == "citizen" && f.Seq != 1:
				ch.problem("%s seq %d after %d: a gap", sid, f.Seq, last)
			}
			ch.seen[sid][f.Seq] = d
			ch.last[sid] = max(last, f.Seq)
			if pending[f.ID] {
				ch.acked[sid][f.ID] = true
				delete(pending, f.ID)
			}
			switch {
			case ch.role == "agent" && d.From == "citizen":
				if unanswered[sid] == nil {
					unanswered[sid] = map[string]bool{}
				}
				unanswered[sid][f.ID] = true
				answer(sid)
			case ch.role == "agent" && d.From == "agent":
				x, _, _ := strings.Cut(strings.TrimPrefix(f.ID, "re-"), "#")
				delete(unanswered[sid], x) // answered (maybe on an earlier websocket)
			case ch.role == "citizen" && d.From == "agent" && strings.HasPrefix(f.ID, "re-"+ch.latest+"#"):
				ch.answers++
				next()
			}
			if ch.role == "citizen" {
				settle()
			}
		}
		ch.mu.Unlock()
	}
}

func seenID(seen map[int64]seenMessage, id string) bool {
	for _, m := range seen {
		if m.ID == id {
			return true
		}
	}
	return false
}
