package timers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/store"
	"github.com/hotline12345/gateway/sessions/timers"
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

// TestClocks runs the contract's clock behaviour in every firing mode.
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
	for _, mode := range modes {
		for _, tc := range tests {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, mode, timers.Options{})
				h.start()
				tc.run(t, h)
			})
		}
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
	for _, mode := range modes {
		for _, tc := range tests {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, mode, timers.Options{})
				require.ErrorIs(t, h.svc.Set(context.Background(), tc.key, tc.due), tc.want)
				if tc.want == timers.ErrInvalidKey {
					_, err := h.svc.Stop(context.Background(), tc.key)
					require.ErrorIs(t, err, tc.want)
				}
				require.Zero(t, h.svc.Len())
			})
		}
	}
}

func TestNewConfig(t *testing.T) {
	db := openStore(t, t.TempDir()+"/gateway.db")
	fire := func(context.Context, timers.Key, time.Time) {}
	tests := []struct {
		name string
		db   *store.DB
		fire func(context.Context, timers.Key, time.Time)
		opts timers.Options
		ok   bool
	}{
		{name: "callback, memory", fire: fire, ok: true},
		{name: "callback, store", db: db, fire: fire, ok: true},
		{name: "tx, store", db: db, opts: timers.Options{FireTx: countEffect}, ok: true},
		{name: "neither", db: db},
		{name: "both", db: db, fire: fire, opts: timers.Options{FireTx: countEffect}},
		{name: "tx without store", opts: timers.Options{FireTx: countEffect}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := timers.New(tc.db, nil, tc.fire, tc.opts)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, timers.ErrConfig)
			}
		})
	}
}

func TestMemoryOnlyRejectsTx(t *testing.T) {
	h := newHarness(t, memoryMode, timers.Options{})
	db := openStore(t, t.TempDir()+"/other.db")
	require.NoError(t, db.Update(context.Background(), func(tx *store.Tx) error {
		require.ErrorIs(t, h.svc.SetTx(tx, firstResp, dueFirst), timers.ErrNoStore)
		_, err := h.svc.StopTx(tx, firstResp)
		require.ErrorIs(t, err, timers.ErrNoStore)
		return nil
	}))
}

func TestStoreWithoutBuckets(t *testing.T) {
	db, err := store.Open(t.TempDir()+"/bare.db", store.Options{})
	require.NoError(t, err)
	defer db.Close()
	svc, err := timers.New(db, timers.NewFakeClock(epoch), func(context.Context, timers.Key, time.Time) {}, timers.Options{})
	require.NoError(t, err)
	require.ErrorIs(t, svc.Set(context.Background(), firstResp, dueFirst), timers.ErrNoBuckets)
	require.ErrorIs(t, svc.Load(context.Background()), timers.ErrNoBuckets)
}

// TestSetTxRollback: a timer written in a transaction that fails is neither
// stored nor scheduled, and the earlier timer of the key stays.
func TestSetTxRollback(t *testing.T) {
	h := newHarness(t, txMode, timers.Options{})
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
	h := newHarness(t, txMode, timers.Options{})
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

// TestFireTxErrorIsRetried: a failing callback delays only its own timer,
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
	h := newHarness(t, txMode, opts)
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
	h := newHarness(t, txMode, opts)
	h.start()
	h.set(firstResp, dueFirst)
	h.advance(threeMin)
	require.True(t, h.stop(firstResp))
	require.Zero(t, h.svc.Len())
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, memoryMode, timers.Options{})
	h.start()
	syncRun(t, h.svc) // Run is up
	require.ErrorIs(t, h.svc.Run(context.Background()), timers.ErrRunning)
}

func TestSyncAfterRunStops(t *testing.T) {
	h := newHarness(t, memoryMode, timers.Options{})
	stop := startRun(t, h.svc)
	syncRun(t, h.svc)
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, h.svc.Sync(ctx), context.DeadlineExceeded, "no Run: Sync waits for ctx")
}

