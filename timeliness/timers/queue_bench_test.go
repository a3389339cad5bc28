package timers

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("0195a1b2-c3d4-7e5f-8a9b-%012d", i)
	}
	return ids
}

// benchQueue fills a queue with n timers spread over a day.
func benchQueue(b *testing.B, n int) (*queue, []string) {
	q := newQueue()
	ids := benchIDs(n)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, id := range ids {
		if _, err := q.set(Key{ID: id, Kind: KindHandling}, rng.Int64N(int64(24*time.Hour))); err != nil {
			b.Fatal(err)
		}
	}
	return q, ids
}

// BenchmarkQueueReplace moves existing timers among 100k.
func BenchmarkQueueReplace(b *testing.B) {
	q, ids := benchQueue(b, 100_000)
	rng := rand.New(rand.NewPCG(2, 2))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := q.set(Key{ID: ids[i%len(ids)], Kind: KindHandling}, rng.Int64N(int64(24*time.Hour))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkQueueNew adds b.N new timers to a growing queue (slice and index
// growth included).
func BenchmarkQueueNew(b *testing.B) {
	q := newQueue()
	ids := benchIDs(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := q.set(Key{ID: ids[i], Kind: KindHandling}, int64(i*7919%1_000_003)*int64(time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueueSetRemove adds and removes a timer among 100k others.
func BenchmarkQueueSetRemove(b *testing.B) {
	q, _ := benchQueue(b, 100_000)
	ids := benchIDs(1024)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := Key{ID: ids[i%len(ids)], Kind: KindFirstResponse}
		if _, err := q.set(k, int64(3*time.Minute)); err != nil {
			b.Fatal(err)
		}
		if _, ok := q.remove(k); !ok {
			b.Fatal("not found")
		}
		i++
	}
}

// BenchmarkQueueMemory1M reports the queue's bytes per timer with one
// million timers (the ids, which belong to the caller, excepted).
func BenchmarkQueueMemory1M(b *testing.B) {
	const n = 1_000_000
	ids := benchIDs(n)
	rng := rand.New(rand.NewPCG(3, 3))
	dues := make([]int64, n)
	for i := range dues {
		dues[i] = rng.Int64N(int64(time.Hour))
	}
	var per float64
	for b.Loop() {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		before := m.HeapAlloc
		q := newQueue()
		for i, id := range ids {
			if _, err := q.set(Key{ID: id, Kind: KindFirstResponse}, dues[i]); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m)
		per = float64(m.HeapAlloc-before) / n
		runtime.KeepAlive(q)
	}
	b.ReportMetric(per, "B/timer")
}
