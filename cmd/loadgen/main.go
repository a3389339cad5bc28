// Command loadgen drives a running gateway's web intake endpoint and reports
// what a citizen would see: throughput, latency percentiles and errors, plus
// the gateway's own group-commit figures scraped from /metrics.
//
// Open loop (the default): requests are scheduled at a constant rate whatever
// the gateway's answers, and latency is measured from each request's scheduled
// time, so that a stalled gateway shows as latency instead of silently
// lowering the offered load (no coordinated omission).
//
//	loadgen -url http://127.0.0.1:8080 -rate 5000 -duration 20s -concurrency 512
//
// Sequential: one request at a time, the latency of a lone request.
//
//	loadgen -url http://127.0.0.1:8080 -sequential 500
//
// Requests go over net/http with at most one keep-alive connection per
// worker, opened before the measured window.
//
// Raw fsync: the latency of write+fdatasync of a small block on this disk,
// the floor under a lone durable request.
//
//	loadgen -fsync /path/on/the/same/disk -n 500
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/internal/diskprobe"
)

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "gateway base URL")
	flag.StringVar(&o.path, "path", "/v1/channels/web/requests", "intake endpoint")
	flag.Float64Var(&o.rate, "rate", 1000, "requests per second (open loop)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "send at the rate for this long first, not measured")
	flag.IntVar(&o.concurrency, "concurrency", 512, "most requests in flight at once")
	flag.IntVar(&o.sequential, "sequential", 0, "if > 0: send this many requests one at a time instead")
	flag.StringVar(&o.fsyncDir, "fsync", "", "if set: measure write+fdatasync of a small block in this directory instead")
	flag.IntVar(&o.n, "n", 500, "fsyncs to measure with -fsync")
	flag.StringVar(&o.probeDir, "probe", "", "open loop: also time a 4 KiB write+fdatasync every 5 ms in this directory during the measured window (put it on the gateway's disk: a stall of the disk itself shows here)")
	flag.IntVar(&o.textBytes, "text", 300, "bytes of text per request")
	flag.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep *report
	var err error
	switch {
	case o.fsyncDir != "":
		rep, err = fsyncProbe(o.fsyncDir, o.n)
	case o.sequential > 0:
		rep, err = runSequential(ctx, o)
	default:
		rep, err = runOpenLoop(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	rep.print(os.Stdout)
}

type options struct {
	url, path, fsyncDir, probeDir         string
	rate                                  float64
	duration, warmup                      time.Duration
	concurrency, sequential, n, textBytes int
	jsonOut                               bool
}

// report is what a run measured.
type report struct {
	Mode           string         `json:"mode"`
	Offered        float64        `json:"offered_per_s,omitempty"`
	Sent           int            `json:"sent"`
	Seconds        float64        `json:"seconds"`
	Throughput     float64        `json:"accepted_per_s"`
	Statuses       map[string]int `json:"statuses"`
	Latency        percentiles    `json:"latency_ms"`
	ServiceLatency *percentiles   `json:"service_latency_ms,omitempty"`
	Late           int            `json:"late_starts,omitempty"`
	Probe          *probeFigs     `json:"disk_probe,omitempty"`
	Gateway        *gatewayFigs   `json:"gateway,omitempty"`
}

type percentiles struct {
	P50, P90, P99, P999, Max, Mean float64
}

// gatewayFigs are deltas of the gateway's counters over the measured window.
type gatewayFigs struct {
	Fsyncs          float64 `json:"fsyncs"`
	Writes          float64 `json:"writes"`
	FsyncsPerSec    float64 `json:"fsyncs_per_s"`
	WritesPerFsync  float64 `json:"writes_per_fsync"`
	PagesPerWrite   float64 `json:"pages_per_write"` // 4 KiB store pages written per request
	RelayPublished  float64 `json:"relay_published"`
	RelayErrors     float64 `json:"relay_errors"`
	IntakeLogDepth  float64 `json:"intake_log_depth_at_end"`
	RelayLagSeconds float64 `json:"relay_lag_s_at_end"`
	// CPU is the gateway process's CPU time (user+system) over the window.
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUCores   float64 `json:"cpu_cores"`
	// ServerP50/P99 are upper bounds from the gateway's own histogram
	// (gateway_intake_seconds: request in to answer out, inside the process).
	ServerP50 string `json:"server_p50_ms_at_most"`
	ServerP99 string `json:"server_p99_ms_at_most"`
}

// serverQuantile is the smallest bucket bound holding fraction q of the
// window's requests.
func serverQuantile(before, after scrape, q float64) string {
	total := after[bucketSample("+Inf")] - before[bucketSample("+Inf")]
	if total <= 0 {
		return "?"
	}
	for _, le := range serverBuckets {
		if after[bucketSample(le)]-before[bucketSample(le)] >= q*total {
			if le == "+Inf" {
				return le
			}
			f, _ := strconv.ParseFloat(le, 64)
			return strconv.FormatFloat(f*1000, 'f', -1, 64)
		}
	}
	return "+Inf"
}

func pct(d []time.Duration) percentiles {
	if len(d) == 0 {
		return percentiles{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 {
		i := int(q * float64(len(d)-1))
		return ms(d[i])
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return percentiles{P50: at(.5), P90: at(.9), P99: at(.99), P999: at(.999), Max: ms(d[len(d)-1]),
		Mean: ms(sum / time.Duration(len(d)))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "mode            %s\n", r.Mode)
	if r.Offered > 0 {
		fmt.Fprintf(w, "offered         %.0f req/s\n", r.Offered)
	}
	fmt.Fprintf(w, "sent            %d in %.2fs\n", r.Sent, r.Seconds)
	fmt.Fprintf(w, "accepted        %.0f req/s\n", r.Throughput)
	fmt.Fprintf(w, "statuses        %v\n", r.Statuses)
	p := r.Latency
	fmt.Fprintf(w, "latency ms      p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n", p.P50, p.P90, p.P99, p.P999, p.Max, p.Mean)
	if s := r.ServiceLatency; s != nil {
		fmt.Fprintf(w, "service ms      p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (from actual send; the line above is from the schedule)\n",
			s.P50, s.P90, s.P99, s.P999, s.Max)
	}
	if r.Late > 0 {
		fmt.Fprintf(w, "late starts     %d (no free connection at the scheduled time)\n", r.Late)
	}
	if p := r.Probe; p != nil {
		fmt.Fprintf(w, "disk probe      p50 %.2f  p99 %.2f  max %.2f ms; %d of %d fsyncs over 20 ms, %.0f ms in all (4 KiB write+fdatasync every 5 ms beside the gateway)\n",
			p.Latency.P50, p.Latency.P99, p.Latency.Max, p.Over20ms, p.N, p.StalledMs)
	}
	if g := r.Gateway; g != nil {
		fmt.Fprintf(w, "store           %.0f fsyncs/s, %.1f writes per fsync (%.0f commits, %.0f writes), %.1f pages (4 KiB) written per write\n", g.FsyncsPerSec, g.WritesPerFsync, g.Fsyncs, g.Writes, g.PagesPerWrite)
		fmt.Fprintf(w, "relay           %.0f published, %.0f errors; at the end: depth %.0f, lag %.2fs\n", g.RelayPublished, g.RelayErrors, g.IntakeLogDepth, g.RelayLagSeconds)
		fmt.Fprintf(w, "server side     p50 ≤ %s ms, p99 ≤ %s ms (gateway_intake_seconds buckets: inside the gateway)\n", g.ServerP50, g.ServerP99)
		if n := r.Statuses["202"]; n > 0 {
			fmt.Fprintf(w, "gateway CPU     %.2f cores, %.0f µs per accepted request\n", g.CPUCores, g.CPUSeconds/float64(n)*1e6)
		}
	}
}

// body returns a web request with a unique client_request_id.
func body(run string, i, textBytes int) []byte {
	text := fmt.Sprintf("load test request %d: ", i) + strings.Repeat("路灯不亮 street light out. ", textBytes/32+1)
	if len(text) > textBytes {
		text = strings.ToValidUTF8(text[:textBytes], "")
	}
	b, _ := json.Marshal(map[string]any{"client_request_id": fmt.Sprintf("%s-%d", run, i), "kind": "complaint",
		"text": text, "location": map[string]string{"district": "Huangpu"}})
	return b
}

type scrape map[string]float64

// serverBuckets are the le bounds of gateway_intake_seconds.
var serverBuckets = []string{"0.0005", "0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"}

func bucketSample(le string) string {
	return `gateway_intake_seconds_bucket{channel="web",le="` + le + `"}`
}

var scraped = []string{"gateway_store_fsyncs_total", "gateway_store_writes_total", "gateway_store_pages_written_total", "gateway_relay_published_total",
	"gateway_relay_errors_total", "gateway_intake_log_depth", "gateway_relay_lag_seconds", "process_cpu_seconds_total"}

func scrapeMetrics(ctx context.Context, base string) (scrape, error) {
	out := scrape{}
	for _, name := range scraped {
		v, err := gatewaytest.Metric(ctx, base, name)
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	for _, le := range serverBuckets { // absent before the first request
		if v, err := gatewaytest.Metric(ctx, base, bucketSample(le)); err == nil {
			out[bucketSample(le)] = v
		}
	}
	return out, nil
}

func figs(before, after scrape, secs float64) *gatewayFigs {
	g := &gatewayFigs{Fsyncs: after["gateway_store_fsyncs_total"] - before["gateway_store_fsyncs_total"],
		Writes:          after["gateway_store_writes_total"] - before["gateway_store_writes_total"],
		RelayPublished:  after["gateway_relay_published_total"] - before["gateway_relay_published_total"],
		RelayErrors:     after["gateway_relay_errors_total"] - before["gateway_relay_errors_total"],
		IntakeLogDepth:  after["gateway_intake_log_depth"],
		RelayLagSeconds: after["gateway_relay_lag_seconds"],
		CPUSeconds:      after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]}
	g.FsyncsPerSec = g.Fsyncs / secs
	g.CPUCores = g.CPUSeconds / secs
	g.ServerP50, g.ServerP99 = serverQuantile(before, after, .5), serverQuantile(before, after, .99)
	if g.Fsyncs > 0 {
		g.WritesPerFsync = g.Writes / g.Fsyncs
	}
	if g.Writes > 0 {
		g.PagesPerWrite = (after["gateway_store_pages_written_total"] - before["gateway_store_pages_written_total"]) / g.Writes
	}
	return g
}

func runSequential(ctx context.Context, o options) (*report, error) {
	posts, err := posters(o, 1)
	if err != nil {
		return nil, err
	}
	post := posts[0]
	run := fmt.Sprintf("seq-%d", time.Now().UnixNano())
	for i := range 20 { // warm the connection and the gateway
		if _, err := post(ctx, body(run+"-w", i, o.textBytes)); err != nil {
			return nil, err
		}
	}
	before, err := scrapeMetrics(ctx, o.url)
	if err != nil {
		return nil, err
	}
	rep := &report{Mode: "sequential", Statuses: map[string]int{}}
	lat := make([]time.Duration, 0, o.sequential)
	start := time.Now()
	for i := range o.sequential {
		t0 := time.Now()
		code, err := post(ctx, body(run, i, o.textBytes))
		lat = append(lat, time.Since(t0))
		rep.Sent++
		rep.Statuses[status(code, err)]++
		if ctx.Err() != nil {
			break
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Throughput = float64(rep.Statuses["202"]) / rep.Seconds
	rep.Latency = pct(lat)
	after, err := scrapeMetrics(ctx, o.url)
	if err != nil {
		return nil, err
	}
	rep.Gateway = figs(before, after, rep.Seconds)
	return rep, nil
}

func status(code int, err error) string {
	if err != nil {
		var ne net.Error
		switch {
		case strings.Contains(err.Error(), "connection refused"):
			return "refused"
		case errors.As(err, &ne) && ne.Timeout(), strings.Contains(err.Error(), "Client.Timeout"), strings.Contains(err.Error(), "deadline"):
			return "timeout"
		}
		return "error"
	}
	return strconv.Itoa(code)
}

// poster sends one request body and returns the answer's status code.
type poster func(ctx context.Context, body []byte) (int, error)

// posters returns one poster per worker, sharing a net/http client whose
// pool keeps a connection for every worker (so that none is opened, or
// closed for want of an idle slot, while measuring).
func posters(o options, n int) ([]poster, error) {
	target := o.url + o.path
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = n, n, n
	tr.DisableCompression = true
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	post := func(ctx context.Context, b []byte) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	out := make([]poster, n)
	for i := range out {
		out[i] = post
	}
	return out, nil
}

type job struct {
	i        int
	at       time.Time // scheduled send time
	measured bool
}

type sample struct {
	sched, service time.Duration
	status         string
}

func runOpenLoop(ctx context.Context, o options) (*report, error) {
	if o.rate <= 0 || o.concurrency <= 0 {
		return nil, fmt.Errorf("-rate and -concurrency must be positive")
	}
	post, err := posters(o, o.concurrency)
	if err != nil {
		return nil, err
	}
	run := fmt.Sprintf("ol-%d", time.Now().UnixNano())

	// Pre-build bodies: the generator must not be the bottleneck.
	total := int(o.rate * (o.warmup + o.duration).Seconds())
	bodies := make([][]byte, total)
	for i := range bodies {
		bodies[i] = body(run, i, o.textBytes)
	}
	jobs := make(chan job, o.concurrency)
	results := make(chan sample, 4096)
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				t0 := time.Now()
				code, err := post[w](ctx, bodies[j.i])
				if !j.measured {
					continue
				}
				now := time.Now()
				results <- sample{sched: now.Sub(j.at), service: now.Sub(t0), status: status(code, err)}
			}
		}()
	}
	var samples []sample
	collected := make(chan struct{})
	go func() {
		for s := range results {
			samples = append(samples, s)
		}
		close(collected)
	}()

	var before scrape
	var measureStart time.Time
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	var probeDone chan probeResult
	start := time.Now()
	interval := time.Duration(float64(time.Second) / o.rate)
	late := 0
	warmupN := int(o.rate * o.warmup.Seconds())
	for i := 0; i < total && ctx.Err() == nil; i++ {
		at := start.Add(time.Duration(i) * interval)
		if i == warmupN {
			if before, err = scrapeMetrics(ctx, o.url); err != nil {
				break
			}
			measureStart = time.Now()
			if o.probeDir != "" {
				probeDone = make(chan probeResult, 1)
				go func() { probeDone <- diskProbe(probeCtx, o.probeDir, 5*time.Millisecond) }()
			}
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		j := job{i: i, at: at, measured: i >= warmupN}
		select {
		case jobs <- j:
		default:
			if j.measured {
				late++
			}
			jobs <- j // wait for a worker; the delay counts in the latency
		}
	}
	close(jobs)
	wg.Wait()
	stopProbe()
	close(results)
	<-collected
	if err != nil {
		return nil, err
	}
	var probe *probeFigs
	if probeDone != nil {
		pr := <-probeDone
		if pr.err != nil {
			return nil, fmt.Errorf("disk probe: %w", pr.err)
		}
		probe = pr.figs()
	}
	elapsed := time.Since(measureStart).Seconds()
	after, err := scrapeMetrics(ctx, o.url)
	if err != nil {
		return nil, err
	}
	rep := &report{Mode: "open-loop", Offered: o.rate, Sent: len(samples), Seconds: elapsed, Statuses: map[string]int{}, Late: late, Probe: probe}
	sched := make([]time.Duration, 0, len(samples))
	service := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		rep.Statuses[s.status]++
		sched = append(sched, s.sched)
		service = append(service, s.service)
	}
	rep.Throughput = float64(rep.Statuses["202"]) / elapsed
	rep.Latency = pct(sched)
	sp := pct(service)
	rep.ServiceLatency = &sp
	rep.Gateway = figs(before, after, elapsed)
	return rep, nil
}

// fsyncProbe measures write + fdatasync of a 4 KiB block (what a commit's
// meta page costs) in dir, n times.
func fsyncProbe(dir string, n int) (*report, error) {
	p, err := diskprobe.Open(dir, "fsync-probe-")
	if err != nil {
		return nil, err
	}
	defer p.Close()
	lat := make([]time.Duration, 0, n)
	start := time.Now()
	for range n {
		took, err := p.Once()
		if err != nil {
			return nil, err
		}
		lat = append(lat, took)
	}
	secs := time.Since(start).Seconds()
	return &report{Mode: "fsync (4 KiB write + fdatasync) in " + dir, Sent: n, Seconds: secs, Throughput: float64(n) / secs,
		Statuses: map[string]int{"ok": n}, Latency: pct(lat)}, nil
}

// probeFigs is what the disk probe saw during the measured window.
type probeFigs struct {
	N         int         `json:"n"`
	Latency   percentiles `json:"latency_ms"`
	Over20ms  int         `json:"over_20ms"`
	StalledMs float64     `json:"stalled_ms"` // the sum of the fsyncs over 20 ms
}

type probeResult struct {
	lat []time.Duration
	err error
}

func (r probeResult) figs() *probeFigs {
	f := &probeFigs{N: len(r.lat)}
	for _, d := range r.lat {
		if d > 20*time.Millisecond {
			f.Over20ms++
			f.StalledMs += ms(d)
		}
	}
	f.Latency = pct(r.lat)
	return f
}

// diskProbe probes dir's fsync every interval until ctx ends, beside the
// load (internal/diskprobe).
func diskProbe(ctx context.Context, dir string, interval time.Duration) probeResult {
	var lat []time.Duration
	err := diskprobe.Every(ctx, dir, "loadgen-probe-", interval, func(_ time.Time, took time.Duration) {
		lat = append(lat, took)
	})
	return probeResult{lat: lat, err: err}
}
