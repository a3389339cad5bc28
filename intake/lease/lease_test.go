package lease_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
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

func openPostgres(t *testing.T) *store.DB {
	pg := pgtest.Start(t, pgtest.Options{})
	db, err := store.OpenPostgres(context.Background(), pg.DSN(), store.PostgresOptions{}, lease.Buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// engines are the stores a test runs against: one DB shared by every holder.
var engines = []struct {
	name string
	open func(t *testing.T) *store.DB
}{
	{"bbolt", openBolt},
	{"postgres", openPostgres},
}

// check runs f.Check in a write and in a read transaction; both must agree.
func check(t *testing.T, db *store.DB, f lease.Fence) error {
	t.Helper()
	err := db.Update(context.Background(), f.Check)
	require.Equal(t, err == nil, db.View(f.Check) == nil, "Update and View agree")
	return err
}

// A fence passes while its lease is held with its token, and fails with
// ErrLost once the lease expired, was taken by another holder, released, or
// taken by another Lease value with the same holder id.
func TestFenceCheck(t *testing.T) {
	const ttl = 15 * time.Second
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			db := eng.open(t)
			ctx := context.Background()
			take := func(t *testing.T, l *lease.Lease) {
				t.Helper()
				_, _, ok, err := l.Acquire(ctx)
				require.NoError(t, err)
				require.True(t, ok)
			}
			for _, tc := range []struct {
				name string
				// fence takes the lease name for node-a and returns a's fence
				// after whatever happened meanwhile.
				fence func(t *testing.T, name string, clk *clock.Fake) lease.Fence
				lost  bool
			}{
				{"the holder", func(t *testing.T, name string, clk *clock.Fake) lease.Fence {
					a := lease.New(db, name, "node-a", ttl, clk)
					take(t, a)
					return a.Fence()
				}, false},
				{"the holder after renewals", func(t *testing.T, name string, clk *clock.Fake) lease.Fence {
					a := lease.New(db, name, "node-a", ttl, clk)
					take(t, a)
					for range 3 {
						clk.Advance(10 * time.Second)
						take(t, a)
					}
					return a.Fence()
				}, false},
				{"no lease: the zero fence", func(*testing.T, string, *clock.Fake) lease.Fence { return lease.Fence{} }, false},
				{"never taken", func(t *testing.T, name string, clk *clock.Fake) lease.Fence {
					return lease.New(db, name, "node-a", ttl, clk).Fence()
				}, true},
				{"expired, not taken since", func(t *testing.T, name string, clk *clock.Fake) lease.Fence {
					a := lease.New(db, name, "node-a", ttl, clk)
					take(t, a)
					clk.Advance(ttl)
					return a.Fence()
				}, true},
				{"taken by another holder after it expired", func(t *testing.T, name string, clk *clock.Fake) lease.Fence {
					a := lease.New(db, name, "node-a", ttl, clk)
					take(t, a)
					clk.Advance(ttl + time.Second)
					take(t, lease.New(db, name, "node-b", ttl, clk))
					return a.Fence()
				}, true},
				{"released", func(t *testing.T, name string, clk *clock.Fake) lease.Fence {
					a := lease.New(db, name, "node-a", ttl, clk)
					take(t, a)
					require.NoError(t, a.Release(ctx))
					return a.Fence()
				}, true},
				{"taken by another value with the same holder id", func(t *testing.T, name string, clk *clock.Fake) lease.Fence {
					a := lease.New(db, name, "node-a", ttl, clk)
					take(t, a)
					take(t, lease.New(db, name, "node-a", ttl, clk))
					return a.Fence()
				}, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
					err := check(t, db, tc.fence(t, "relay/"+tc.name, clk))
					if tc.lost {
						require.ErrorIs(t, err, lease.ErrLost)
					} else {
						require.NoError(t, err)
					}
				})
			}
		})
	}
}

