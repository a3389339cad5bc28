package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

func TestMsgIDRoundTrip(t *testing.T) {
	cs, as, err := parseMsgID(citizenMsgID(123456789))
	require.NoError(t, err)
	require.EqualValues(t, 123456789, cs)
	require.Zero(t, as)
	cs, as, err = parseMsgID(agentMsgID(5, 7))
	require.NoError(t, err)
	require.EqualValues(t, 5, cs)
	require.EqualValues(t, 7, as)
	for _, bad := range []string{"", "c", "cx", "c-1", "a1", "a1.", "a.2", "ax.y", "m17", "a1.-2"} {
		_, _, err := parseMsgID(bad)
		require.Error(t, err, bad)
	}
}

func FuzzParseMsgID(f *testing.F) {
	for _, s := range []string{"c1", "a1.2", "", "a.", "c99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		cs, as, err := parseMsgID(id)
		if err == nil && (cs < 0 || as < 0) {
			t.Fatalf("negative times from %q", id)
		}
	})
}

func TestFrameType(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"message","id":"x"}`, "message"},
		{`{"type":"welcome"}`, "welcome"},
		{`{"type":"queue`, ""},
		{`{"id":"x","type":"message"}`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, frameType([]byte(tt.in)), tt.in)
	}
}

func TestParseProcMem(t *testing.T) {
	m, err := parseProcMem(strings.NewReader("Name:\tgw\nVmRSS:\t   23644 kB\nRssAnon:\t    5052 kB\nRssFile:\t   18592 kB\n"))
	require.NoError(t, err)
	require.Equal(t, procMem{RSS: 23644 << 10, Anon: 5052 << 10, File: 18592 << 10}, m)
	_, err = parseProcMem(strings.NewReader("Name:\tgw\n"))
	require.Error(t, err)
	_, err = parseProcMem(strings.NewReader("VmRSS:\t12 MB\n"))
	require.Error(t, err)
	own, err := readProcMem("self")
	require.NoError(t, err)
	require.Positive(t, own.RSS)
}

func TestParseNetCounters(t *testing.T) {
	softnet := "006d3e98 000013ed 00000002 00000000\n00593c1f 000002c8 00000002 00000000\n"
	require.EqualValues(t, 0x13ed+0x2c8, parseSoftnetDrops(softnet))
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RetransSegs InErrs\nTcp: 1 200 7778 0\n"
	require.EqualValues(t, 7778, parseSNMP(snmp, "Tcp:", "RetransSegs"))
	require.Zero(t, parseSNMP(snmp, "Tcp:", "Nope"))
	require.Zero(t, parseSNMP("", "Tcp:", "RetransSegs"))
}

func TestParseMetric(t *testing.T) {
	exp := "# HELP x\ngo_goroutines 41\ngo_goroutines_other 3\nprocess_cpu_seconds_total 0.04\n"
	v, ok := parseMetric(exp, "go_goroutines")
	require.True(t, ok)
	require.InDelta(t, 41, v, 0)
	_, ok = parseMetric(exp, "go_threads")
	require.False(t, ok)
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p := pct(d)
	require.Equal(t, 1000, p.N)
	require.InDelta(t, 500, p.P50, 1)
	require.InDelta(t, 990, p.P99, 1)
	require.InDelta(t, 1000, p.Max, 0)
	require.Zero(t, pct(nil).N)

	var r recorder
	require.False(t, r.add(5, time.Millisecond), "no window yet")
	r.setWindow(10, 0)
	require.False(t, r.add(9, time.Millisecond))
	require.True(t, r.add(10, time.Millisecond))
}

func TestOptionsCheck(t *testing.T) {
	ok := options{base: "http://127.0.0.1:8080", mode: "idle", conns: 1, agents: 1, rate: 1, setupConcurrency: 1,
		duration: time.Second, setupTimeout: time.Second}
	require.NoError(t, ok.check())
	bad := ok
	bad.mode, bad.base, bad.conns = "burst", "127.0.0.1:8080", 0
	err := bad.check()
	require.ErrorContains(t, err, "-mode")
	require.ErrorContains(t, err, "-base")
	require.ErrorContains(t, err, "-conns")
	require.Equal(t, "x1:p:general:50,x2:p:general:50", agentsSpec("x", "p", 2, 50))
}

func smallOptions(g *lt.Gateway, mode string) options {
	return options{base: g.Base, mode: mode, pid: "self", conns: 20, agents: 2, rate: 100, setupConcurrency: 8,
		duration: 500 * time.Millisecond, warmup: 200 * time.Millisecond, settle: 50 * time.Millisecond,
		setupTimeout: 20 * time.Second, hello: true, agentPrefix: "load", agentPassword: "pw"}
}

