package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// chatCluster is a cluster with agents, and helpers to reach its nodes as
// the console and the widget do.
type chatCluster struct {
	*gatewaytest.Cluster
	t *testing.T
}

func startChatCluster(t *testing.T, agents string, env ...string) *chatCluster {
	e := append(slices.Clone(clusterEnv), "GATEWAY_AGENTS="+agents)
	return &chatCluster{Cluster: gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: append(e, env...)}), t: t}
}

func (c *chatCluster) base(node int) string { return "http://" + c.Node(node).HTTPAddr }

func (c *chatCluster) post(node int, path string, body, out any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := gatewaytest.NewClient(1).PostJSON(context.Background(), c.Node(node).URL(path), b)
	require.NoError(c.t, err)
	require.Equal(c.t, http.StatusOK, resp.Status, "%s", resp.Body)
	require.NoError(c.t, json.Unmarshal(resp.Body, out))
}

// home waits for a node to run live chat and returns its index.
func (c *chatCluster) home(node int) int {
	c.t.Helper()
	var home int
	gatewaytest.Eventually(c.t, 30*time.Second, func() error {
		var body struct {
			ChatHome string `json:"chat_home"`
		}
		resp, err := gatewaytest.NewClient(1).Do(context.Background(), http.MethodGet, c.Node(node).URL("/readyz"), nil, nil)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			return err
		}
		for i := 1; i <= c.Nodes(); i++ {
			if gatewaytest.NodeID(i) == body.ChatHome {
				home = i
				return nil
			}
		}
		return fmt.Errorf("chat home: %q", body.ChatHome)
	})
	return home
}

// others are the nodes but home, in order.
func (c *chatCluster) others(home int) []int {
	var out []int
	for i := 1; i <= c.Nodes(); i++ {
		if i != home {
			out = append(out, i)
		}
	}
	return out
}

// agent logs an agent in on node and connects their console there.
func (c *chatCluster) agent(node int, id, password string) *lt.Client {
	c.t.Helper()
	var login struct{ Token string }
	c.post(node, "/v1/agents/login", map[string]string{"id": id, "password": password}, &login)
	con := lt.MustDial(c.t, c.base(node), "/v1/ws/agent", login.Token)
	con.SendData(livechat.TypeHello, "", "", map[string]any{})
	require.Equal(c.t, "available", lt.Data(c.t, con.Expect(livechat.TypeWelcome, 15*time.Second))["presence"])
	return con
}

// citizen opens a chat on node with a first message and returns the
// citizen's client, token and session.
func (c *chatCluster) citizen(node int, text string) (*lt.Client, string, string) {
	c.t.Helper()
	var tok struct{ Token string }
	c.post(node, "/v1/citizen/sessions", map[string]any{}, &tok)
	cit := lt.MustDial(c.t, c.base(node), "/v1/ws/citizen", tok.Token)
	return cit, tok.Token, cit.OpenSession(nil, text)
}