// TestChainedTimers: a firing may start the next timer (a re-offer every
// 30 s, until a minute after the first) from inside its callback, in every
// mode.
func TestChainedTimers(t *testing.T) {
	offer := timers.Key{ID: env1, Kind: "offer"}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			var h *harness
			opts := timers.Options{}
			next := func(due time.Time) (time.Time, bool) {
				return due.Add(30 * time.Second), due.Before(dueFirst.Add(time.Minute))
			}
			if mode == txMode {
				opts.FireTx = func(tx *store.Tx, k timers.Key, due time.Time) error {
					if at, ok := next(due); ok {
						return h.svc.SetTx(tx, k, at)
					}
					return nil
				}
			}
			h = newHarness(t, mode, opts)
			if mode != txMode { // wrap the recording callback
				svc, err := timers.New(h.db, h.clock, func(ctx context.Context, k timers.Key, due time.Time) {
					h.mu.Lock()
					h.fired = append(h.fired, firing{Key: k, Due: due, At: h.clock.Now()})
					h.mu.Unlock()
					if at, ok := next(due); ok {
						require.NoError(t, h.svc.Set(ctx, k, at))
					}
				}, timers.Options{})
				require.NoError(t, err)
				h.svc = svc
			}
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
		})
	}
}

// TestCallbackModeAtLeastOnce: in callback mode a crash after the callback
// but before the record's deletion fires the timer again at start-up, and
// while the callback runs the clock can no longer be stopped.
func TestCallbackModeAtLeastOnce(t *testing.T) {
	path := t.TempDir() + "/gateway.db"
	db := openStore(t, path)
	clock := timers.NewFakeClock(epoch)
	var svc *timers.Service
	var stoppedInCallback bool
	var calls int
	svc, err := timers.New(db, clock, func(ctx context.Context, k timers.Key, _ time.Time) {
		calls++
		ok, err := svc.Stop(ctx, k)
		require.NoError(t, err)
		stoppedInCallback = ok
		require.NoError(t, db.Close()) // crash before the deletion
	}, timers.Options{})
	require.NoError(t, err)
	require.NoError(t, svc.Set(context.Background(), firstResp, dueFirst))
	stop := startRun(t, svc)
	clock.Advance(threeMin)
	syncRun(t, svc)
	stop()
	require.Equal(t, 1, calls)
	require.False(t, stoppedInCallback, "a firing clock cannot be stopped")

	h := &harness{t: t, mode: callbackMode, clock: clock, path: path, db: openStore(t, path)}
	h.svc = h.newService(timers.Options{})
	h.start()
	syncRun(t, h.svc)
	require.Equal(t, []firing{{Key: firstResp, Due: dueFirst, At: dueFirst}}, h.firings(), "fires again at start-up")
	require.False(t, h.stop(firstResp))
	h.restart()
	require.Zero(t, h.svc.Len())
}

// TestStaleScheduleHeals: with a store, a Schedule that disagrees with the
// stored timer is only a hint: at the wrong time nothing fires, and the
// stored due time is scheduled instead.
func TestStaleScheduleHeals(t *testing.T) {
	for _, mode := range []string{callbackMode, txMode} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, mode, timers.Options{})
			h.start()
			h.set(firstResp, dueFirst)
			require.NoError(t, h.svc.Schedule(firstResp, epoch.Add(time.Minute)))  // stale, earlier
			require.NoError(t, h.svc.Schedule(otherFirst, epoch.Add(time.Minute))) // never stored
			h.advance(time.Minute)
			require.Empty(t, h.firings())
			due, ok := h.svc.Due(firstResp)
			require.True(t, ok, "the stored timer is back in memory")
			require.Equal(t, dueFirst, due)
			h.advance(2 * time.Minute)
			require.Equal(t, []firing{{Key: firstResp, Due: dueFirst, At: dueFirst}}, h.firings())
		})
	}
}

// TestSystemClock runs a timer on the real clock.
func TestSystemClock(t *testing.T) {
	fired := make(chan timers.Key, 1)
	svc, err := timers.New(nil, nil, func(_ context.Context, k timers.Key, _ time.Time) { fired <- k }, timers.Options{})
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
