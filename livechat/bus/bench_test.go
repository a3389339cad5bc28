package bus_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/pgtest"
	"github.com/hotline12345/gateway/livechat/bus"
	"github.com/hotline12345/gateway/livechat/bus/bustest"
)

// frameSize is a chat message frame's size, about.
const frameSize = 300

// engine opens a cluster of n nodes; serverCPU, when set, is the CPU time
// its servers outside this process have used so far.
type engine struct {
	open      func(n int) []bus.Bus
	serverCPU func() time.Duration
}

func engines(t testing.TB) map[string]*engine {
	pg := &engine{}
	var c *pgtest.Cluster
	pg.open = func(n int) []bus.Bus {
		if c == nil {
			c = pgtest.Start(t, pgtest.Options{})
			pg.serverCPU = postgresCPU(t, c.PrimaryDSN())
		}
		var out []bus.Bus
		for _, b := range pgCluster(t, c.DSN(), n) {
			out = append(out, b)
		}
		return out
	}
	return map[string]*engine{
		"nats": {open: func(n int) []bus.Bus {
			var out []bus.Bus
			for _, b := range natsCluster(t, n) {
				out = append(out, b)
			}
			return out
		}},
		"postgres": pg,
		"mem":      {open: memCluster},
	}
}

// selfCPU is the CPU time this process has used so far.
func selfCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU reads the CPU time of the server's postmaster and its
// children from /proc (Linux), found as the parent of a backend.
func postgresCPU(t testing.TB, dsn string) func() time.Duration {
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	var backend int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&backend))
	conn.Close(context.Background())
	postmaster, _, _, ok := procStat(backend)
	require.True(t, ok, "no /proc/%d/stat", backend)
	return func() time.Duration {
		dirs, _ := os.ReadDir("/proc")
		var ticks int64
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			if ppid, u, s, ok := procStat(pid); ok && (pid == postmaster || ppid == postmaster) {
				ticks += u + s
			}
		}
		return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
}

// procStat is the parent, user and system ticks of pid.
func procStat(pid int) (ppid int, utime, stime int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, false
	}
	// After the command in parentheses: state ppid ... utime(12th) stime(13th).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ = strconv.ParseInt(f[11], 10, 64)
	stime, _ = strconv.ParseInt(f[12], 10, 64)
	return ppid, utime, stime, true
}

