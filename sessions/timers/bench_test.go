package timers_test

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline12345/gateway/connectors/store"
	"github.com/hotline12345/gateway/sessions/timers"
)

func memoryService(tb testing.TB) *timers.Service {
	svc, err := timers.New(nil, timers.NewFakeClock(epoch), func(context.Context, timers.Key, time.Time) {}, timers.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// background fills svc with n timers spread over a day.
func background(tb testing.TB, svc *timers.Service, n int) []string {
	ids := scaleIDs(n)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, id := range ids {
		if err := svc.Schedule(timers.Key{ID: id, Kind: timers.KindHandling}, epoch.Add(time.Duration(rng.Int64N(int64(24*time.Hour))))); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

// BenchmarkScheduleReplace moves existing timers among 100k.
func BenchmarkScheduleReplace(b *testing.B) {
	svc := memoryService(b)
	ids := background(b, svc, 100_000)
	rng := rand.New(rand.NewPCG(2, 2))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := timers.Key{ID: ids[i%len(ids)], Kind: timers.KindHandling}
		if err := svc.Schedule(k, epoch.Add(time.Duration(rng.Int64N(int64(24*time.Hour))))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkScheduleNew adds b.N new timers to a growing service (slice and
// index growth included).
func BenchmarkScheduleNew(b *testing.B) {
	svc := memoryService(b)
	ids := scaleIDs(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := timers.Key{ID: ids[i], Kind: timers.KindHandling}
		if err := svc.Schedule(k, epoch.Add(time.Duration(i*7919%1_000_003)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScheduleStop adds and stops a timer among 100k others.
func BenchmarkScheduleStop(b *testing.B) {
	svc := memoryService(b)
	background(b, svc, 100_000)
	ids := scaleIDs(1024)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := timers.Key{ID: ids[i%len(ids)], Kind: timers.KindFirstResponse}
		if err := svc.Schedule(k, epoch.Add(3*time.Minute)); err != nil {
			b.Fatal(err)
		}
		if ok, err := svc.Stop(ctx, k); err != nil || !ok {
			b.Fatal(ok, err)
		}
		i++
	}
}

// BenchmarkFire measures Run firing timers (memory only), per timer.
func BenchmarkFire(b *testing.B) {
	clock := timers.NewFakeClock(epoch)
	var fired atomic.Int64
	svc, err := timers.New(nil, clock, func(context.Context, timers.Key, time.Time) { fired.Add(1) }, timers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ids := scaleIDs(b.N)
	for i, id := range ids {
		if err := svc.Schedule(timers.Key{ID: id, Kind: timers.KindFirstResponse}, epoch.Add(time.Duration(i)*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	clock.Advance(time.Duration(b.N) * time.Millisecond)
	if err := svc.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cancel()
	<-done
	if fired.Load() != int64(b.N) {
		b.Fatalf("fired %d of %d", fired.Load(), b.N)
	}
}

// BenchmarkMemory1M reports the service's bytes per timer with one million
// timers (the ids, which belong to the caller, excepted).
func BenchmarkMemory1M(b *testing.B) {
	const n = 1_000_000
	ids := scaleIDs(n)
	dues := make([]time.Duration, n)
	rng := rand.New(rand.NewPCG(3, 3))
	for i := range dues {
		dues[i] = time.Duration(rng.Int64N(int64(time.Hour)))
	}
	var per float64
	for b.Loop() {
		per = scheduleAll(b, memoryService(b), ids, dues)
	}
	b.ReportMetric(per, "B/timer")
}

// BenchmarkSetParallel: durable Sets from many goroutines sharing group
// commits; NoSync, so it measures everything but the disk.
func BenchmarkSetParallel(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{NoSync: true}, timers.Buckets...)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc, err := timers.New(db, timers.NewFakeClock(epoch), func(context.Context, timers.Key, time.Time) {}, timers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := seq.Add(1)
			k := timers.Key{ID: "0195a1b2-c3d4-7e5f-8a9b-" + strconv.FormatInt(i, 10), Kind: timers.KindFirstResponse}
			if err := svc.Set(ctx, k, epoch.Add(time.Duration(i)*time.Millisecond)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