// A citizen on one node and an agent on another chat as on one node
// (contract §8.3, issue 19 test 1): neither node runs live chat, both relay
// to the node that does. 1,000 messages each way arrive in order, every
// frame's seq follows the one before, the transcript the console reads
// through its node equals what both saw, and (alone on the machine:
// GATEWAYTEST_CLUSTER_LOAD=1, as scripts/test.sh runs it) a message takes at
// most 20 ms at the 99th percentile from one client to the other.
func TestClusterChatAcrossNodes(t *testing.T) {
	// No limit on a session's message rate: this measures the relay, not
	// a person typing.
	c := startChatCluster(t, "ag1:pw-ag1:general:4", "GATEWAY_LIVECHAT_MESSAGE_RATE=0")
	home := c.home(1)
	nodes := c.others(home)
	citNode, agNode := nodes[0], nodes[1]
	t.Logf("chat home node-%d; citizen on node-%d, agent on node-%d", home, citNode, agNode)
	wait := 15 * time.Second

	ag := c.agent(agNode, "ag1", "pw-ag1")
	cit, _, sid := c.citizen(citNode, "你好，我想咨询")
	require.Equal(t, sid, ag.Expect(livechat.TypeOffer, wait).SessionID)
	require.EqualValues(t, 2, cit.ExpectFrom("system", wait).Seq) // the receipt
	ag.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	for seq := int64(1); seq <= 2; seq++ { // the transcript so far
		require.Equal(t, seq, ag.Expect(livechat.TypeMessage, wait).Seq)
	}
	ag.Expect(livechat.TypeSession, wait)
	for q := cit.Expect(livechat.TypeQueue, wait); lt.Data(t, q)["state"] != "active"; q = cit.Expect(livechat.TypeQueue, wait) {
	}
	// Each relaying node shows the websocket it relays; the home counts both.
	for node, want := range map[int]string{citNode: "gateway_websockets_relayed 1\n", agNode: "gateway_websockets_relayed 1\n",
		home: "gateway_websockets_open 2\n"} {
		resp, err := http.Get(c.base(node) + "/metrics")
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Contains(t, string(b), want, "node-%d", node)
	}

	const n = 1000
	var lat []time.Duration
	lastSeq := int64(2) // the first message and the receipt
	seqs := map[string][]int64{"citizen": nil, "agent": nil}
	// next is the next person's message to reach to, skipping the system's
	// (a receipt) but counting its seq.
	next := func(who string, cl *lt.Client, from string) livechat.Frame {
		for {
			f := cl.Expect(livechat.TypeMessage, wait)
			seqs[who] = append(seqs[who], f.Seq)
			if lt.Data(t, f)["from"] == from {
				return f
			}
		}
	}
	for i := range n {
		for _, dir := range []struct {
			from, to       string
			sender, reader *lt.Client
		}{{"citizen", "agent", cit, ag}, {"agent", "citizen", ag, cit}} {
			text := fmt.Sprintf("%s %d", dir.from, i)
			start := time.Now()
			dir.sender.SendData(livechat.TypeMessage, sid, fmt.Sprintf("%s-%d", dir.from, i), map[string]string{"text": text})
			got := next(dir.to, dir.reader, dir.from)
			lat = append(lat, time.Since(start))
			require.Equal(t, text, lt.Data(t, got)["text"])
			require.Greater(t, got.Seq, lastSeq, "in order")
			lastSeq = got.Seq
			echo := next(dir.from, dir.sender, dir.from) // the sender's own copy, with its seq
			require.Equal(t, got.Seq, echo.Seq)
		}
	}
	// Both sides saw every seq from the first message's on, once, in order.
	for who, s := range seqs {
		require.True(t, slices.IsSorted(s), "%s: seqs in order", who)
		require.Equal(t, int64(3), s[0], "%s: from the seq after the receipt", who)
		for i := 1; i < len(s); i++ {
			require.Equal(t, s[i-1]+1, s[i], "%s: seq %d follows %d", who, s[i], s[i-1])
		}
		require.Equal(t, lastSeq, s[len(s)-1], who)
	}

	// The transcript as the console reads it through its node (relayed).
	chat, err := readChat(c, agNode, agentTokenOf(t, c, agNode, "ag1", "pw-ag1"), sid)
	require.NoError(t, err)
	require.Len(t, chat.Messages, int(lastSeq))
	for i, m := range chat.Messages {
		require.Equal(t, int64(i+1), m.Seq)
	}

	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	t.Logf("%d messages across nodes: p50 %v, p99 %v, max %v", len(lat), p50, p99, lat[len(lat)-1])
	if clusterLoad() {
		require.LessOrEqual(t, p99, 20*time.Millisecond, "p99 from one client to the other")
	}
}