// TestFigures measures each engine on 3 nodes for docs/adr/0002-chat-bus.md,
// in BUS_FIGURES rounds (default 3) that take the engines in turn, so that
// noise on the machine falls on each alike; "mem", an in-process channel
// bus, is the floor the harness and the scheduler add:
//
//	BUS_FIGURES=3 go test -run TestFigures -v -count=1 -timeout 30m ./livechat/bus/
func TestFigures(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("BUS_FIGURES"))
	if rounds <= 0 {
		t.Skip("BUS_FIGURES=<rounds> measures the engines (about a minute a round)")
	}
	const seconds = 5
	ctx := t.Context()
	engs := engines(t)
	names := []string{"mem", "nats", "postgres"}
	clusters := map[string][]bus.Bus{}
	for _, name := range names {
		clusters[name] = engs[name].open(3)
	}
	cpu := map[string][]string{}
	results := map[string][]bustest.Figures{} // engine/scenario → one per round
	maxRates := map[string][]int{}
	for round := range rounds {
		for _, name := range names {
			a, b := clusters[name][0], clusters[name][1]
			for _, rate := range []int{1000, 2000} {
				f, err := bustest.Latency(ctx, a, b, "fig.oneway", bustest.Pacing{Rate: rate, Frames: rate * seconds, Size: frameSize})
				require.NoError(t, err)
				key := fmt.Sprintf("%-8s A→B %d/s", name, rate)
				results[key] = append(results[key], f)
				t.Logf("round %d %s  %s", round+1, key, f)
			}
			// A citizen on A and an agent on B: 1,000 frames/s each way.
			var wg sync.WaitGroup
			var ab, ba bustest.Figures
			var errAB, errBA error
			p := bustest.Pacing{Rate: 1000, Frames: 1000 * seconds, Size: frameSize}
			self0, began := selfCPU(t), time.Now()
			var server0 time.Duration
			if engs[name].serverCPU != nil {
				server0 = engs[name].serverCPU()
			}
			wg.Go(func() { ab, errAB = bustest.Latency(ctx, a, b, "fig.ab", p) })
			wg.Go(func() { ba, errBA = bustest.Latency(ctx, b, a, "fig.ba", p) })
			wg.Wait()
			require.NoError(t, errAB)
			require.NoError(t, errBA)
			wall := time.Since(began).Seconds()
			use := fmt.Sprintf("test process %.0f%%", 100*(selfCPU(t)-self0).Seconds()/wall)
			if engs[name].serverCPU != nil {
				use += fmt.Sprintf(" + server %.0f%%", 100*(engs[name].serverCPU()-server0).Seconds()/wall)
			}
			cpu[name] = append(cpu[name], use)
			t.Logf("round %d %-8s A→B+B→A CPU of a core: %s", round+1, name, use)
			for key, f := range map[string]bustest.Figures{name + " A→B+B→A A→B": ab, name + " A→B+B→A B→A": ba} {
				results[key] = append(results[key], f)
				t.Logf("round %d %s  %s", round+1, key, f)
			}

			steps, err := bustest.MaxRate(ctx, a, b, "fig.max", frameSize, 20*time.Millisecond,
				[]int{1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000})
			require.NoError(t, err)
			best := 0
			for _, f := range steps {
				t.Logf("round %d %-8s ladder %s", round+1, name, f)
				if f.Lossless() && f.DueP99 <= 20*time.Millisecond {
					best = f.Rate
				}
			}
			maxRates[name] = append(maxRates[name], best)
		}
	}
	keys := slices.Sorted(maps.Keys(results))
	for _, key := range keys {
		fs := results[key]
		p50 := median(fs, func(f bustest.Figures) time.Duration { return f.P50 })
		p99 := median(fs, func(f bustest.Figures) time.Duration { return f.P99 })
		dueP99 := median(fs, func(f bustest.Figures) time.Duration { return f.DueP99 })
		worst := slices.MaxFunc(fs, func(x, y bustest.Figures) int { return cmp.Compare(x.P99, y.P99) })
		lost := 0
		for _, f := range fs {
			lost += f.Sent - f.Received
		}
		r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
		t.Logf("SUMMARY %-26s p50 %7s  p99 %8s (worst round %8s)  p99 from due %8s  lost %d", key,
			r(p50), r(p99), r(worst.P99), r(dueP99), lost)
	}
	for _, name := range names {
		t.Logf("SUMMARY %-8s max rate with p99 ≤ 20 ms and no loss, per round: %v /s", name, maxRates[name])
		t.Logf("SUMMARY %-8s CPU at 1,000 frames/s each way, per round: %v", name, cpu[name])
	}
}

func median(fs []bustest.Figures, of func(bustest.Figures) time.Duration) time.Duration {
	ds := make([]time.Duration, len(fs))
	for i, f := range fs {
		ds[i] = of(f)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkBus publishes frames on node A of 3 as fast as one publisher
// can and counts them on node B: the engine's unpaced throughput. Unpaced,
// a bus may drop frames (NATS cuts a subscriber that falls too far behind):
// they are reported as lost-%, not failed.
func BenchmarkBus(b *testing.B) {
	for _, name := range []string{"nats", "postgres"} {
		b.Run(name, func(b *testing.B) {
			nodes := engines(b)[name].open(3)
			frame := bustest.Frame(0, frameSize)
			var got atomic.Int64
			rec := &bustest.Recorder{}
			sub, err := nodes[1].Subscribe(context.Background(), "bench", func(data []byte) {
				if len(data) == len(frame) {
					got.Add(1)
					return
				}
				rec.Handle(data)
			})
			require.NoError(b, err)
			b.Cleanup(func() { _ = sub.Unsubscribe() })
			bustest.Connect(b, nodes[0], "bench", rec)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			start, began := got.Load(), time.Now()
			for b.Loop() {
				if err := nodes[0].Publish(context.Background(), "bench", frame); err != nil {
					b.Fatal(err)
				}
			}
			// The frames still on their way: until all are in or none
			// came for a while; the rate counts to the last arrival.
			want := start + int64(b.N)
			last, lastAt := got.Load(), time.Now()
			for got.Load() < want && time.Since(lastAt) < 500*time.Millisecond {
				time.Sleep(time.Millisecond)
				if n := got.Load(); n != last {
					last, lastAt = n, time.Now()
				}
			}
			elapsed := lastAt.Sub(began)
			delivered := got.Load() - start
			b.ReportMetric(float64(delivered)/elapsed.Seconds(), "delivered/s")
			b.ReportMetric(100*float64(int64(b.N)-delivered)/float64(b.N), "lost-%")
		})
	}
}
