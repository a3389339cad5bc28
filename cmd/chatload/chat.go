package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	citizenText = "我家楼下的路灯坏了三天了，晚上很黑，请尽快派人修理。"
	idleText    = "请问热线几点下班？"
	agentText   = "您好，已记录您反映的问题，请问具体地址是？"
)

// chatReport is what a chat run measured. Latencies are from the sender's
// write to the receiver's read of the frame, on the harness's clock.
type chatReport struct {
	Mode         string         `json:"mode"`
	Agents       int            `json:"agents"`
	Citizens     int            `json:"citizens"`
	SetupSeconds float64        `json:"setup_s"`
	Offered      float64        `json:"offered_pairs_per_s"`
	Seconds      float64        `json:"seconds"`
	Sent         int64          `json:"citizen_messages_sent"`
	Completed    int64          `json:"pairs_completed"`
	PairsPerSec  float64        `json:"pairs_per_s"`
	Lost         int64          `json:"pairs_unfinished_after_drain"`
	Late         int64          `json:"late_sends"`
	C2A          percentiles    `json:"citizen_to_agent_ms"`
	A2C          percentiles    `json:"agent_to_citizen_ms"`
	Pair         percentiles    `json:"pair_round_trip_ms"`
	CitizenAck   percentiles    `json:"citizen_ack_ms"`
	AgentAck     percentiles    `json:"agent_ack_ms"`
	Errors       map[string]int `json:"errors"`
	Gateway      gatewayFigs    `json:"gateway"`
	HarnessCPU   float64        `json:"harness_cpu_cores"`
	NoFile       uint64         `json:"nofile_limit"`
	Load         [2]string      `json:"loadavg_start_end"`
	Net          netCounters    `json:"net_during_window"`
	Fsync        *percentiles   `json:"fsync_probe_ms,omitempty"`
	// Timeline is citizen → agent, agent → citizen and fsync-probe latency per second.
	Timeline [][3]percentiles `json:"timeline,omitempty"`
}

// gatewayFigs are the gateway's figures over the measurement window.
type gatewayFigs struct {
	CPUCores       float64 `json:"cpu_cores"`
	FsyncsPerSec   float64 `json:"fsyncs_per_s"`
	WritesPerFsync float64 `json:"writes_per_fsync"`
	RelayPerSec    float64 `json:"relay_published_per_s"`
	RSSMiB         float64 `json:"rss_mib_at_end"`
	Goroutines     float64 `json:"goroutines_at_end"`
	RelayLag       float64 `json:"relay_lag_s_at_end"`
	IntakeDepth    float64 `json:"intake_log_depth_at_end"`
}

func figs(a, b snapshot) gatewayFigs {
	secs := b.At.Sub(a.At).Seconds()
	d := func(n string) float64 { return b.Metrics[n] - a.Metrics[n] }
	g := gatewayFigs{CPUCores: d("process_cpu_seconds_total") / secs, FsyncsPerSec: d("gateway_store_fsyncs_total") / secs,
		RelayPerSec: d("gateway_relay_published_total") / secs, RSSMiB: mib(b.RSS), Goroutines: b.Metrics["go_goroutines"],
		RelayLag: b.Metrics["gateway_relay_lag_seconds"], IntakeDepth: b.Metrics["gateway_intake_log_depth"]}
	if f := d("gateway_store_fsyncs_total"); f > 0 {
		g.WritesPerFsync = d("gateway_store_writes_total") / f
	}
	return g
}

