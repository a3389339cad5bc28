package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// The storm test's shape (issue "Abuse resistance", item 1): 1,000 wrong
// logins from 10 source IPs while the web channel takes 500 requests/s.
const (
	stormLogins  = 1000
	stormIPs     = 10
	stormRounds  = 8                     // baseline and storm windows alternate this often
	stormWindow  = time.Second           // each baseline and each storm window
	webRate      = 500                   // web requests per second, open loop
	webInFlight  = 256                   // the web load's concurrency cap
	stormTimeout = 10 * time.Second      // any one request
	stormBudget  = 120 * time.Second     // the whole test
	webInterval  = time.Second / webRate // between two web requests
	loginsPerWin = stormLogins / stormRounds
)

// TestLoginStormKeepsIntakeLatency: a login storm must not slow intake. Before
// the login guard, every wrong password ran bcrypt (~50 ms of a core) at
// once, and 400 logins took web latency from ~1 ms to 300–600 ms. Now the
// checks in all are bounded (auth.login.checks_per_second, one at a time)
// and run in the bcrypt worker process of the lowest priority; the rest are
// refused with 429.
//
// The worst case is measured: the per-IP back-off is set out of reach and
// half the ids are unknown (each a fresh account), so that the global bound
// alone carries the storm; the other half are known agents with hashes of
// bcrypt's default cost. Baseline and storm windows alternate so that other
// load on the machine falls on both alike; a storm window lasts until its
// last login is answered, so queued bcrypt work counts against it.
//
// The verdict is the median over the rounds of the per-round ratio (see
// the end). A latency ratio needs a machine to itself: scripts/test.sh
// runs it alone, after the suite (GATEWAYTEST_LOGIN_STORM=1, about 20 s).
func TestLoginStormKeepsIntakeLatency(t *testing.T) {
	if os.Getenv("GATEWAYTEST_LOGIN_STORM") != "1" {
		t.Skip("a 40 s latency test that needs the machine to itself: scripts/test.sh runs it alone with GATEWAYTEST_LOGIN_STORM=1")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("the-right-password"), bcrypt.DefaultCost)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "agents.yaml")
	agents := "agents:\n"
	for i := range 5 {
		agents += fmt.Sprintf("  - {id: agent%d, password_hash: '%s'}\n", i, hash)
	}
	require.NoError(t, os.WriteFile(file, []byte(agents), 0o600))
	p := gatewaytest.Start(t, gatewaytest.Options{Env: []string{
		"GATEWAY_AGENTS_FILE=" + file,
		"GATEWAY_RATE_LIMIT_PER_IP=1000000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=1000000", // the web load is one IP
		"GATEWAY_AUTH_LOGIN_IP_MAX_FAILURES=1000000", // the pool alone must hold
		"GATEWAY_LOG_LEVEL=warn",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), stormBudget)
	defer cancel()

	web := startWebLoad(ctx, t, p.URL("/v1/channels/web/requests"))
	storm := newStormClients(t)
	// Warm-up, outside every window: connections, caches, the dummy hash.
	runStorm(ctx, t, storm, p.URL("/v1/agents/login"), 20, stormWindow, map[int]int{})
	waitUntil(ctx, time.Now().Add(stormWindow))
	var windows []window
	loginStatus := map[int]int{}
	for round := range stormRounds {
		b := time.Now()
		waitUntil(ctx, b.Add(stormWindow))
		windows = append(windows, window{"baseline", b, time.Now()})
		s := time.Now()
		runStorm(ctx, t, storm, p.URL("/v1/agents/login"), loginsPerWin, stormWindow, loginStatus)
		windows = append(windows, window{"storm", s, time.Now()})
		require.NoError(t, ctx.Err(), "round %d", round)
	}
	lat := web.stop()

	base, during := split(lat, windows, "baseline"), split(lat, windows, "storm")
	// Enough samples for a p99 on each side; on a busy machine the open
	// loop may fall short of its schedule, on both sides alike.
	require.Greater(t, len(base), stormRounds*webRate/2, "baseline samples")
	require.Greater(t, len(during), stormRounds*webRate/2, "storm samples")
	require.Zero(t, web.failed.Load(), "web requests not answered 202")
	checks, err := gatewaytest.Metric(ctx, "http://"+p.HTTPAddr, "gateway_agent_login_hash_checks_total")
	require.NoError(t, err)
	p99b, p99s := pct(base, 99), pct(during, 99)
	t.Logf("web: baseline n=%d p50=%v p99=%v; storm n=%d p50=%v p99=%v (%.2f×); logins by status %v; bcrypt checks %v",
		len(base), pct(base, 50), p99b, len(during), pct(during, 50), p99s, float64(p99s)/float64(p99b), loginStatus, checks)
	require.Equal(t, stormLogins, loginStatus[http.StatusUnauthorized]+loginStatus[http.StatusTooManyRequests],
		"every storm login is a 401 or a 429: %v", loginStatus)
	require.Positive(t, loginStatus[http.StatusUnauthorized], "the storm made the gateway check passwords")

	// The verdict is the median over the rounds of each round's storm p99
	// against the baseline p99 just before it: a stall of the shared host
	// (one 80 ms hiccup is the whole p99 of 4,000 samples) then spoils one
	// round, not the judgement, while a storm that slows intake shows in
	// every round.
	var ratios []float64
	for i := 0; i+1 < len(windows); i += 2 {
		rb := split(lat, windows[i:i+1], "baseline")
		rs := split(lat, windows[i+1:i+2], "storm")
		ratios = append(ratios, float64(pct(rs, 99))/float64(pct(rb, 99)))
	}
	slices.Sort(ratios)
	median := (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
	t.Logf("per-round storm/baseline p99: %.2f (median %.2f)", ratios, median)
	require.LessOrEqual(t, median, 2.0, "web p99 during the login storm more than twice the baseline's (median of the rounds)")
}

// window is a span of the run and what happened in it.
type window struct {
	kind       string
	start, end time.Time
}

// sample is one web request: when it was due and how long it took from then.
type sample struct {
	due time.Time
	d   time.Duration
}

type webLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	lat    []sample
	failed atomic.Int64
}

