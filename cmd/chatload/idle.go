package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// idleReport is what an idle run measured.
type idleReport struct {
	Mode   string `json:"mode"`
	Target int    `json:"target_conns"`
	Hello  bool   `json:"hello"`
	Open   int    `json:"opened"`
	// Helpers are the other chatload processes that held a share (-helpers).
	Helpers      int            `json:"helpers,omitempty"`
	Failures     map[string]int `json:"failures"`
	SetupSeconds float64        `json:"setup_s"`
	SetupRate    float64        `json:"setup_conns_per_s"`
	SetupLatency percentiles    `json:"setup_latency_ms"`
	Progress     []progress     `json:"progress"`
	TimedOut     bool           `json:"setup_timed_out"`
	// Frames the citizens received besides their welcome and their first
	// message's echo (queue positions).
	FramesSetup int64          `json:"frames_during_setup"`
	FramesHold  int64          `json:"frames_during_hold"`
	Dropped     map[string]int `json:"dropped_during_hold"`
	StillOpen   int            `json:"still_open_at_end"`
	Settled     memFigs        `json:"gateway_after_settle"`
	End         memFigs        `json:"gateway_at_end"`
	HarnessRSS  float64        `json:"harness_rss_per_conn"`
	NoFile      uint64         `json:"nofile_limit"`
	Load        [2]string      `json:"loadavg_start_end"`
	Net         netCounters    `json:"net_during_setup"`
}

// progress is the setup rate over the last step of connections.
type progress struct {
	Conns   int     `json:"conns"`
	Elapsed float64 `json:"elapsed_s"`
	Rate    float64 `json:"conns_per_s"`
}

// memFigs are the gateway's memory figures against the snapshot before the
// run, per open connection.
type memFigs struct {
	RSSBefore, RSS     int64
	RSSPerConn         float64 `json:"rss_per_conn"`
	AnonPerConn        float64 `json:"rss_anon_per_conn"`
	FilePerConn        float64 `json:"rss_file_per_conn"`
	GCs                float64 `json:"gcs_since_start"`
	HeapInusePerConn   float64 `json:"heap_inuse_per_conn"`
	StackInusePerConn  float64 `json:"stack_inuse_per_conn"`
	GoroutinesPerConn  float64 `json:"goroutines_per_conn"`
	HeapObjectsPerConn float64 `json:"heap_objects_per_conn"`
}

func mem(before, after snapshot, n int) memFigs {
	f := memFigs{RSSBefore: before.RSS, RSS: after.RSS}
	if n == 0 {
		return f
	}
	per := func(name string) float64 { return (after.Metrics[name] - before.Metrics[name]) / float64(n) }
	f.RSSPerConn = float64(after.RSS-before.RSS) / float64(n)
	f.AnonPerConn = float64(after.Mem.Anon-before.Mem.Anon) / float64(n)
	f.FilePerConn = float64(after.Mem.File-before.Mem.File) / float64(n)
	f.GCs = per("go_gc_duration_seconds_count") * float64(n)
	f.HeapInusePerConn = per("go_memstats_heap_inuse_bytes")
	f.StackInusePerConn = per("go_memstats_stack_inuse_bytes")
	f.GoroutinesPerConn = per("go_goroutines")
	f.HeapObjectsPerConn = per("go_memstats_heap_objects")
	return f
}

// idleConn is one held citizen websocket. Its reader answers pings (the
// websocket library does, while reading) and discards frames.
type idleConn struct {
	ws      *websocket.Conn
	welcome chan string // "" for a welcome or the echo of the first message, else why not
	sid     string      // the session the welcome reserved: set by the reader before it signals the welcome
	done    chan struct{}
}

func (c *idleConn) read(frames *atomic.Int64, holding *atomic.Bool, dropped *counters, closing *atomic.Bool) {
	defer close(c.done)
	var head [64]byte
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			if !closing.Load() {
				why := "read error"
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					why = fmt.Sprintf("closed %d", ce.Code)
				}
				if holding.Load() {
					dropped.inc(why)
				}
				select {
				case c.welcome <- why:
				default:
				}
			}
			return
		}
		n, _ := io.ReadFull(r, head[:])
		typ := frameType(head[:n])
		if typ == "welcome" { // its session id: the first message opens that session
			rest, _ := io.ReadAll(r)
			var f inFrame
			if json.Unmarshal(append(head[:n:n], rest...), &f) == nil {
				c.sid = f.SessionID
			}
		}
		_, _ = io.Copy(io.Discard, r)
		switch typ {
		case "welcome", "message": // the welcome, the first message's echo
			select {
			case c.welcome <- "":
			default:
			}
			continue
		case "error":
			select {
			case c.welcome <- "error frame":
			default:
			}
		}
		frames.Add(1)
	}
}

