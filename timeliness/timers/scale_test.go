package timers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/timeliness/timers"
)

var scaleKinds = []string{timers.KindFirstResponse, timers.WarningKind(timers.KindFirstResponse), timers.KindHandling}

// scaleIDs returns n distinct 36-byte ids (the length of a UUID).
func scaleIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("0195a1b2-c3d4-7e5f-8a9b-%012d", i)
	}
	return ids
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// scaleService returns a service over a store without fsyncs (the test is
// about the schedule, not the disk) whose firings go to afterFire.
func scaleService(tb testing.TB, clk clock.Clock, afterFire func([]timers.Deadline)) *timers.Service {
	db, err := store.Open(filepath.Join(tb.TempDir(), "scale.db"), store.Options{NoSync: true}, timers.Buckets...)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	svc, err := timers.New(db, clk, timers.Options{AfterFire: afterFire,
		FireTx: func(*store.Tx, timers.Key, time.Time) error { return nil }})
	require.NoError(tb, err)
	return svc
}

// setAll sets timer i at epoch+dues[i] and returns the heap bytes the
// service holds per timer (the ids excepted: they belong to the caller).
func setAll(tb testing.TB, svc *timers.Service, ids []string, dues []time.Duration) float64 {
	const chunk = 20_000 // Sets per transaction
	before := heapAlloc()
	ds := make([]timers.Deadline, 0, chunk)
	for i, id := range ids {
		ds = append(ds, timers.Deadline{Key: timers.Key{ID: id, Kind: scaleKinds[i%len(scaleKinds)]}, Due: epoch.Add(dues[i])})
		if len(ds) == chunk || i == len(ids)-1 {
			require.NoError(tb, svc.SetMany(context.Background(), ds))
			ds = ds[:0]
		}
	}
	ds = nil
	after := heapAlloc()
	runtime.KeepAlive(svc)
	return float64(after-before) / float64(len(ids))
}

// TestScale: n open timers in one process, stored and spread over an hour,
// fired in compressed time (the fake clock advanced in 250 ms steps) each in
// its own store transaction's batch: each fires
// once, in due order, within 1 s of its due time. 100k always; 1M unless
// -short or -race (TIMERS_SCALE=1000000 forces it).
func TestScale(t *testing.T) {
	sizes := []int{100_000}
	if !testing.Short() && !raceEnabled {
		sizes = append(sizes, 1_000_000)
	}
	if v, err := strconv.Atoi(os.Getenv("TIMERS_SCALE")); err == nil && v > 0 {
		sizes = []int{v}
	}
	for _, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) { scale(t, n) })
	}
}

func scale(t *testing.T, n int) {
	const span, step = time.Hour, 250 * time.Millisecond
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	idsBefore := heapAlloc()
	ids := scaleIDs(n)
	idBytes := float64(heapAlloc()-idsBefore) / float64(n)
	dues := make([]time.Duration, n)
	for i := range dues {
		dues[i] = time.Duration(rng.Int64N(int64(span)))
	}

	clk := clock.NewFake(epoch)
	counts := make([]uint8, n)
	var maxLag time.Duration
	var last time.Time
	var disorder int
	afterFire := func(fired []timers.Deadline) { // on the Run goroutine only
		for _, d := range fired {
			i, err := strconv.Atoi(d.Key.ID[24:])
			if err != nil || i >= n {
				panic("unexpected key " + d.Key.String())
			}
			counts[i]++
			maxLag = max(maxLag, clk.Now().Sub(d.Due))
			if d.Due.Before(last) {
				disorder++
			}
			last = d.Due
		}
	}
	svc := scaleService(t, clk, afterFire)

	start := time.Now()
	perTimer := setAll(t, svc, ids, dues)
	built := time.Since(start)
	require.Equal(t, n, svc.Len())

	startRun(t, svc)
	start = time.Now()
	steps := 0
	for end := epoch.Add(span + step); clk.Now().Before(end); steps++ {
		clk.Advance(step)
		syncRun(t, svc)
	}
	ran := time.Since(start)
	t.Logf("%d timers: %.1f B/timer in the service (+%.1f B/timer of caller's ids); scheduled in %v; "+
		"%d steps of %v fired all in %v; max lag %v",
		n, perTimer, idBytes, built.Round(time.Millisecond), steps, step, ran.Round(time.Millisecond), maxLag)

	require.Zero(t, svc.Len())
	require.Zero(t, disorder, "fired out of due order")
	require.LessOrEqual(t, maxLag, time.Second)
	for i, c := range counts {
		if c != 1 {
			require.Failf(t, "fire count", "timer %d fired %d times", i, c)
		}
	}
	require.Less(t, perTimer, 200.0, "memory per timer")
}