// startWebLoad posts webRate requests a second, each due at a fixed time and
// timed from then (open loop: a slow answer delays no later request).
func startWebLoad(ctx context.Context, t *testing.T, url string) *webLoad {
	ctx, cancel := context.WithCancel(ctx)
	w := &webLoad{cancel: cancel}
	c := gatewaytest.NewClient(webInFlight)
	sem := make(chan struct{}, webInFlight)
	var seq atomic.Int64
	w.wg.Go(func() {
		tick := time.NewTicker(webInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case due := <-tick.C:
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				w.wg.Go(func() {
					defer func() { <-sem }()
					body := gatewaytest.WebRequest(fmt.Sprintf("storm-web-%d", seq.Add(1)), "路灯不亮 street light out at the corner")
					rctx, rcancel := context.WithTimeout(ctx, stormTimeout)
					defer rcancel()
					r, err := c.Do(rctx, http.MethodPost, url, body, http.Header{"Content-Type": {"application/json"}})
					d := time.Since(due)
					if ctx.Err() != nil {
						return // stopping: not a sample
					}
					if err != nil || r.Status != http.StatusAccepted {
						w.failed.Add(1)
						return
					}
					w.mu.Lock()
					w.lat = append(w.lat, sample{due, d})
					w.mu.Unlock()
				})
			}
		}
	})
	t.Cleanup(w.halt)
	return w
}

func (w *webLoad) halt() { w.cancel(); w.wg.Wait() }

// stop ends the load and returns its samples.
func (w *webLoad) stop() []sample {
	w.halt()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.lat)
}

// newStormClients returns one client per source IP, 127.0.0.2 … 127.0.0.11:
// Linux routes all of 127.0.0.0/8 to loopback.
func newStormClients(t *testing.T) []*http.Client {
	var out []*http.Client
	for i := range stormIPs {
		ip := net.IPv4(127, 0, 0, byte(2+i))
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: stormTimeout}
		tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
		t.Cleanup(tr.CloseIdleConnections)
		out = append(out, &http.Client{Transport: tr, Timeout: stormTimeout})
	}
	return out
}

// runStorm sends n wrong logins spread over span, round-robin over the
// clients, and waits for every answer; it counts statuses into status.
func runStorm(ctx context.Context, t *testing.T, clients []*http.Client, url string, n int, span time.Duration, status map[int]int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		waitUntil(ctx, start.Add(span*time.Duration(i)/time.Duration(n)))
		id := fmt.Sprintf("agent%d", i%5) // known, bcrypt at the default cost
		if i%2 == 1 {
			id = fmt.Sprintf("nobody-%d-%d", start.UnixNano(), i) // unknown, a fresh account each
		}
		body, _ := json.Marshal(map[string]string{"id": id, "password": "a-wrong-guess"})
		c := clients[i%len(clients)]
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			code := -1
			if resp, err := c.Do(req); err == nil {
				code = resp.StatusCode
				_ = resp.Body.Close()
			}
			mu.Lock()
			status[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
}

// waitUntil blocks until at (pacing, not ordering) or ctx ends.
func waitUntil(ctx context.Context, at time.Time) {
	tm := time.NewTimer(time.Until(at))
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// split returns the latencies of the samples due within windows of kind.
func split(lat []sample, windows []window, kind string) []time.Duration {
	var out []time.Duration
	for _, s := range lat {
		for _, w := range windows {
			if w.kind == kind && !s.due.Before(w.start) && s.due.Before(w.end) {
				out = append(out, s.d)
				break
			}
		}
	}
	return out
}

// pct is the p-th percentile (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}