// runIdle opens o.conns citizen websockets, holds them for o.settle and
// o.duration, and reports the gateway's memory per connection against its
// state before the run. Every connection is closed at the end.
func runIdle(ctx context.Context, o options) (*idleReport, error) {
	rep := &idleReport{Mode: "idle", Target: o.conns, Hello: o.hello, NoFile: o.nofile}
	rep.Load[0] = loadavg()
	net0 := readNet()
	a := newAPI(o.base, o.setupConcurrency)
	before, err := takeSnapshot(ctx, o.base, o.pid)
	if err != nil {
		return nil, err
	}
	selfBefore, _ := readProcMem("self")
	own := o.conns
	var helpers []*helper
	if o.helpers > 0 {
		share := o.conns / (o.helpers + 1)
		own -= share * o.helpers
		helpers, err = startHelpers(ctx, o, o.helpers, share)
		defer stopHelpers(helpers)
		if err != nil {
			return nil, err
		}
		rep.Helpers = len(helpers)
		fmt.Fprintf(os.Stderr, "chatload: %d helpers hold %d websockets; opening %d here\n", len(helpers), helpersOpen(helpers), own)
	}

	var (
		frames          atomic.Int64
		holding         atomic.Bool
		closing         atomic.Bool
		dropped, failed counters
		mu              sync.Mutex
		conns           []*idleConn
		lat             []time.Duration
		opened          atomic.Int64
	)
	step := min(1000, max(100, own/20)) // progress lines
	start := time.Now()
	lastStep := start
	setupCtx, cancel := context.WithTimeout(ctx, o.setupTimeout)
	defer cancel()
	one := func() {
		t0 := time.Now()
		fail := func(why string) { failed.inc(why) }
		tok, err := a.citizenToken(setupCtx)
		if err != nil {
			if errors.Is(err, errRateLimited) {
				fail("token: 429")
			} else if setupCtx.Err() == nil {
				fail("token: " + err.Error())
			}
			return
		}
		ws, err := dial(setupCtx, o.wsBase(), "/v1/ws/citizen", tok, 1024)
		if err != nil {
			if setupCtx.Err() == nil {
				fail("dial: " + shortErr(err))
			}
			return
		}
		c := &idleConn{ws: ws, welcome: make(chan string, 1), done: make(chan struct{})}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		go c.read(&frames, &holding, &dropped, &closing)
		if o.hello {
			// The hello reserves a session; the first message opens it
			// (queued) and files its request.
			why := ""
			await := func(what string) {
				select {
				case w := <-c.welcome:
					if w != "" {
						why = "before " + what + ": " + w
					}
				case <-time.After(30 * time.Second):
					why = "no " + what + " within 30s"
				case <-setupCtx.Done():
					why = "setup timeout"
				}
			}
			if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","data":{"channel":"web"}}`)); err != nil {
				why = "hello: " + shortErr(err)
			} else if await("welcome"); why == "" {
				if err := ws.WriteMessage(websocket.TextMessage, messageFrame(c.sid, "idle-1", idleText)); err != nil {
					why = "first message: " + shortErr(err)
				} else {
					await("echo of the first message")
				}
			}
			if why != "" {
				if setupCtx.Err() == nil {
					fail(why)
				}
				_ = ws.Close()
				return
			}
		}
		d := time.Since(t0)
		n := int(opened.Add(1))
		mu.Lock()
		lat = append(lat, d)
		if n%step == 0 {
			now := time.Now()
			p := progress{Conns: n, Elapsed: now.Sub(start).Seconds(), Rate: float64(step) / now.Sub(lastStep).Seconds()}
			lastStep = now
			rep.Progress = append(rep.Progress, p)
			fmt.Fprintf(os.Stderr, "chatload: %6d open after %6.1fs (%.0f/s over the last %d)\n", p.Conns, p.Elapsed, p.Rate, step)
		}
		mu.Unlock()
	}
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range o.setupConcurrency {
		wg.Go(func() {
			for range jobs {
				one()
			}
		})
	}
