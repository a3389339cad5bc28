package timers_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/timeliness/timers"
)

// BenchmarkFire measures Run firing stored timers, per timer (no fsyncs).
func BenchmarkFire(b *testing.B) {
	clk := clock.NewFake(epoch)
	var fired atomic.Int64
	svc := scaleService(b, clk, func(ds []timers.Deadline) { fired.Add(int64(len(ds))) })
	ids := scaleIDs(b.N)
	dues := make([]time.Duration, b.N)
	for i := range dues {
		dues[i] = time.Duration(i) * time.Millisecond
	}
	setAll(b, svc, ids, dues)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	clk.Advance(time.Duration(b.N) * time.Millisecond)
	if err := svc.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	if fired.Load() != int64(b.N) {
		b.Fatalf("fired %d of %d", fired.Load(), b.N)
	}
}

// BenchmarkSetParallel: durable Sets from many goroutines sharing group
// commits; no fsyncs, so it measures everything but the disk.
func BenchmarkSetParallel(b *testing.B) {
	svc := scaleService(b, clock.NewFake(epoch), nil)
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
