package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                  string
		live, stacks, globals uint64
		want                  int
	}{
		{"empty heap: the maximum", 0, 0, 0, 400},
		{"small heap: capped at the maximum", 8 * mib, 1 * mib, 1 * mib, 400},
		{"headroom equals the heap", 48 * mib, 12 * mib, 4 * mib, 100},
		{"stacks count", 16 * mib, 16 * mib, 0, 200},
		{"large heap: the minimum", 1024 * mib, 100 * mib, 1 * mib, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, gcPercentFor(tc.live, tc.stacks, tc.globals, 64*mib, 50, 400))
		})
	}
}

// TestGCTunerFollowsTheLiveHeap runs the real tuner: after a collection with
// a large live heap GOGC is low, and after the heap is released it is high.
func TestGCTunerFollowsTheLiveHeap(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	stop := startGCTuner(16<<20, 25, 400)
	defer stop()
	gogc := func() int {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return int(s[0].Value.Uint64())
	}

	live := make([][]byte, 0, 256)
	for range 256 { // 256 MiB of live heap: 16 MiB of headroom is ~6 %
		live = append(live, make([]byte, 1<<20))
	}
	runtime.GC()
	require.Eventually(t, func() bool { return gogc() == 25 }, 5*time.Second, 10*time.Millisecond)
	runtime.KeepAlive(live)

	live = nil
	runtime.GC()
	require.Eventually(t, func() bool { runtime.GC(); return gogc() == 400 }, 5*time.Second, 10*time.Millisecond)
}