// A node restarted under the same id (a new Lease value for "n1") takes its
// own unexpired lease back at once, with the next token: the old value's
// fence fails and the old value does not take the lease back while the new
// one renews it.
func TestRestartTakesANewToken(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			db := eng.open(t)
			clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			ctx := context.Background()
			a := lease.New(db, "relay", "n1", 15*time.Second, clk)
			tokA, _, ok, err := a.Acquire(ctx)
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, check(t, db, a.Fence()))

			b := lease.New(db, "relay", "n1", 15*time.Second, clk) // the restarted process
			tokB, _, ok, err := b.Acquire(ctx)
			require.NoError(t, err)
			require.True(t, ok, "its own id's lease: taken at once")
			require.Equal(t, tokA+1, tokB)
			require.ErrorIs(t, check(t, db, a.Fence()), lease.ErrLost)
			require.NoError(t, check(t, db, b.Fence()))

			clk.Advance(5 * time.Second)
			_, _, ok, err = a.Acquire(ctx)
			require.NoError(t, err)
			require.False(t, ok, "the old value's renewal fails")
			_, _, ok, _ = a.Acquire(ctx)
			require.False(t, ok, "nor does it take the lease back while unexpired")
			tok, _, ok, err := b.Acquire(ctx)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, tokB, tok, "a renewal keeps the token")
			require.NoError(t, a.Release(ctx))
			require.NoError(t, check(t, db, b.Fence()), "the old value's Release leaves the new holder's lease alone")

			clk.Advance(15 * time.Second) // b stopped renewing
			tok, _, ok, err = a.Acquire(ctx)
			require.NoError(t, err)
			require.True(t, ok, "expired: anyone's")
			require.Equal(t, tokB+1, tok)
			require.ErrorIs(t, check(t, db, b.Fence()), lease.ErrLost)
		})
	}
}

