package timers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/timeliness/timers"
)

var (
	env1        = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	env2        = "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
	firstResp   = timers.Key{ID: env1, Kind: timers.KindFirstResponse}
	firstWarn   = timers.Key{ID: env1, Kind: timers.WarningKind(timers.KindFirstResponse)}
	handling    = timers.Key{ID: env1, Kind: timers.KindHandling}
	otherFirst  = timers.Key{ID: env2, Kind: timers.KindFirstResponse}
	threeMin    = 3 * time.Minute
	dueFirst    = epoch.Add(threeMin)
	dueWarn     = dueFirst.Add(-time.Minute)
	dueHandling = epoch.Add(24 * time.Hour)
)

func keysOf(fs []firing) []timers.Key {
	var ks []timers.Key
	for _, f := range fs {
		ks = append(ks, f.Key)
	}
	return ks
}

// TestClocks runs the contract's clock behaviour.
func TestClocks(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{name: "fires at its due time, once", run: func(t *testing.T, h *harness) {
			h.set(firstResp, dueFirst)
			require.Equal(t, 1, h.svc.Len())
			h.advance(threeMin - time.Nanosecond)
			require.Empty(t, h.firings(), "not before the due time")
			h.advance(time.Nanosecond)
			require.Equal(t, []firing{{Key: firstResp, Due: dueFirst, At: dueFirst}}, h.firings())
			h.advance(48 * time.Hour)
			require.Len(t, h.firings(), 1, "never twice")
			require.Zero(t, h.svc.Len())
		}},
		{name: "replace moves the timer later", run: func(t *testing.T, h *harness) {
			h.set(firstResp, dueFirst)
			h.set(firstResp, dueFirst.Add(time.Minute))
			require.Equal(t, 1, h.svc.Len())
			h.advance(threeMin)
			require.Empty(t, h.firings())
			h.advance(time.Minute)
			require.Equal(t, []firing{{Key: firstResp, Due: dueFirst.Add(time.Minute), At: dueFirst.Add(time.Minute)}}, h.firings())
		}},
		{name: "replace moves the timer earlier", run: func(t *testing.T, h *harness) {
			h.set(handling, dueHandling)
			h.set(handling, dueFirst)
			due, ok := h.svc.Due(handling)
			require.True(t, ok)
			require.Equal(t, dueFirst, due)
			h.advance(threeMin)
			h.advance(48 * time.Hour)
			require.Equal(t, []firing{{Key: handling, Due: dueFirst, At: dueFirst}}, h.firings())
		}},
		{name: "stop before due: never fires, stops once", run: func(t *testing.T, h *harness) {
			h.set(firstResp, dueFirst)
			h.set(otherFirst, dueFirst)
			require.True(t, h.stop(firstResp))
			require.False(t, h.stop(firstResp), "a clock stops exactly once")
			_, ok := h.svc.Due(firstResp)
			require.False(t, ok)
			h.advance(time.Hour)
			require.Equal(t, []timers.Key{otherFirst}, keysOf(h.firings()))
		}},
		{name: "stop after fire reports false", run: func(t *testing.T, h *harness) {
			h.set(firstResp, dueFirst)
			h.advance(threeMin)
			require.Len(t, h.firings(), 1)
			require.False(t, h.stop(firstResp))
		}},
		{name: "stop of an unknown timer reports false", run: func(t *testing.T, h *harness) {
			require.False(t, h.stop(otherFirst))
		}},
		{name: "fires in due-time order", run: func(t *testing.T, h *harness) {
			h.set(handling, dueHandling)
			h.set(otherFirst, dueFirst.Add(time.Second))
			h.set(firstResp, dueFirst)
			h.set(firstWarn, dueWarn)
			h.advance(25 * time.Hour) // all due in one step
			require.Equal(t, []timers.Key{firstWarn, firstResp, otherFirst, handling}, keysOf(h.firings()))
			for _, f := range h.firings() {
				require.Equal(t, epoch.Add(25*time.Hour), f.At)
			}
		}},
		{name: "warning then due, stepwise", run: func(t *testing.T, h *harness) {
			h.set(firstWarn, dueWarn)
			h.set(firstResp, dueFirst)
			h.advance(2 * time.Minute)
			require.Equal(t, []timers.Key{firstWarn}, keysOf(h.firings()))
			h.advance(time.Minute)
			require.Equal(t, []timers.Key{firstWarn, firstResp}, keysOf(h.firings()))
		}},
		{name: "a due time in the past fires at once", run: func(t *testing.T, h *harness) {
			h.set(firstResp, epoch.Add(-time.Hour))
			syncRun(t, h.svc)
			require.Equal(t, []firing{{Key: firstResp, Due: epoch.Add(-time.Hour), At: epoch}}, h.firings())
		}},
		{name: "many timers due together fire in batches", run: func(t *testing.T, h *harness) {
			var ds []timers.Deadline
			for i := range 1500 { // three batches of 512
				ds = append(ds, timers.Deadline{Key: timers.Key{ID: string(rune('a'+i%26)) + strings.Repeat("x", i/26), Kind: "offer"}, Due: dueFirst})
			}
			require.NoError(t, h.svc.SetMany(context.Background(), ds))
			require.Equal(t, 1500, h.svc.Len())
			h.advance(threeMin)
			require.Len(t, h.firings(), 1500)
			require.Zero(t, h.svc.Len())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, timers.Options{})
			h.start()
			tc.run(t, h)
		})
	}
}

