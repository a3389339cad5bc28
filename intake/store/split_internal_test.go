package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// splitEngine refuses every group of more than one function with errSplit,
// as the PostgreSQL engine does with a group that keeps failing to
// serialize, and commits lone functions; the first update waits for gate, so
// that the others queue behind it and form a group.
type splitEngine struct {
	gate  chan struct{}
	mu    sync.Mutex
	sizes []int
	ran   map[string]int
}

func (e *splitEngine) update(batch []*commitReq) (int, error) {
	e.mu.Lock()
	first := len(e.sizes) == 0
	e.sizes = append(e.sizes, len(batch))
	e.mu.Unlock()
	if first {
		<-e.gate
	}
	if len(batch) > 1 {
		return -1, fmt.Errorf("%w: test", errSplit)
	}
	if err := batch[0].fn(&Tx{}); err != nil {
		return 0, err // the function's own failure
	}
	return -1, nil
}

func (e *splitEngine) view(func(*Tx) error) error { return nil }
func (e *splitEngine) close() error               { return nil }
func (e *splitEngine) stats(*Stats)               {}

const testWait, testTick = 10 * time.Second, time.Millisecond

// A group the engine asks to split is committed as halves, down to single
// Updates if need be: every caller gets its own answer, every function is
// committed once.
func TestSplitGroup(t *testing.T) {
	e := &splitEngine{gate: make(chan struct{}), ran: map[string]int{}}
	db := newDB(e, 1024, nil)
	defer db.Close()
	const n = 9
	errs := make(chan error, n)
	run := func(i int) {
		errs <- db.Update(context.Background(), func(*Tx) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.ran[fmt.Sprint(i)]++
			if i == 5 {
				return fmt.Errorf("function %d fails on its own", i)
			}
			return nil
		})
	}
	go run(0)
	require.Eventually(t, func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.sizes) == 1 }, testWait, testTick)
	for i := 1; i < n; i++ {
		go run(i)
	}
	require.Eventually(t, func() bool { return Queued(db) == n-1 }, testWait, testTick)
	close(e.gate)
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			require.ErrorContains(t, err, "function 5 fails on its own")
			failed++
		}
	}
	require.Equal(t, 1, failed)
	require.Equal(t, []int{1, 8, 4, 2, 1, 1, 2, 1, 1, 4, 2, 1, 1, 2, 1, 1}, e.sizes, "halves, down to single Updates")
	for i := range n {
		require.Equal(t, 1, e.ran[fmt.Sprint(i)], "function %d", i)
	}
}
