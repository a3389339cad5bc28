package timers_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/timeliness/timers"
)

// TestStopRacesFiring: Stops race with firings of the same timers; for every
// timer exactly one side wins: it fires, or Stop reports true — never both,
// never neither.
func TestStopRacesFiring(t *testing.T) {
	const n, stoppers = 600, 4
	h := newHarness(t, timers.Options{MaxBatch: 16})
	h.start()
	var ds []timers.Deadline
	for i := range n {
		ds = append(ds, timers.Deadline{Key: envKey(i), Due: epoch.Add(time.Duration(i) * time.Millisecond)})
	}
	require.NoError(t, h.svc.SetMany(context.Background(), ds))

	var mu sync.Mutex
	stopped := map[timers.Key]int{}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() { // the clock runs while the stoppers work
		defer close(done)
		for range n / 10 {
			h.advance(10 * time.Millisecond)
		}
	})
	for w := range stoppers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for _, i := range rng.Perm(n)[:n/2] {
				ok, err := h.svc.Stop(context.Background(), envKey(i))
				require.NoError(t, err)
				if ok {
					mu.Lock()
					stopped[envKey(i)]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	<-done
	h.advance(time.Hour)

	fired := map[timers.Key]int{}
	for _, f := range h.firings() {
		fired[f.Key]++
	}
	for i := range n {
		k := envKey(i)
		require.Equal(t, 1, fired[k]+stopped[k], "%s: fired %d, stopped %d", k, fired[k], stopped[k])
	}
	require.Zero(t, h.svc.Len())
	t.Logf("%d fired, %d stopped", len(fired), len(stopped))
}

// TestConcurrentSetsAgreeWithStore: Sets of the same keys from many
// goroutines leave memory exactly as the store has it (the memory is
// updated in commit order), as a restart shows.
func TestConcurrentSetsAgreeWithStore(t *testing.T) {
	const keys, writers, rounds = 8, 8, 25
	h := newHarness(t, timers.Options{})
	h.start()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				k := envKey((w + r) % keys)
				h.set(k, epoch.Add(time.Hour+time.Duration(w*rounds+r)*time.Second))
			}
		})
	}
	wg.Wait()
	before := map[timers.Key]time.Time{}
	for i := range keys {
		due, ok := h.svc.Due(envKey(i))
		require.True(t, ok)
		before[envKey(i)] = due
	}
	h.restart()
	require.Equal(t, keys, h.svc.Len())
	for k, due := range before {
		got, ok := h.svc.Due(k)
		require.True(t, ok)
		require.Equal(t, due, got, "%s", k)
	}
}
