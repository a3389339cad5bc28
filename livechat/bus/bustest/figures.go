package bustest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline12345/gateway/livechat/bus"
)

// Figures are what one paced run measured, one way.
type Figures struct {
	Rate           int // frames per second asked for
	Sent, Received int
	// P50, P99 and Max count from the Publish call to the handler: the
	// bus alone.
	P50, P99, Max time.Duration
	// DueP50 and DueP99 count from the time the frame was due: they add
	// the harness's late wake-ups (see the "mem" floor) and any backlog of
	// a publisher that cannot keep the rate (no coordinated omission).
	DueP50, DueP99 time.Duration
	Elapsed        time.Duration // first due time to last arrival or give-up
}

func (f Figures) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("%6d/s  sent %6d  received %6d  p50 %7s  p99 %8s  max %8s  from due: p50 %7s  p99 %8s",
		f.Rate, f.Sent, f.Received, r(f.P50), r(f.P99), r(f.Max), r(f.DueP50), r(f.DueP99))
}

// Lossless reports whether every frame sent arrived.
func (f Figures) Lossless() bool { return f.Sent > 0 && f.Received == f.Sent }

// Frame is a chat message frame of about size bytes (JSON, Chinese text,
// as the hub relays) whose first 10 bytes number it.
func Frame(i, size int) []byte {
	head := fmt.Sprintf(`%010d{"type":"message","id":"c-%d","session_id":"6f1c2a9e-1b7d-4c55-9a0e-3d2f8b7c6a11","seq":%d,"at":"2026-12-20T08:00:00.000Z","data":{"from":"citizen","text":"`, i, i, i)
	tail := `"}}`
	var text strings.Builder
	for text.Len() < size-len(head)-len(tail)-2 {
		text.WriteString("您好")
	}
	return []byte(head + text.String() + tail)
}

// Pacing says how one run publishes.
type Pacing struct {
	Rate       int           // frames per second
	Frames     int           // frames in the run
	Size       int           // bytes per frame, about
	Publishers int           // goroutines publishing in turn; default 4
	Grace      time.Duration // wait for stragglers after the last due time; default 2 s
}

// Latency publishes p.Frames frames on pub at p.Rate and measures when each
// reaches a subscriber on sub, one way: from its Publish call, and from the
// time it was due, so that a publisher that falls behind shows (no
// coordinated omission). A frame is due every 1/Rate; the publishers take
// due frames in turn (one blocked in a synchronous Publish does not stop the
// others). Frames not arrived within Grace of the last due time are lost.
func Latency(ctx context.Context, pub, sub bus.Bus, subject string, p Pacing) (Figures, error) {
	if p.Publishers <= 0 {
		p.Publishers = 4
	}
	if p.Grace <= 0 {
		p.Grace = 2 * time.Second
	}
	frames := make([][]byte, p.Frames) // made ahead: the run measures the bus, not Sprintf
	for i := range frames {
		frames[i] = Frame(i, p.Size)
	}
	var mu sync.Mutex // lat and dueLat are written by the handler, read at the end
	lat := make([]time.Duration, p.Frames)
	dueLat := make([]time.Duration, p.Frames)
	// Offsets from t0 of each Publish call, written by the publishers and
	// read by the handler across the bus, which the race detector cannot
	// see: atomics.
	sentAt := make([]atomic.Int64, p.Frames)
	var received atomic.Int64
	allIn := make(chan struct{})
	// The first due time, as an offset from t0: the handler reads it
	// while the frames cross the bus, which the race detector cannot see.
	t0 := time.Now()
	var startOff atomic.Int64
	interval := time.Second / time.Duration(p.Rate)
	rec := &Recorder{}
	s, err := sub.Subscribe(ctx, subject, func(data []byte) {
		if bytes.HasPrefix(data, []byte(probePrefix)) {
			rec.Handle(data)
			return
		}
		now := time.Since(t0)
		i, err := strconv.Atoi(string(data[:min(10, len(data))]))
		if err != nil || i < 0 || i >= len(lat) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if lat[i] != 0 {
			return
		}
		lat[i] = max(now-time.Duration(sentAt[i].Load()), 1)
		dueLat[i] = max(now-time.Duration(startOff.Load())-time.Duration(i)*interval, 1)
		if received.Add(1) == int64(p.Frames) {
			close(allIn)
		}
	})
	if err != nil {
		return Figures{}, err
	}
	defer func() { _ = s.Unsubscribe() }()
	if err := connect(ctx, pub, subject, rec); err != nil {
		return Figures{}, err
	}

	due := make(chan int, p.Frames)
	var sent atomic.Int64
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range p.Publishers {
		wg.Go(func() {
			for i := range due {
				if runCtx.Err() != nil {
					continue
				}
				sentAt[i].Store(int64(time.Since(t0)))
				if pub.Publish(runCtx, subject, frames[i]) == nil {
					sent.Add(1)
				}
			}
		})
	}
	start := time.Now()
	startOff.Store(int64(start.Sub(t0)))
	for i := 0; i < p.Frames; {
		for ; i < p.Frames && time.Since(start) >= time.Duration(i)*interval; i++ {
			due <- i
		}
		if i < p.Frames {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	close(due)
	giveUp := time.NewTimer(time.Until(start.Add(time.Duration(p.Frames)*interval + p.Grace)))
	defer giveUp.Stop()
	select {
	case <-allIn:
	case <-giveUp.C:
		cancel() // what is not sent by now counts as lost
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	wg.Wait()
	_ = s.Unsubscribe()
	f := Figures{Rate: p.Rate, Sent: int(sent.Load()), Elapsed: elapsed}
	mu.Lock()
	defer mu.Unlock()
	got, gotDue := arrived(lat), arrived(dueLat)
	f.Received = len(got)
	if len(got) > 0 {
		f.P50, f.P99, f.Max = got[len(got)/2], got[len(got)*99/100], got[len(got)-1]
		f.DueP50, f.DueP99 = gotDue[len(got)/2], gotDue[len(got)*99/100]
	}
	return f, ctx.Err()
}

// arrived are the latencies of the frames that arrived, sorted.
func arrived(lat []time.Duration) []time.Duration {
	got := make([]time.Duration, 0, len(lat))
	for _, d := range lat {
		if d != 0 {
			got = append(got, d)
		}
	}
	slices.Sort(got)
	return got
}

// MaxRate runs Latency for a second at each rate in turn and stops at the
// first that loses a frame or has a p99 from due time over p99Limit. It returns the
// figures of every rate run; the last good one is the sustained maximum.
func MaxRate(ctx context.Context, pub, sub bus.Bus, subject string, size int, p99Limit time.Duration, rates []int) ([]Figures, error) {
	var out []Figures
	for _, r := range rates {
		f, err := Latency(ctx, pub, sub, subject, Pacing{Rate: r, Frames: r, Size: size})
		if err != nil {
			return out, err
		}
		out = append(out, f)
		if !f.Lossless() || f.DueP99 > p99Limit {
			break
		}
	}
	return out, nil
}
