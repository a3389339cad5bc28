package logsample_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/logsample"
)

func TestSamplerOneLinePerKindPerInterval(t *testing.T) {
	type call struct {
		advance    time.Duration
		kind       string
		ok         bool
		suppressed int
	}
	for _, tc := range []struct {
		name  string
		calls []call
	}{
		{"first line passes", []call{{kind: "a", ok: true}}},
		{"repeats within the interval are held back and counted", []call{
			{kind: "a", ok: true},
			{kind: "a"}, {advance: 500 * time.Millisecond, kind: "a"}, {advance: 499 * time.Millisecond, kind: "a"},
			{advance: time.Millisecond, kind: "a", ok: true, suppressed: 3},
			{kind: "a"},
			{advance: time.Hour, kind: "a", ok: true, suppressed: 1},
			{advance: time.Hour, kind: "a", ok: true},
		}},
		{"kinds have their own budget", []call{
			{kind: "a", ok: true}, {kind: "b", ok: true}, {kind: "a"}, {kind: "b"}, {kind: "b"},
			{advance: time.Second, kind: "b", ok: true, suppressed: 2},
			{kind: "a", ok: true, suppressed: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
			s := logsample.New(time.Second, clk)
			for i, c := range tc.calls {
				clk.Advance(c.advance)
				n, ok := s.Allow(c.kind)
				require.Equal(t, c.ok, ok, "call %d", i)
				require.Equal(t, c.suppressed, n, "call %d", i)
			}
		})
	}
}

// However many kinds callers invent, the table stays bounded: the overflow
// shares one budget.
func TestSamplerBoundsKinds(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	s := logsample.New(time.Second, clk)
	passed := 0
	for i := range 5000 {
		if _, ok := s.Allow(strconv.Itoa(i)); ok {
			passed++
		}
	}
	require.Equal(t, 1025, passed, "1024 kinds and one line of the overflow")
}

func TestSamplerConcurrent(t *testing.T) {
	s := logsample.New(time.Hour, clock.NewFake(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)))
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, ok := s.Allow("k"); ok {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, passed)
}