dispatch:
	for range own {
		select {
		case jobs <- struct{}{}:
		case <-setupCtx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	rep.TimedOut = setupCtx.Err() != nil && ctx.Err() == nil
	rep.SetupSeconds = time.Since(start).Seconds()
	rep.Open = int(opened.Load())
	rep.SetupRate = float64(rep.Open) / rep.SetupSeconds
	rep.Open += helpersOpen(helpers)
	rep.SetupLatency = pct(lat)
	rep.FramesSetup = frames.Load()
	rep.Net = readNet().sub(net0)
	holding.Store(true)
	fmt.Fprintf(os.Stderr, "chatload: %d open in %.1fs; settling %v, then holding %v\n", rep.Open, rep.SetupSeconds, o.settle, o.duration)

	defer func() { // close everything; the gateway detaches each connection
		closing.Store(true)
		for _, c := range conns {
			_ = c.ws.Close()
		}
		for _, c := range conns {
			<-c.done
		}
	}()
	if !sleepCtx(ctx, o.settle) {
		return nil, ctx.Err()
	}
	settled, err := takeSnapshot(ctx, o.base, o.pid)
	if err != nil {
		return nil, err
	}
	rep.Settled = mem(before, settled, rep.Open)
	framesHold0 := frames.Load()
	if !sleepCtx(ctx, o.duration) {
		return nil, ctx.Err()
	}
	end, err := takeSnapshot(ctx, o.base, o.pid)
	if err != nil {
		return nil, err
	}
	open := 0
	for _, c := range conns {
		select {
		case <-c.done:
		default:
			open++
		}
	}
	open += helpersOpen(helpers)
	rep.StillOpen = open
	rep.End = mem(before, end, open)
	rep.FramesHold = frames.Load() - framesHold0
	rep.Failures, rep.Dropped = failed.snapshot(), dropped.snapshot()
	rep.Load[1] = loadavg()
	if self, err := readProcMem("self"); err == nil && opened.Load() > 0 {
		rep.HarnessRSS = float64(self.RSS-selfBefore.RSS) / float64(opened.Load()) // this process's own
	}
	return rep, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// shortErr keeps failure categories few: the error's last part.
func shortErr(err error) string {
	s := err.Error()
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == ':' && i+2 < len(s) {
			return s[i+2:]
		}
	}
	return s
}

func (r *idleReport) print(w io.Writer) {
	fmt.Fprintf(w, "mode              idle (hello=%v: %s)\n", r.Hello, map[bool]string{true: "each connection opens a queued session", false: "bare websockets, no session"}[r.Hello])
	fmt.Fprintf(w, "opened            %d of %d in %.1fs (%.0f/s)%s\n", r.Open, r.Target, r.SetupSeconds, r.SetupRate,
		map[bool]string{true: "  SETUP TIMED OUT", false: ""}[r.TimedOut])
	fmt.Fprintf(w, "setup latency     %s\n", r.SetupLatency)
	fmt.Fprintf(w, "failures          %v\n", r.Failures)
	fmt.Fprintf(w, "frames received   %d during setup, %d during hold (queue updates)\n", r.FramesSetup, r.FramesHold)
	fmt.Fprintf(w, "dropped in hold   %v; still open at end %d\n", r.Dropped, r.StillOpen)
	for _, m := range []struct {
		name string
		f    memFigs
	}{{"after settle", r.Settled}, {"at end of hold", r.End}} {
		fmt.Fprintf(w, "gateway %-14s RSS %.1f → %.1f MiB: %.0f B/conn (anon %.0f, file %.0f); heap in use %.0f B/conn, stacks %.0f B/conn, %.2f goroutines/conn, %.1f heap objects/conn; %.0f GCs\n",
			m.name, mib(m.f.RSSBefore), mib(m.f.RSS), m.f.RSSPerConn, m.f.AnonPerConn, m.f.FilePerConn, m.f.HeapInusePerConn, m.f.StackInusePerConn,
			m.f.GoroutinesPerConn, m.f.HeapObjectsPerConn, m.f.GCs)
	}
	fmt.Fprintf(w, "harness           %.0f B RSS/conn; RLIMIT_NOFILE %d\n", r.HarnessRSS, r.NoFile)
	fmt.Fprintf(w, "kernel            %d input-backlog drops, %d TCP retransmits during set-up (whole machine)\n", r.Net.BacklogDrops, r.Net.Retrans)
	fmt.Fprintf(w, "machine load      %s at the start, %s at the end (1, 5, 15 min; 2 cores)\n", r.Load[0], r.Load[1])
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
