package lease_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/pgtest"
)

func openBolt(t *testing.T) *store.DB {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{NoSync: true}, lease.Buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// One holder at a time; a lease that is not renewed passes to another
// holder with a greater fencing token; the old holder's renewal then fails.
func TestAcquireRenewExpire(t *testing.T) {
	db := openBolt(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	a := lease.New(db, "relay", "node-a", 15*time.Second, clk)
	b := lease.New(db, "relay", "node-b", 15*time.Second, clk)

	tokA, _, ok, err := a.Acquire(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	_, _, ok, err = b.Acquire(ctx)
	require.NoError(t, err)
	require.False(t, ok, "held by a")
	clk.Advance(10 * time.Second)
	tok, _, ok, err := a.Acquire(ctx) // renewal
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, tokA, tok, "a renewal keeps the token")
	clk.Advance(10 * time.Second)
	_, _, ok, _ = b.Acquire(ctx)
	require.False(t, ok, "renewed 10 s ago: still a's")
	clk.Advance(6 * time.Second)
	tokB, _, ok, err := b.Acquire(ctx)
	require.NoError(t, err)
	require.True(t, ok, "expired: b takes it")
	require.Greater(t, tokB, tokA)
	_, _, ok, _ = a.Acquire(ctx)
	require.False(t, ok, "a lost it")

	require.NoError(t, b.Release(ctx))
	tokA2, _, ok, err := a.Acquire(ctx)
	require.NoError(t, err)
	require.True(t, ok, "released: taken at once")
	require.Greater(t, tokA2, tokB)
}

// Run on several nodes sharing a store: the work runs on one node at a
// time, and when its node stops, another takes over. Against both engines.
func TestRunHasOneHolderAtATime(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) []*store.DB // one DB per node
	}{
		{"bbolt", func(t *testing.T) []*store.DB { db := openBolt(t); return []*store.DB{db, db, db} }},
		{"postgres", func(t *testing.T) []*store.DB {
			pg := pgtest.Start(t, pgtest.Options{})
			var dbs []*store.DB
			for range 3 { // three nodes, each with its own pool
				db, err := store.OpenPostgres(context.Background(), pg.DSN(), store.PostgresOptions{}, lease.Buckets...)
				require.NoError(t, err)
				t.Cleanup(func() { _ = db.Close() })
				dbs = append(dbs, db)
			}
			return dbs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbs := tc.open(t)
			logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
			var active, maxActive atomic.Int32
			var ran [3]atomic.Int32
			cancels := make([]context.CancelFunc, 3)
			var wg sync.WaitGroup
			for i, db := range dbs {
				ctx, cancel := context.WithCancel(context.Background())
				cancels[i] = cancel
				l := lease.New(db, "relay", []string{"node-1", "node-2", "node-3"}[i], 300*time.Millisecond, nil)
				wg.Go(func() {
					lease.Run(ctx, l, logger, func(ctx context.Context) {
						n := active.Add(1)
						for m := maxActive.Load(); n > m && !maxActive.CompareAndSwap(m, n); m = maxActive.Load() {
						}
						ran[i].Add(1)
						<-ctx.Done()
						active.Add(-1)
					})
				})
			}
			t.Cleanup(func() {
				for _, c := range cancels {
					c()
				}
				wg.Wait()
			})
			holder := func() int {
				for i := range ran {
					if ran[i].Load() > 0 {
						return i
					}
				}
				return -1
			}
			require.Eventually(t, func() bool { return holder() >= 0 }, 10*time.Second, 10*time.Millisecond)
			first := holder()
			cancels[first]() // the holder's node stops (it releases the lease)
			require.Eventually(t, func() bool {
				for i := range ran {
					if i != first && ran[i].Load() > 0 {
						return true
					}
				}
				return false
			}, 10*time.Second, 10*time.Millisecond, "another node takes over")
			require.Equal(t, int32(1), maxActive.Load(), "never two holders at once")
		})
	}
}