// kill -9 of the node holding an agent's console (issue 19 test 4): the
// agent is offline and their chat offered to another agent, with its
// transcript, within 30 s; whether the node killed relayed the console or
// was the chat home itself (then a new home takes over, and the clients
// of the others reconnect to it through their nodes).
//
// A node whose machine dies or is cut off closes nothing: "stalled" stops
// the relaying node (SIGSTOP), and the home closes the websockets it relayed
// once its member lease expires.
func TestClusterAgentNodeKilled(t *testing.T) {
	for _, tc := range []struct {
		name          string
		onHome, stall bool
	}{{"node relaying the console", false, false}, {"chat home", true, false}, {"node relaying the console stalled", false, true}} {
		onHome := tc.onHome
		t.Run(tc.name, func(t *testing.T) {
			c := startChatCluster(t, "ag1:pw-ag1:general:2,ag2:pw-ag2:general:2:supervisor")
			wait := 15 * time.Second
			home := c.home(1)
			others := c.others(home)
			victim, citNode, ag2Node := others[0], home, others[1]
			if onHome {
				victim, citNode = home, others[0]
			}
			ag1 := c.agent(victim, "ag1", "pw-ag1")
			cit, citTok, sid := c.citizen(citNode, "路灯坏了")
			require.Equal(t, sid, ag1.Expect(livechat.TypeOffer, wait).SessionID)
			ag1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
			ag1.Expect(livechat.TypeSession, wait)
			texts := map[int64]string{1: "路灯坏了"}
			for i, m := range []struct{ from, text string }{{"agent", "请问在哪里？"}, {"citizen", "人民路 1 号"}, {"agent", "好的，已记录"}} {
				cl := map[string]*lt.Client{"agent": ag1, "citizen": cit}[m.from]
				cl.SendData(livechat.TypeMessage, sid, fmt.Sprintf("m-%d", i), map[string]string{"text": m.text})
				texts[cit.ExpectFrom(m.from, wait).Seq] = m.text
			}
			ag2 := c.agent(ag2Node, "ag2", "pw-ag2")

			killed := time.Now()
			if tc.stall {
				c.Node(victim).Signal(syscall.SIGSTOP)
				t.Cleanup(func() { c.Node(victim).Signal(syscall.SIGCONT) })
			} else {
				c.Node(victim).Kill()
			}
			if onHome { // the others' clients were relayed to it: they reconnect
				var w livechat.Frame
				cit, w = reconnect(t, c, citNode, "/v1/ws/citizen", citTok, int64(len(texts))+1) // +1: the receipt
				require.Equal(t, sid, w.SessionID, "the citizen is back in their chat")
				ag2, _ = reconnect(t, c, ag2Node, "/v1/ws/agent", agentTokenOf(t, c, ag2Node, "ag2", "pw-ag2"), 0)
			}

			// ag2 is offered the chat and, on accepting, given its transcript.
			deadline := killed.Add(30 * time.Second)
			off := ag2.Expect(livechat.TypeOffer, time.Until(deadline))
			require.Equal(t, sid, off.SessionID)
			offeredAfter := time.Since(killed)
			ag2.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
			for seq := int64(1); seq <= int64(len(texts))+1; seq++ { // +1: the receipt
				f := ag2.Expect(livechat.TypeMessage, wait)
				require.Equal(t, seq, f.Seq)
				if text, ok := texts[seq]; ok {
					require.Equal(t, text, lt.Data(t, f)["text"])
				}
			}

			// The citizen, still in the same chat, reads ag2's answer.
			ag2.SendData(livechat.TypeMessage, sid, "ag2-1", map[string]string{"text": "您好，我接着为您处理"})
			got := cit.ExpectFrom("agent", wait)
			require.Equal(t, sid, got.SessionID)
			require.Equal(t, "您好，我接着为您处理", lt.Data(t, got)["text"])

			// The supervisor's wall shows ag1 offline.
			tok := agentTokenOf(t, c, ag2Node, "ag2", "pw-ag2")
			resp, err := gatewaytest.NewClient(1).Do(context.Background(), http.MethodGet, c.Node(ag2Node).URL("/v1/agents/wall"),
				nil, http.Header{"Authorization": {"Bearer " + tok}})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
			var wall livechat.Wall
			require.NoError(t, json.Unmarshal(resp.Body, &wall))
			i := slices.IndexFunc(wall.Agents, func(a livechat.WallAgent) bool { return a.ID == "ag1" })
			require.GreaterOrEqual(t, i, 0)
			require.Equal(t, "offline", wall.Agents[i].Presence)
			require.False(t, wall.Agents[i].Connected)
			t.Logf("node-%d killed; the chat offered to ag2 %v later", victim, offeredAfter.Round(time.Millisecond))
		})
	}
}

// reconnect dials path on node with token until the chat has a home again,
// says hello (resuming after lastSeq, if not 0) and returns the client and
// its welcome.
func reconnect(t *testing.T, c *chatCluster, node int, path, token string, lastSeq int64) (*lt.Client, livechat.Frame) {
	t.Helper()
	var cl *lt.Client
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		var err error
		cl, _, err = lt.Dial(t, c.base(node), path, token, nil)
		return err
	})
	hello := livechat.Frame{Type: livechat.TypeHello, Data: json.RawMessage(`{}`)}
	if lastSeq > 0 {
		hello.LastSeq = &lastSeq
	}
	cl.Send(hello)
	return cl, cl.Expect(livechat.TypeWelcome, 15*time.Second)
}