func TestInvalidInput(t *testing.T) {
	tests := []struct {
		name string
		key  timers.Key
		due  time.Time
		want error
	}{
		{name: "empty id", key: timers.Key{Kind: timers.KindHandling}, due: dueFirst, want: timers.ErrInvalidKey},
		{name: "empty kind", key: timers.Key{ID: env1}, due: dueFirst, want: timers.ErrInvalidKey},
		{name: "NUL in kind", key: timers.Key{ID: env1, Kind: "a\x00b"}, due: dueFirst, want: timers.ErrInvalidKey},
		{name: "long id", key: timers.Key{ID: strings.Repeat("x", timers.MaxIDLen+1), Kind: "k"}, due: dueFirst, want: timers.ErrInvalidKey},
		{name: "zero due", key: firstResp, due: time.Time{}, want: timers.ErrInvalidDue},
		{name: "before 1970", key: firstResp, due: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), want: timers.ErrInvalidDue},
		{name: "after 2262", key: firstResp, due: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), want: timers.ErrInvalidDue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, timers.Options{})
			require.ErrorIs(t, h.svc.Set(context.Background(), tc.key, tc.due), tc.want)
			require.ErrorIs(t, h.svc.SetMany(context.Background(), []timers.Deadline{{Key: tc.key, Due: tc.due}}), tc.want)
			if tc.want == timers.ErrInvalidKey {
				_, err := h.svc.Stop(context.Background(), tc.key)
				require.ErrorIs(t, err, tc.want)
			}
			require.Zero(t, h.svc.Len())
		})
	}
}

func TestNewConfig(t *testing.T) {
	db := openStore(t, t.TempDir()+"/gateway.db")
	tests := []struct {
		name string
		db   *store.DB
		opts timers.Options
		ok   bool
	}{
		{name: "store and FireTx", db: db, opts: timers.Options{FireTx: countEffect}, ok: true},
		{name: "no FireTx", db: db},
		{name: "no store", opts: timers.Options{FireTx: countEffect}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := timers.New(tc.db, nil, tc.opts)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, timers.ErrConfig)
			}
		})
	}
}

func TestStoreWithoutBuckets(t *testing.T) {
	db, err := store.Open(t.TempDir()+"/bare.db", store.Options{})
	require.NoError(t, err)
	defer db.Close()
	svc, err := timers.New(db, clock.NewFake(epoch), timers.Options{FireTx: countEffect})
	require.NoError(t, err)
	require.ErrorIs(t, svc.Set(context.Background(), firstResp, dueFirst), timers.ErrNoBuckets)
	require.ErrorIs(t, svc.Load(context.Background()), timers.ErrNoBuckets)
}