// runChat sets up agents and citizen sessions, sends pairs at o.rate for a
// warm-up and the measured window, and reports what was delivered and how
// fast. The sessions are closed at the end.
func runChat(ctx context.Context, o options) (*chatReport, error) {
	r := &chatRun{start: time.Now()}
	rep := &chatReport{Mode: "chat", Offered: o.rate, NoFile: o.nofile}
	rep.Load[0] = loadavg()
	a := newAPI(o.base, o.setupConcurrency)
	setupCtx, cancel := context.WithTimeout(ctx, o.setupTimeout)
	defer cancel()

	var citizens []*chatCitizen
	agents, capacity, err := startAgents(setupCtx, a, o, r)
	defer func() { teardown(r, agents, citizens) }()
	if err != nil {
		return nil, err
	}
	k := o.conns
	if k > capacity {
		fmt.Fprintf(os.Stderr, "chatload: %d agents take %d sessions in all: using %d citizens, not %d\n", len(agents), capacity, capacity, k)
		k = capacity
	}
	citizens = startCitizens(setupCtx, a, o, r, k)
	rep.Agents, rep.Citizens = len(agents), len(citizens)
	rep.SetupSeconds = time.Since(r.start).Seconds()
	if len(citizens) == 0 {
		rep.Errors = r.errs.snapshot()
		return rep, errors.New("no citizen session could be set up")
	}
	fmt.Fprintf(os.Stderr, "chatload: %d agents, %d citizens ready in %.1fs; warm-up %v, then measuring %v at %.0f pairs/s\n",
		len(agents), len(citizens), rep.SetupSeconds, o.warmup, o.duration, o.rate)

	net0 := readNet()
	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := make(chan error, 1)
	go func() {
		if o.fsyncDir == "" {
			probed <- nil
			return
		}
		probed <- fsyncProbe(probeCtx, o.fsyncDir, 5*time.Millisecond, r, &r.fsync)
	}()
	before, after, err := schedule(ctx, o, r, citizens)
	stopProbe()
	if perr := <-probed; perr != nil {
		fmt.Fprintln(os.Stderr, "chatload: fsync probe:", perr)
	}
	rep.Net = readNet().sub(net0) // warm-up included
	if err != nil {
		return nil, err
	}
	cpu1 := cpuSelf()
	rep.Seconds = after.At.Sub(before.At).Seconds()
	drain := time.Now().Add(5 * time.Second)
	for r.completed.Load() < r.sent.Load() && time.Now().Before(drain) {
		time.Sleep(10 * time.Millisecond)
	}
	rep.Sent, rep.Completed, rep.Late = r.sent.Load(), r.completed.Load(), r.late.Load()
	rep.PairsPerSec = float64(rep.Completed) / rep.Seconds
	rep.Lost = rep.Sent - rep.Completed
	rep.C2A, rep.A2C, rep.Pair = r.c2a.percentiles(), r.a2c.percentiles(), r.pair.percentiles()
	rep.CitizenAck, rep.AgentAck = r.citAck.percentiles(), r.agAck.percentiles()
	rep.Gateway = figs(before, after)
	rep.HarnessCPU = (cpu1 - before.cpuSelf).Seconds() / rep.Seconds
	rep.Errors = r.errs.snapshot()
	rep.Load[1] = loadavg()
	if o.fsyncDir != "" {
		p := r.fsync.percentiles()
		rep.Fsync = &p
	}
	if o.timeline {
		c2a, a2c, fs := r.c2a.timeline(), r.a2c.timeline(), r.fsync.timeline()
		for i := range min(len(c2a), len(a2c)) {
			t := [3]percentiles{c2a[i], a2c[i]}
			if i < len(fs) {
				t[2] = fs[i]
			}
			rep.Timeline = append(rep.Timeline, t)
		}
	}
	return rep, nil
}

