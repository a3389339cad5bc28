package timers

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// check verifies every invariant of the queue against the model. It calls
// require only on failure: require is slow under -race.
func (q *queue) check(t *testing.T, model map[Key]int64) {
	t.Helper()
	require.Equal(t, len(model), len(q.heap))
	require.LessOrEqual(t, 2*len(q.heap), len(q.table), "load factor above 1/2")
	for i, nd := range q.heap {
		if i > 0 && q.heap[(i-1)/2].due > nd.due {
			require.Failf(t, "heap order", "at %d", i)
		}
		e := q.entries[nd.slot]
		if e.hpos != int32(i) {
			require.Failf(t, "hpos", "slot %d at %d says %d", nd.slot, i, e.hpos)
		}
		if k := (Key{ID: e.id, Kind: q.kinds[e.kind]}); model[k] != nd.due {
			require.Failf(t, "due", "%s: %d, model %d", k, nd.due, model[k])
		}
	}
	used := 0
	for _, s := range q.table {
		if s != 0 {
			used++
			if q.entries[s-1].hpos < 0 {
				require.Failf(t, "table", "points at free slot %d", s-1)
			}
		}
	}
	require.Equal(t, len(q.heap), used)
	for k, due := range model {
		if got, ok := q.get(k); !ok || got != due {
			require.Failf(t, "lookup", "%s: %d %v, model %d", k, got, ok, due)
		}
	}
}

// TestQueueModel runs random operations against a map and checks the
// invariants after each step, across growth, deletion and compaction.
func TestQueueModel(t *testing.T) {
	tests := []struct {
		name         string
		ops, ids     int
		checkEvery   int
		removeWeight int
	}{
		{name: "small dense", ops: 3000, ids: 20, checkEvery: 1, removeWeight: 3},
		{name: "growth and compaction", ops: 60000, ids: 5000, checkEvery: 997, removeWeight: 5},
	}
	kinds := []string{KindFirstResponse, KindNextResponse, KindHandling, WarningKind(KindHandling)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			q := newQueue()
			model := map[Key]int64{}
			phase := 0 // grow, then drain to force compaction, then grow again
			for i := range tc.ops {
				if i%(tc.ops/3) == 0 {
					phase++
				}
				k := Key{ID: fmt.Sprintf("id-%d", rng.IntN(tc.ids)), Kind: kinds[rng.IntN(len(kinds))]}
				op := rng.IntN(10)
				if phase == 2 {
					op = 9 - op%tc.removeWeight // mostly removals
				}
				switch {
				case op < 6:
					due := rng.Int64N(1000)
					_, err := q.set(k, due)
					require.NoError(t, err)
					model[k] = due
				case op < 8 && len(q.heap) > 0:
					got, n := q.pop()
					require.Equal(t, model[got], n)
					if tc.checkEvery == 1 {
						for _, d := range model {
							require.LessOrEqual(t, n, d, "pop returned a later timer")
						}
					}
					delete(model, got)
				default:
					due, ok := q.remove(k)
					want, had := model[k]
					require.Equal(t, had, ok)
					require.Equal(t, want, due)
					delete(model, k)
				}
				if i%tc.checkEvery == 0 {
					q.check(t, model)
				}
			}
			q.check(t, model)
			for len(q.heap) > 0 {
				k, _ := q.pop()
				delete(model, k)
			}
			q.check(t, model)
		})
	}
}

func TestQueueRemoveIf(t *testing.T) {
	q := newQueue()
	k := Key{ID: "a", Kind: KindHandling}
	_, err := q.set(k, 10)
	require.NoError(t, err)
	require.False(t, q.removeIf(k, 11), "other due time")
	require.True(t, q.removeIf(k, 10))
	require.False(t, q.removeIf(k, 10), "already gone")
}