// TestSetTxRollback: a timer written in a transaction that fails is neither
// stored nor scheduled, and the earlier timer of the key stays.
func TestSetTxRollback(t *testing.T) {
	h := newHarness(t, timers.Options{})
	h.start()
	h.set(firstResp, dueFirst)
	boom := errors.New("intake failed")
	err := h.db.Update(context.Background(), func(tx *store.Tx) error {
		require.NoError(t, h.svc.SetTx(tx, firstResp, dueHandling))
		return boom
	})
	require.ErrorIs(t, err, boom)
	due, ok := h.svc.Due(firstResp)
	require.True(t, ok)
	require.Equal(t, dueFirst, due)
	h.advance(threeMin)
	require.Equal(t, []timers.Key{firstResp}, keysOf(h.firings()))
}

// TestStopTxInCallerTransaction: the agent's reply and the stop of the clock
// commit together.
func TestStopTxInCallerTransaction(t *testing.T) {
	h := newHarness(t, timers.Options{})
	h.start()
	h.set(firstResp, dueFirst)
	var stopped bool
	require.NoError(t, h.db.Update(context.Background(), func(tx *store.Tx) error {
		var err error
		stopped, err = h.svc.StopTx(tx, firstResp)
		return err
	}))
	require.True(t, stopped)
	require.Zero(t, h.svc.Len())
	h.advance(time.Hour)
	require.Empty(t, h.firings())
}

// TestFireTxErrorIsRetried: a failing FireTx delays only its own timer,
// which later fires with its original due time.
func TestFireTxErrorIsRetried(t *testing.T) {
	failures := 2
	opts := timers.Options{RetryMin: time.Second, RetryMax: 4 * time.Second,
		FireTx: func(tx *store.Tx, k timers.Key, due time.Time) error {
			if k == firstResp && failures > 0 {
				failures-- // only ever touched on the Run goroutine
				return errors.New("downstream refused")
			}
			return countEffect(tx, k, due)
		}}
	h := newHarness(t, opts)
	h.start()
	h.set(firstResp, dueFirst)
	h.set(otherFirst, dueFirst)
	h.advance(threeMin)
	require.Equal(t, []timers.Key{otherFirst}, keysOf(h.firings()), "the healthy timer is not held up")
	require.Equal(t, 1, h.svc.Len(), "the failed timer waits for its retry")
	require.False(t, h.stop(otherFirst))

	h.advance(time.Second) // second attempt fails too
	require.Len(t, h.firings(), 1)
	h.advance(2 * time.Second) // third succeeds, after 1s then 2s of backoff
	require.Equal(t, []firing{
		{Key: otherFirst, Due: dueFirst, At: dueFirst},
		{Key: firstResp, Due: dueFirst, At: dueFirst.Add(3 * time.Second)},
	}, h.firings())
	require.Equal(t, map[string]int{firstResp.String(): 1, otherFirst.String(): 1}, readEffects(t, h.db))
}

// TestStopDuringRetry: a timer waiting for its retry can still be stopped.
func TestStopDuringRetry(t *testing.T) {
	opts := timers.Options{RetryMin: time.Minute,
		FireTx: func(*store.Tx, timers.Key, time.Time) error { return errors.New("down") }}
	h := newHarness(t, opts)
	h.start()
	h.set(firstResp, dueFirst)
	h.advance(threeMin)
	require.True(t, h.stop(firstResp))
	require.Zero(t, h.svc.Len())
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, timers.Options{})
	h.start()
	syncRun(t, h.svc) // Run is up
	require.ErrorIs(t, h.svc.Run(context.Background()), timers.ErrRunning)
}

// TestSyncWithoutRun: a Sync made while no Run is active waits for the next
// Run, or for its ctx.
func TestSyncWithoutRun(t *testing.T) {
	h := newHarness(t, timers.Options{})
	stop := startRun(t, h.svc)
	syncRun(t, h.svc)
	stop()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, h.svc.Sync(ctx), context.Canceled)

	synced := make(chan error, 1)
	go func() { synced <- h.svc.Sync(context.Background()) }()
	h.set(firstResp, epoch) // due now: fires once Run is back
	startRun(t, h.svc)
	require.NoError(t, <-synced)
	require.Equal(t, []timers.Key{firstResp}, keysOf(h.firings()))
}