// schedule sends citizen messages at o.rate, round robin over the citizens:
// a warm-up, then the measured window. It returns the gateway snapshots
// at the window's ends.
func schedule(ctx context.Context, o options, r *chatRun, citizens []*chatCitizen) (before, after snapshot, err error) {
	runStart := time.Now()
	warmEnd, end := runStart.Add(o.warmup), runStart.Add(o.warmup+o.duration)
	snapC := make(chan snapshot, 1)
	errC := make(chan error, 1)
	measuring := false
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var i int64
	for {
		now := time.Now()
		if !measuring && !now.Before(warmEnd) {
			measuring = true
			r.openWindow()
			go func() { // off the sending path
				s, err := takeSnapshot(ctx, o.base, o.pid)
				s.cpuSelf = cpuSelf()
				snapC <- s
				errC <- err
			}()
		}
		if !now.Before(end) {
			break
		}
		due := int64(now.Sub(runStart).Seconds() * o.rate)
		for ; i < due; i++ {
			select {
			case citizens[i%int64(len(citizens))].out <- struct{}{}:
			default:
				r.late.Add(1) // that citizen's previous messages are still being written
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return before, after, ctx.Err()
		}
	}
	after, err = takeSnapshot(ctx, o.base, o.pid)
	before = <-snapC
	if err == nil {
		err = <-errC
	}
	return before, after, err
}

func startAgents(ctx context.Context, a *api, o options, r *chatRun) ([]*chatAgent, int, error) {
	var mu sync.Mutex
	var agents []*chatAgent
	var firstErr error
	capacity := 0
	sem := make(chan struct{}, min(o.setupConcurrency, 16)) // bcrypt logins are slow: few at once
	var wg sync.WaitGroup
	for i := range o.agents {
		id := fmt.Sprintf("%s%d", o.agentPrefix, i+1)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ag, mc, err := startAgent(ctx, a, o, r, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			agents = append(agents, ag)
			capacity += mc
		})
	}
	wg.Wait()
	if firstErr != nil {
		return agents, 0, fmt.Errorf("%w (configure the gateway with GATEWAY_AGENTS=$(chatload -print-agents -agents %d))", firstErr, o.agents)
	}
	return agents, capacity, nil
}

func startAgent(ctx context.Context, a *api, o options, r *chatRun, id string) (*chatAgent, int, error) {
	tok, mc, err := a.login(ctx, id, o.agentPassword)
	if err != nil {
		return nil, 0, err
	}
	ws, err := dial(ctx, o.wsBase(), "/v1/ws/agent", tok, 4096)
	if err != nil {
		return nil, 0, fmt.Errorf("agent %s: %w", id, err)
	}
	ag := &chatAgent{id: id, ws: ws, out: make(chan agentOut, 8192), welcome: make(chan struct{}, 1), done: make(chan struct{})}
	go ag.read(r)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","data":{"presence":"available"}}`)); err != nil {
		return nil, 0, fmt.Errorf("agent %s: hello: %w", id, err)
	}
	go ag.write(r) // the only writer from now on: offers that came first wait in ag.out
	select {
	case <-ag.welcome:
	case <-time.After(30 * time.Second):
		return nil, 0, fmt.Errorf("agent %s: no welcome within 30s", id)
	}
	return ag, mc, nil
}