// agentTokenOf logs an agent in on node and returns the token.
func agentTokenOf(t *testing.T, c *chatCluster, node int, id, password string) string {
	var login struct{ Token string }
	c.post(node, "/v1/agents/login", map[string]string{"id": id, "password": password}, &login)
	return login.Token
}

// A chat home that stalls (SIGSTOP: a VM paused, its sockets open, no FIN)
// is replaced: the relaying nodes close their clients' websockets to it once
// another node is the home, the clients reconnect and chat on, and when the
// stalled node wakes it stores nothing (its lease is gone): not the frame
// that waited in its socket, so the transcript has each message once, in a
// gap-free seq, and the chat is still the agent's.
func TestClusterChatHomeStalls(t *testing.T) {
	c := startChatCluster(t, "ag1:pw-ag1:general:2")
	wait := 15 * time.Second
	home := c.home(1)
	others := c.others(home)
	citNode, agNode := others[0], others[1]
	ag := c.agent(agNode, "ag1", "pw-ag1")
	cit, citTok, sid := c.citizen(citNode, "路灯坏了")
	require.Equal(t, sid, ag.Expect(livechat.TypeOffer, wait).SessionID)
	ag.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	ag.Expect(livechat.TypeSession, wait)
	last := cit.ExpectFrom("system", wait).Seq // the receipt

	c.Node(home).Signal(syscall.SIGSTOP)
	t.Cleanup(func() { c.Node(home).Signal(syscall.SIGCONT) })
	// kill returns before every thread has stopped: a frame sent at once
	// could still be stored, legitimately, while the home holds its lease.
	gatewaytest.Eventually(t, wait, func() error { return allStopped(c.Node(home).Pid()) })
	stalled := time.Now()
	// A frame on its way to the stalled node: its node relays it into the
	// stalled node's socket, where it waits.
	cit.SendData(livechat.TypeMessage, sid, "c-stalled", map[string]string{"text": "有人吗"})
	// Both websockets are closed by their nodes once another node is the home.
	for _, cl := range []*lt.Client{cit, ag} {
		select {
		case <-cl.Done:
		case <-time.After(30 * time.Second):
			t.Fatal("a relayed websocket to the stalled home stayed open")
		}
	}
	t.Logf("relays to the stalled node-%d closed %v after it stalled", home, time.Since(stalled).Round(time.Millisecond))
	newHome := c.home(citNode)
	require.NotEqual(t, home, newHome)

	cit, w := reconnect(t, c, citNode, "/v1/ws/citizen", citTok, last)
	require.Equal(t, sid, w.SessionID)
	ag, _ = reconnect(t, c, agNode, "/v1/ws/agent", agentTokenOf(t, c, agNode, "ag1", "pw-ag1"), 0)
	cit.SendData(livechat.TypeMessage, sid, "c-after", map[string]string{"text": "还在吗"})
	for lt.Data(t, ag.ExpectFrom("citizen", wait))["text"] != "还在吗" { // after the transcript's replay
	}

	// The stalled node wakes: whatever it had not done stays undone.
	c.Node(home).Signal(syscall.SIGCONT)
	ag.SendData(livechat.TypeMessage, sid, "a-after", map[string]string{"text": "在的"})
	require.Equal(t, "在的", lt.Data(t, cit.ExpectFrom("agent", wait))["text"])
	gatewaytest.Eventually(t, wait, func() error {
		if h := c.home(citNode); h == home {
			return fmt.Errorf("node-%d is the home again", home)
		}
		return nil
	})
	chat, err := readChat(c, agNode, agentTokenOf(t, c, agNode, "ag1", "pw-ag1"), sid)
	require.NoError(t, err)
	ids := map[string]bool{}
	for i, m := range chat.Messages {
		require.Equal(t, int64(i+1), m.Seq)
		if m.ID != "" {
			require.False(t, ids[m.ID], "%s twice", m.ID)
			ids[m.ID] = true
		}
	}
	require.True(t, ids["c-after"] && ids["a-after"])
	require.False(t, ids["c-stalled"], "the stalled node stored the frame that waited for it")
	require.Equal(t, "active", chat.Chat.State)
	require.Equal(t, "ag1", chat.Chat.AgentID)
}

// allStopped says whether every thread of process pid is stopped (SIGSTOP).
func allStopped(pid int) error {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return err
		}
		// pid (comm) state …: the state follows the last ')'.
		if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return fmt.Errorf("thread %s of process %d is not stopped yet", task.Name(), pid)
		}
	}
	return nil
}