// Work that returns on its own (its fence failed, or it could not start)
// releases the lease: another node takes it at once, and this node's Run
// tries again only after the TTL. Once the lease is free again, the work
// starts with a new token; a work's fence passes while it runs.
func TestRunReleasesWorkThatStopped(t *testing.T) {
	db := openBolt(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	l := lease.New(db, "relay", "node-a", 15*time.Second, clk)
	other := lease.New(db, "relay", "node-b", 15*time.Second, clk)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	fences := make(chan lease.Fence)
	done := make(chan struct{})
	var runs atomic.Int32
	go func() {
		defer close(done)
		lease.Run(ctx, l, logger, func(ctx context.Context, f lease.Fence) {
			fences <- f
			if runs.Add(1) > 1 {
				<-ctx.Done() // the second run keeps going
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	first := <-fences
	require.NoError(t, check(t, db, first))
	// The first run returns; Run's next try (every 5 s) finds it returned and
	// releases the lease.
	for {
		require.NoError(t, clk.BlockUntil(ctx, 1)) // Run waits
		if check(t, db, first) != nil {
			break
		}
		clk.Advance(5 * time.Second)
	}
	_, _, ok, err := other.Acquire(ctx)
	require.NoError(t, err)
	require.True(t, ok, "released: another node takes it at once")
	require.NoError(t, other.Release(ctx))

	// Run tries again after the TTL and starts the work with a new token.
	second, waited := nextFence(ctx, t, clk, fences)
	require.GreaterOrEqual(t, waited, 15*time.Second, "not before the TTL")
	require.ErrorIs(t, check(t, db, first), lease.ErrLost, "a new token: the first run's fence fails")
	require.NoError(t, check(t, db, second))

	cancel()
	<-done
	require.ErrorIs(t, check(t, db, second), lease.ErrLost, "released when Run's context ends")
}

// Work that ran for a TTL or more before it stopped on its own (its fence
// failed after a store failover) releases the lease too, but its node takes
// it again at once, without waiting a TTL.
func TestRunRestartsLongRunningWorkAtOnce(t *testing.T) {
	db := openBolt(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	l := lease.New(db, "relay", "node-a", 15*time.Second, clk)
	logs := &clockLog{clk: clk}
	ctx, cancel := context.WithCancel(context.Background())
	fences := make(chan lease.Fence, 2)
	stopFirst := make(chan struct{})
	done := make(chan struct{})
	var runs atomic.Int32
	go func() {
		defer close(done)
		lease.Run(ctx, l, slog.New(logs), func(ctx context.Context, f lease.Fence) {
			fences <- f
			if runs.Add(1) == 1 {
				<-stopFirst // returns on its own when the test says
				return
			}
			<-ctx.Done()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	first := <-fences
	for range 4 { // 20 s of renewals
		require.NoError(t, clk.BlockUntil(ctx, 1))
		clk.Advance(5 * time.Second)
	}
	require.NoError(t, check(t, db, first), "renewed while it ran")
	close(stopFirst)
	second, _ := nextFence(ctx, t, clk, fences)
	require.NoError(t, check(t, db, second))
	stopped, taken := logs.at("lease work stopped on its own: lease released"), logs.at("lease taken")
	require.Len(t, stopped, 1)
	require.Len(t, taken, 2)
	require.Equal(t, stopped[0], taken[1], "taken again when found stopped, not a TTL later")
}

// nextFence moves clk on, 5 s (one of Run's tries) at a time whenever Run
// waits, until Run starts the work again; it returns the work's fence and
// how far the clock moved (an overcount when the work's goroutine lagged).
func nextFence(ctx context.Context, t *testing.T, clk *clock.Fake, fences <-chan lease.Fence) (lease.Fence, time.Duration) {
	t.Helper()
	var moved time.Duration
	for {
		require.NoError(t, clk.BlockUntil(ctx, 1))
		select {
		case f := <-fences:
			return f, moved
		default:
			clk.Advance(5 * time.Second)
			moved += 5 * time.Second
		}
	}
}

// clockLog is a slog.Handler that keeps, per message, the fake times at
// which it was logged.
type clockLog struct {
	clk  *clock.Fake
	mu   sync.Mutex
	msgs map[string][]time.Time
}

func (c *clockLog) Enabled(context.Context, slog.Level) bool { return true }
func (c *clockLog) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *clockLog) WithGroup(string) slog.Handler            { return c }
func (c *clockLog) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.msgs == nil {
		c.msgs = map[string][]time.Time{}
	}
	c.msgs[r.Message] = append(c.msgs[r.Message], c.clk.Now())
	return nil
}

func (c *clockLog) at(msg string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs[msg])
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
					lease.Run(ctx, l, logger, func(ctx context.Context, _ lease.Fence) {
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

// Holders lists who holds the leases of a prefix now: released and expired
// ones drop out, other prefixes are not listed.
func TestHolders(t *testing.T) {
	db := openBolt(t)
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	for _, id := range []string{"node-2", "node-1", "node-3"} {
		_, _, ok, err := lease.New(db, "node/"+id, id, 15*time.Second, clk).Acquire(ctx)
		require.NoError(t, err)
		require.True(t, ok)
	}
	_, _, ok, err := lease.New(db, "relay", "node-1", 15*time.Second, clk).Acquire(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	holders := func() []string {
		h, err := lease.Holders(db, "node/", clk.Now())
		require.NoError(t, err)
		return h
	}
	require.Equal(t, []string{"node-1", "node-2", "node-3"}, holders())

	clk.Advance(10 * time.Second)
	_, _, ok, err = lease.New(db, "node/node-1", "node-1", 15*time.Second, clk).Acquire(ctx) // a restart of node-1
	require.NoError(t, err)
	require.True(t, ok)
	n2 := lease.New(db, "node/node-2", "node-2", 15*time.Second, clk)
	_, _, ok, err = n2.Acquire(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, n2.Release(ctx)) // node-2 shuts down
	require.Equal(t, []string{"node-1", "node-3"}, holders())

	clk.Advance(6 * time.Second) // node-3 not renewed for 16 s
	require.Equal(t, []string{"node-1"}, holders())
}

// Held answers from memory what Check answers from the store, for the
// holder's own side: held after a taking or renewal until the expiry less
// the margin, not after a release, nor for a fence of an older token.
func TestFenceHeld(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	db := openBolt(t)
	ctx := context.Background()
	l := lease.New(db, "livechat", "node-a", 6*time.Second, clk)
	require.True(t, lease.Fence{}.Held(time.Second), "the zero fence")
	require.False(t, l.Fence().Held(time.Second), "never taken")

	_, _, ok, err := l.Acquire(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	f := l.Fence()
	require.True(t, f.Held(time.Second))
	clk.Advance(4 * time.Second)
	require.True(t, f.Held(time.Second), "5 s before the expiry")
	clk.Advance(time.Second + time.Millisecond)
	require.False(t, f.Held(time.Second), "within the margin of the expiry: a renewal is late")
	_, _, ok, err = l.Acquire(ctx) // the renewal
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, f.Held(time.Second), "renewed")

	require.NoError(t, l.Release(ctx))
	require.False(t, f.Held(time.Second), "released")
	_, _, ok, err = l.Acquire(ctx) // a new token
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, f.Held(time.Second), "the old token's fence")
	require.True(t, l.Fence().Held(time.Second))
}
