package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hotline12345/gateway/internal/diskprobe"
)

// recorder collects latencies of messages sent inside the measurement
// window (send times in ns since the run started).
type recorder struct {
	mu       sync.Mutex
	from, to int64 // window; to == 0: not yet closed
	d        []time.Duration
	sent     []int64 // send time of each d
}

func (r *recorder) setWindow(from, to int64) {
	r.mu.Lock()
	r.from, r.to = from, to
	r.mu.Unlock()
}

// add records d if sent is inside the window; it reports whether it did.
func (r *recorder) add(sent int64, d time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.from == 0 || sent < r.from || (r.to > 0 && sent >= r.to) {
		return false
	}
	r.d = append(r.d, d)
	r.sent = append(r.sent, sent)
	return true
}

// timeline is the latency percentiles of each second of the window, by
// send time: it shows whether slow deliveries are steady or come in bursts.
func (r *recorder) timeline() []percentiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	var secs [][]time.Duration
	for i, d := range r.d {
		s := int((r.sent[i] - r.from) / int64(time.Second))
		for len(secs) <= s {
			secs = append(secs, nil)
		}
		secs[s] = append(secs[s], d)
	}
	out := make([]percentiles, len(secs))
	for i, d := range secs {
		out[i] = pct(d)
	}
	return out
}

func (r *recorder) percentiles() percentiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	return pct(r.d)
}