func quietGateway(t testing.TB, env ...string) *lt.Gateway {
	return lt.Start(t, append([]string{"GATEWAY_RATE_LIMIT_PER_IP=100000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=100000",
		"GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0", "GATEWAY_AGENTS=" + agentsSpec("load", "pw", 2, 50)}, env...)...)
}

// The harness against an in-process gateway, small: every connection is set
// up, every pair completes, nothing fails.
func TestRunsAgainstGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway")
	}
	ctx := context.Background()
	idle, err := runIdle(ctx, smallOptions(quietGateway(t), "idle"))
	require.NoError(t, err)
	require.Equal(t, 20, idle.Open)
	require.Empty(t, idle.Failures)
	require.Equal(t, 20, idle.StillOpen)
	// Queue positions are pushed at most once a second and only on change:
	// far fewer than one per waiting citizen per hello.
	require.Less(t, int(idle.FramesSetup), 20*20/2, "queue updates must not grow with the square of the queue")
	idle.print(os.Stderr)

	chat, err := runChat(ctx, smallOptions(quietGateway(t), "chat"))
	require.NoError(t, err)
	require.Equal(t, 20, chat.Citizens)
	require.Positive(t, chat.Sent)
	require.Equal(t, chat.Sent, chat.Completed, "every pair completes")
	require.Empty(t, chat.Errors)
	require.Equal(t, int(chat.Completed), chat.Pair.N)
	chat.print(os.Stderr)
}

// BenchmarkChatInProcess runs chat mode against an in-process gateway
// (default live-chat settings, unlike livechattest's fast pings) so that one
// profile holds the gateway's side, and prints the store's commit figures.
// It is for diagnosis, not a figure: the harness shares the process.
//
//	CHATLOAD_RATE=2000 go test -run '^$' -bench ChatInProcess -benchtime 1x -cpuprofile cpu.out ./cmd/chatload/
func BenchmarkChatInProcess(b *testing.B) {
	agents, conns, rate := 40, 2000, 2000.0
	if s := os.Getenv("CHATLOAD_RATE"); s != "" {
		_, err := fmt.Sscan(s, &rate)
		require.NoError(b, err)
	}
	cfg, err := configs.Load("", []string{"GATEWAY_DATA_DIR=" + b.TempDir(), "GATEWAY_HTTP_ADDR=127.0.0.1:0",
		"GATEWAY_KAFKA_EMBEDDED_ADDR=127.0.0.1:0", "GATEWAY_RATE_LIMIT_PER_IP=100000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=100000",
		"GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0", "GATEWAY_AGENTS=" + agentsSpec("load", "pw", agents, 50)})
	require.NoError(b, err)
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(b, err)
	require.NoError(b, g.Start(context.Background()))
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	o := options{base: "http://" + g.Addr(), mode: "chat", pid: "self", conns: conns, agents: agents, rate: rate,
		setupConcurrency: 64, warmup: 2 * time.Second, duration: 10 * time.Second, setupTimeout: time.Minute,
		agentPrefix: "load", agentPassword: "pw"}
	db := g.Intake().DB()
	for b.Loop() {
		st0 := db.Stats()
		rep, err := runChat(context.Background(), o)
		require.NoError(b, err)
		rep.print(os.Stderr)
		st := db.Stats()
		c := float64(st.Commits - st0.Commits)
		fmt.Fprintf(os.Stderr, "store             %.0f commits, %.1f writes/commit; per commit: %.2f ms in the writer, %.2f ms writing+fsyncing %.1f pages, %.2f ms spilling\n",
			c, float64(st.Writes-st0.Writes)/c, ms(st.CommitTime-st0.CommitTime)/c, ms(st.WriteTime-st0.WriteTime)/c,
			float64(st.PagesWritten-st0.PagesWritten)/c, ms(st.SpillTime-st0.SpillTime)/c)
	}
}

// With -helpers, other chatload processes hold shares of the websockets
// (a process opens at most its file limit of sockets) and the report counts
// them all; they close theirs when the run ends.
func TestIdleWithHelpers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway")
	}
	bin := filepath.Join(t.TempDir(), "chatload")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	g := quietGateway(t)
	cmd := exec.Command(bin, "-base", g.Base, "-mode", "idle", "-conns", "31", "-helpers", "2", "-setup-concurrency", "4",
		"-settle", "0s", "-duration", "100ms", "-json")
	cmd.Stderr = os.Stderr
	out, err = cmd.Output()
	require.NoError(t, err)
	var rep idleReport
	require.NoError(t, json.Unmarshal(out, &rep))
	require.Equal(t, 31, rep.Open)
	require.Equal(t, 2, rep.Helpers)
	require.Equal(t, 31, rep.StillOpen)
	require.Empty(t, rep.Failures)
	// Every helper has closed its websockets: the gateway holds none.
	require.Eventually(t, func() bool {
		resp, err := http.Get(g.Base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "gateway_websockets_open 0\n")
	}, 10*time.Second, 10*time.Millisecond)
}
