package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The collector's headroom (how much the heap may grow between two
// collections) is kept near a fixed size instead of GOGC's fixed proportion
// of the live heap. Intake requests allocate tens of kilobytes each that die
// at once: with a small live heap, GOGC 100 collects many times a second and
// the collector set the latency tail (docs/benchmarks.md). With a large live
// heap (tens of thousands of idle websockets), a proportion of 400 % would
// make every connection pay four times its own size in garbage. A fixed
// headroom gives the first a high GOGC and the second a low one.
const (
	gcHeadroom   = 64 << 20 // bytes of garbage allowed between collections
	gcMinPercent = 50
	gcMaxPercent = 400
)

// gcPercentFor returns the GOGC that makes the heap goal the live heap plus
// headroom. The Go pacer grows the goal by GOGC % of the live heap, the
// goroutine stacks and the globals together, so all three are counted.
func gcPercentFor(live, stacks, globals, headroom uint64, minPct, maxPct int) int {
	base := live + stacks + globals
	if base == 0 {
		return maxPct
	}
	pct := int(min(headroom*100/base, uint64(maxPct)))
	return max(pct, minPct)
}

// gcTuner re-sets GOGC after every collection: a finalizer on a sentinel
// object runs once per cycle (the runtime's finalizer goroutine calls it) and
// re-arms itself with a new sentinel.
type gcTuner struct {
	headroom       uint64
	minPct, maxPct int
	stopped        atomic.Bool
	samples        []metrics.Sample
	last           atomic.Int64 // the GOGC last set, for tests
}

type gcSentinel struct{ t *gcTuner }

// startGCTuner sets GOGC at once and after every collection until stop.
func startGCTuner(headroom uint64, minPct, maxPct int) (stop func()) {
	t := &gcTuner{headroom: headroom, minPct: minPct, maxPct: maxPct, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
	t.tune()
	t.arm()
	return func() { t.stopped.Store(true) }
}

func (t *gcTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{t: t}, func(s *gcSentinel) {
		if s.t.stopped.Load() {
			return
		}
		s.t.tune()
		s.t.arm()
	})
}

func (t *gcTuner) tune() {
	metrics.Read(t.samples)
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	pct := gcPercentFor(v[0], v[1], v[2], t.headroom, t.minPct, t.maxPct)
	if int64(pct) != t.last.Load() {
		debug.SetGCPercent(pct)
		t.last.Store(int64(pct))
	}
}