// percentiles are in milliseconds.
type percentiles struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func pct(in []time.Duration) percentiles {
	if len(in) == 0 {
		return percentiles{}
	}
	d := slices.Clone(in)
	slices.Sort(d)
	at := func(q float64) float64 { return ms(d[int(q*float64(len(d)-1)+0.5)]) }
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return percentiles{N: len(d), P50: at(.5), P90: at(.9), P99: at(.99), P999: at(.999), Max: ms(d[len(d)-1]),
		Mean: ms(sum / time.Duration(len(d)))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (p percentiles) String() string {
	if p.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f ms  (n=%d)", p.P50, p.P90, p.P99, p.P999, p.Max, p.Mean, p.N)
}

// procMem is a process's resident memory from /proc/<pid>/status, in
// bytes: all of it (VmRSS), anonymous (heap, stacks) and file-backed (the
// binary and the store's memory-mapped file).
type procMem struct{ RSS, Anon, File int64 }

func readProcMem(pid string) (procMem, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return procMem{}, err
	}
	defer f.Close()
	return parseProcMem(f)
}

func parseProcMem(r io.Reader) (procMem, error) {
	var m procMem
	fields := map[string]*int64{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		dst := fields[firstOr(f)]
		if dst == nil {
			continue
		}
		if len(f) != 3 || f[2] != "kB" {
			return m, fmt.Errorf("chatload: unexpected line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return m, fmt.Errorf("chatload: %s %w", f[0], err)
		}
		*dst = kb * 1024
		found++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if m.RSS == 0 && found == 0 {
		return m, fmt.Errorf("chatload: no VmRSS line")
	}
	return m, nil
}

func firstOr(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// gatewayMetrics are the /metrics samples the harness reads.
var gatewayMetrics = []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines",
	"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_heap_objects",
	"go_memstats_heap_alloc_bytes", "go_gc_duration_seconds_count",
	"gateway_store_fsyncs_total", "gateway_store_writes_total", "gateway_relay_published_total",
	"gateway_intake_log_depth", "gateway_relay_lag_seconds"}

// snapshot is the gateway's state at one moment.
type snapshot struct {
	At      time.Time
	RSS     int64 // from /proc when -gateway-pid is set, else from /metrics
	Mem     procMem
	Metrics map[string]float64
	cpuSelf time.Duration // the harness's own CPU time, where a run needs it
}

func takeSnapshot(ctx context.Context, base, pid string) (snapshot, error) {
	s := snapshot{At: time.Now(), Metrics: map[string]float64{}}
	body, err := getMetrics(ctx, base)
	if err != nil {
		return s, err
	}
	for _, name := range gatewayMetrics {
		if v, ok := parseMetric(body, name); ok {
			s.Metrics[name] = v
		}
	}
	if pid != "" {
		for _, p := range strings.Split(pid, ",") { // a cluster's nodes: their sum
			m, err := readProcMem(p)
			if err != nil {
				return s, fmt.Errorf("gateway RSS: %w", err)
			}
			s.Mem.RSS, s.Mem.Anon, s.Mem.File = s.Mem.RSS+m.RSS, s.Mem.Anon+m.Anon, s.Mem.File+m.File
		}
		s.RSS = s.Mem.RSS
	} else {
		s.RSS = int64(s.Metrics["process_resident_memory_bytes"])
	}
	return s, nil
}

func getMetrics(ctx context.Context, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// parseMetric finds an unlabelled sample in a Prometheus text exposition.
func parseMetric(exposition, name string) (float64, bool) {
	for line := range strings.SplitSeq(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// cpuSelf is the harness's own CPU time (user + system).
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNoFile lifts RLIMIT_NOFILE's soft limit as far as the hard limit
// allows (only root with CAP_SYS_RESOURCE can raise the hard one) and
// returns the limit in force.
func raiseNoFile(want uint64) uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	if l.Cur >= want {
		return l.Cur
	}
	if l.Max < want {
		try := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &try) == nil {
			return want
		}
		want = l.Max
	}
	l.Cur = want
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}

// counters count failures and events by name.
type counters struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counters) inc(name string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[name]++
	c.mu.Unlock()
}

func (c *counters) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// loadavg is the machine's load average (1, 5, 15 minutes): the machine is
// shared, so a figure is read next to it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// netCounters are system-wide (the machine is shared): packets the kernel
// dropped because a CPU's input backlog was full (/proc/net/softnet_stat,
// net.core.netdev_max_backlog; loopback traffic passes there too) and TCP
// segments retransmitted (/proc/net/snmp). On loopback a dropped segment is
// resent after the minimum RTO, 200 ms: a delivery that late is one of them.
type netCounters struct {
	BacklogDrops int64 `json:"backlog_drops"`
	Retrans      int64 `json:"tcp_retrans_segs"`
}

func readNet() netCounters {
	var n netCounters
	if b, err := os.ReadFile("/proc/net/softnet_stat"); err == nil {
		n.BacklogDrops = parseSoftnetDrops(string(b))
	}
	if b, err := os.ReadFile("/proc/net/snmp"); err == nil {
		n.Retrans = parseSNMP(string(b), "Tcp:", "RetransSegs")
	}
	return n
}

func (n netCounters) sub(m netCounters) netCounters {
	return netCounters{BacklogDrops: n.BacklogDrops - m.BacklogDrops, Retrans: n.Retrans - m.Retrans}
}

// parseSoftnetDrops sums the second (hex) column over CPUs.
func parseSoftnetDrops(s string) int64 {
	var sum int64
	for line := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 16, 64); err == nil {
			sum += v
		}
	}
	return sum
}

// parseSNMP reads a counter from /proc/net/snmp: a header line and a value
// line per protocol.
func parseSNMP(s, proto, name string) int64 {
	var header []string
	for line := range strings.SplitSeq(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		for i, h := range header {
			if h == name && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
		return 0
	}
	return 0
}

// fsyncProbe probes dir's fsync every interval until ctx ends, recording
// each latency by time: a slow disk (shared with other work) shows here at
// the moment deliveries are slow (internal/diskprobe).
func fsyncProbe(ctx context.Context, dir string, interval time.Duration, r *chatRun, rec *recorder) error {
	return diskprobe.Every(ctx, dir, "chatload-fsync-", interval, func(start time.Time, took time.Duration) {
		rec.add(int64(start.Sub(r.start)), took)
	})
}
