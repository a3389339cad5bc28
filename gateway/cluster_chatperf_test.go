package gateway_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// TestClusterChatLoad is issue 19's performance figure, with chatload (the
// tool of scripts/chatbench.sh) against 3 nodes on PostgreSQL, websockets
// spread over the nodes in turn: 40 agents and 2,000 citizens at 1,000
// message pairs/s (p99 ≤ 20 ms each way, none lost), then, on a fresh
// cluster, 20,000 idle citizens with a chat each (the nodes' RSS growth per
// websocket, summed over the nodes; the target is 16 KiB). chatload holds
// them in two processes: this machine allows a process 20,000 files. It
// needs the machine to itself: GATEWAYTEST_CLUSTER_CHAT_BENCH=1;
// docs/benchmarks.md has the figures.
func TestClusterChatLoad(t *testing.T) {
	if os.Getenv("GATEWAYTEST_CLUSTER_CHAT_BENCH") != "1" {
		t.Skip("a benchmark that needs the machine to itself: GATEWAYTEST_CLUSTER_CHAT_BENCH=1")
	}
	root, err := gatewaytest.ModuleRoot()
	require.NoError(t, err)
	chatload := filepath.Join(t.TempDir(), "chatload")
	out, err := exec.Command("go", "build", "-C", root, "-o", chatload, "./cmd/chatload").CombinedOutput()
	require.NoError(t, err, "%s", out)
	agents, err := exec.Command(chatload, "-print-agents", "-agents", "40", "-capacity", "50").Output()
	require.NoError(t, err)
	start := func() (*gatewaytest.Cluster, []string) {
		c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: []string{
			"GATEWAY_AGENTS=" + strings.TrimSpace(string(agents)), "GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0",
			"GATEWAY_AUTH_LOGIN_CHECKS_PER_SECOND=1000", "GATEWAY_AUTH_LOGIN_CHECKS_BURST=1000",
			"GATEWAY_RATE_LIMIT_PER_IP=1000000000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=1000000000", "GATEWAY_LOG_LEVEL=warn"}})
		var bases, pids []string
		for i := 1; i <= c.Nodes(); i++ {
			bases = append(bases, "http://"+c.Node(i).HTTPAddr)
			pids = append(pids, strconv.Itoa(c.Node(i).Pid()))
		}
		return c, []string{"-base", bases[0], "-ws-bases", strings.Join(bases, ","), "-gateway-pid", strings.Join(pids, ",")}
	}
	load := func(args ...string) []byte {
		cmd := exec.Command(chatload, append(args, "-json")...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		require.NoError(t, err)
		t.Logf("%s", out)
		return out
	}

	t.Run("1,000 pairs/s", func(t *testing.T) {
		c, nodes := start()
		var rep struct {
			PairsPerSec float64                    `json:"pairs_per_s"`
			Lost        int64                      `json:"pairs_unfinished_after_drain"`
			C2A         struct{ P50, P99 float64 } `json:"citizen_to_agent_ms"`
			A2C         struct{ P50, P99 float64 } `json:"agent_to_citizen_ms"`
		}
		require.NoError(t, json.Unmarshal(load(append(nodes, "-mode", "chat", "-agents", "40", "-conns", "2000",
			"-pairs-per-sec", "1000", "-warmup", "5s", "-duration", "20s")...), &rep))
		t.Logf("home node-%d: %.0f pairs/s, %d lost; citizen → agent p50 %.2f p99 %.2f ms, agent → citizen p50 %.2f p99 %.2f ms",
			(&chatCluster{Cluster: c, t: t}).home(1), rep.PairsPerSec, rep.Lost, rep.C2A.P50, rep.C2A.P99, rep.A2C.P50, rep.A2C.P99)
		require.Zero(t, rep.Lost)
		require.GreaterOrEqual(t, rep.PairsPerSec, 990.0)
		require.LessOrEqual(t, rep.C2A.P99, 20.0)
		require.LessOrEqual(t, rep.A2C.P99, 20.0)
	})

	t.Run("20,000 idle websockets", func(t *testing.T) {
		_, nodes := start()
		var rep struct {
			Open    int `json:"opened"`
			Settled struct {
				RSSPerConn  float64 `json:"rss_per_conn"`
				AnonPerConn float64 `json:"rss_anon_per_conn"`
			} `json:"gateway_after_settle"`
		}
		require.NoError(t, json.Unmarshal(load(append(nodes, "-mode", "idle", "-conns", "20000", "-helpers", "1", "-settle", "10s", "-duration", "5s")...), &rep))
		t.Logf("%d open: %.0f B/conn RSS (anon %.0f) over the 3 nodes", rep.Open, rep.Settled.RSSPerConn, rep.Settled.AnonPerConn)
		require.Equal(t, 20000, rep.Open)
		require.LessOrEqual(t, rep.Settled.RSSPerConn, 16384.0)
	})
}