// startCitizens opens k sessions: token, websocket, hello, first message
// (which opens the session and files the request) acknowledged, accepted by
// an agent.
func startCitizens(ctx context.Context, a *api, o options, r *chatRun, k int) []*chatCitizen {
	var mu sync.Mutex
	var out []*chatCitizen
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range o.setupConcurrency {
		wg.Go(func() {
			for range jobs {
				c, err := startCitizen(ctx, a, o, r)
				if err != nil {
					if ctx.Err() == nil {
						r.errs.inc("setup: " + shortErr(err))
					}
					continue
				}
				mu.Lock()
				out = append(out, c)
				if n := len(out); n%500 == 0 {
					fmt.Fprintf(os.Stderr, "chatload: %d citizen sessions active after %.1fs\n", n, time.Since(r.start).Seconds())
				}
				mu.Unlock()
			}
		})
	}
	for range k {
		if ctx.Err() != nil {
			break
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return out
}

func startCitizen(ctx context.Context, a *api, o options, r *chatRun) (*chatCitizen, error) {
	tok, err := a.citizenToken(ctx)
	if err != nil {
		return nil, err
	}
	ws, err := dial(ctx, o.wsBase(), "/v1/ws/citizen", tok, 4096)
	if err != nil {
		return nil, err
	}
	c := &chatCitizen{ws: ws, out: make(chan struct{}, 64), events: make(chan string, 64), done: make(chan struct{})}
	go c.read(r)
	fail := func(err error) (*chatCitizen, error) {
		c.quit.Store(true)
		_ = ws.Close()
		<-c.done
		return nil, err
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","data":{"channel":"web"}}`)); err != nil {
		return fail(err)
	}
	w, err := c.await(ctx, "welcome:")
	if err != nil {
		return fail(err)
	}
	c.sid = strings.TrimPrefix(w, "welcome:")
	go c.write(r)
	c.out <- struct{}{} // the first message opens the session: only then is an agent offered it
	if _, err := c.await(ctx, "echo"); err != nil {
		close(c.out)
		return fail(fmt.Errorf("first message: %w", err))
	}
	if _, err := c.await(ctx, "active"); err != nil {
		close(c.out)
		return fail(fmt.Errorf("session not accepted: %w", err))
	}
	return c, nil
}

// teardown has each agent close its sessions (so that a gateway kept
// running does not carry them into the next run), then closes every socket.
func teardown(r *chatRun, agents []*chatAgent, citizens []*chatCitizen) {
	ours := map[string]bool{}
	for _, c := range citizens {
		ours[c.sid] = true
	}
	want := int64(0) // close frames our citizens will see; the agents may also hold older sessions
	for _, ag := range agents {
		ag.mu.Lock()
		for _, sid := range ag.sessions {
			ag.push(r, agentOut{kind: outClose, sid: sid})
			if ours[sid] {
				want++
			}
		}
		ag.mu.Unlock()
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.closed.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := r.closed.Load(); n < want {
		fmt.Fprintf(os.Stderr, "chatload: only %d of %d sessions closed at the end\n", n, want)
	}
	r.closing.Store(true)
	for _, c := range citizens {
		close(c.out)
		_ = c.ws.Close()
		<-c.done
	}
	for _, ag := range agents {
		_ = ag.ws.Close()
		<-ag.done
	}
}

func (r *chatReport) print(w io.Writer) {
	fmt.Fprintf(w, "mode              chat: %d agents, %d citizen sessions (set up in %.1fs)\n", r.Agents, r.Citizens, r.SetupSeconds)
	fmt.Fprintf(w, "offered           %.0f pairs/s for %.1fs\n", r.Offered, r.Seconds)
	fmt.Fprintf(w, "achieved          %.0f pairs/s (%d of %d completed; %d unfinished 5s after the end; %d late sends)\n",
		r.PairsPerSec, r.Completed, r.Sent, r.Lost, r.Late)
	fmt.Fprintf(w, "citizen → agent   %s\n", r.C2A)
	fmt.Fprintf(w, "agent → citizen   %s\n", r.A2C)
	fmt.Fprintf(w, "pair round trip   %s\n", r.Pair)
	fmt.Fprintf(w, "citizen ack       %s\n", r.CitizenAck)
	fmt.Fprintf(w, "agent ack         %s\n", r.AgentAck)
	fmt.Fprintf(w, "errors            %v\n", r.Errors)
	g := r.Gateway
	fmt.Fprintf(w, "gateway           %.2f cores; %.0f fsyncs/s, %.1f writes per fsync; relay %.0f records/s, at the end lag %.2fs depth %.0f; RSS %.1f MiB, %.0f goroutines\n",
		g.CPUCores, g.FsyncsPerSec, g.WritesPerFsync, g.RelayPerSec, g.RelayLag, g.IntakeDepth, g.RSSMiB, g.Goroutines)
	fmt.Fprintf(w, "harness           %.2f cores; RLIMIT_NOFILE %d\n", r.HarnessCPU, r.NoFile)
	fmt.Fprintf(w, "kernel            %d input-backlog drops, %d TCP retransmits during warm-up and window (whole machine)\n", r.Net.BacklogDrops, r.Net.Retrans)
	fmt.Fprintf(w, "machine load      %s at the start, %s at the end (1, 5, 15 min; 2 cores)\n", r.Load[0], r.Load[1])
	if r.Fsync != nil {
		fmt.Fprintf(w, "fsync probe       %s\n", *r.Fsync)
	}
	if len(r.Timeline) > 0 {
		fmt.Fprintf(w, "second   citizen → agent p50/p99/max ms   agent → citizen p50/p99/max ms   fsync probe p50/max ms\n")
		for i, t := range r.Timeline {
			fmt.Fprintf(w, "%6d   %7.1f %7.1f %7.1f            %7.1f %7.1f %7.1f            %6.2f %7.1f\n",
				i, t[0].P50, t[0].P99, t[0].Max, t[1].P50, t[1].P99, t[1].Max, t[2].P50, t[2].Max)
		}
	}
}