// TestChainedTimers: a firing may start the next timer (a re-offer every
// 30 s, until a minute after the first) with SetTx in its own transaction.
func TestChainedTimers(t *testing.T) {
	offer := timers.Key{ID: env1, Kind: "offer"}
	var h *harness
	h = newHarness(t, timers.Options{FireTx: func(tx *store.Tx, k timers.Key, due time.Time) error {
		if due.Before(dueFirst.Add(time.Minute)) {
			return h.svc.SetTx(tx, k, due.Add(30*time.Second))
		}
		return nil
	}})
	h.start()
	h.set(offer, dueFirst)
	h.advance(threeMin)
	for range 10 {
		h.advance(10 * time.Second)
	}
	h.advance(time.Hour)
	var ats []time.Time
	for _, f := range h.firings() {
		ats = append(ats, f.At)
	}
	require.Equal(t, []time.Time{dueFirst, dueFirst.Add(30 * time.Second), dueFirst.Add(time.Minute)}, ats)
	require.Zero(t, h.svc.Len())
}

// TestStaleScheduleHeals: a schedule in memory that disagrees with the
// stored timer is only a hint: at the wrong time nothing fires, and the
// stored due time is scheduled instead.
func TestStaleScheduleHeals(t *testing.T) {
	h := newHarness(t, timers.Options{})
	h.start()
	h.set(firstResp, dueFirst)
	h.svc.ScheduleStale(firstResp, epoch.Add(time.Minute))  // stale, earlier
	h.svc.ScheduleStale(otherFirst, epoch.Add(time.Minute)) // never stored
	h.advance(time.Minute)
	require.Empty(t, h.firings())
	due, ok := h.svc.Due(firstResp)
	require.True(t, ok, "the stored timer is back in memory")
	require.Equal(t, dueFirst, due)
	_, ok = h.svc.Due(otherFirst)
	require.False(t, ok)
	h.advance(2 * time.Minute)
	require.Equal(t, []firing{{Key: firstResp, Due: dueFirst, At: dueFirst}}, h.firings())
	require.Equal(t, map[string]int{firstResp.String(): 1}, readEffects(t, h.db))
}

// TestSystemClock runs a timer on the real clock (nil: System).
func TestSystemClock(t *testing.T) {
	db := openStore(t, t.TempDir()+"/gateway.db")
	fired := make(chan timers.Key, 1)
	svc, err := timers.New(db, nil, timers.Options{FireTx: countEffect,
		AfterFire: func(ds []timers.Deadline) { fired <- ds[0].Key }})
	require.NoError(t, err)
	startRun(t, svc)
	require.NoError(t, svc.Set(context.Background(), firstResp, time.Now().Add(20*time.Millisecond)))
	select {
	case k := <-fired:
		require.Equal(t, firstResp, k)
	case <-time.After(10 * time.Second):
		t.Fatal("timer did not fire on the system clock")
	}
}

// Two services in one store, each with its own bucket, never see each
// other's timers.
func TestServicesWithOwnBuckets(t *testing.T) {
	db, err := store.Open(t.TempDir()+"/two.db", store.Options{}, append([]string{effects, "other_timers"}, timers.Buckets...)...)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	a, err := timers.New(db, clock.NewFake(epoch), timers.Options{FireTx: countEffect})
	require.NoError(t, err)
	b, err := timers.New(db, clock.NewFake(epoch), timers.Options{FireTx: countEffect, Bucket: "other_timers"})
	require.NoError(t, err)
	require.NoError(t, a.Set(ctx, firstResp, dueFirst))
	b2, err := timers.New(db, clock.NewFake(epoch), timers.Options{FireTx: countEffect, Bucket: "other_timers"})
	require.NoError(t, err)
	require.NoError(t, b2.Load(ctx))
	require.Zero(t, b2.Len(), "b's bucket holds none of a's timers")
	stopped, err := b.Stop(ctx, firstResp)
	require.NoError(t, err)
	require.False(t, stopped)
	a2, err := timers.New(db, clock.NewFake(epoch), timers.Options{FireTx: countEffect})
	require.NoError(t, err)
	require.NoError(t, a2.Load(ctx))
	require.Equal(t, 1, a2.Len())
}
