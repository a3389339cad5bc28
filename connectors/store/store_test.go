package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/store"
)

func TestGroupCommit(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()

	const n = 500
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
				k := binary.BigEndian.AppendUint64(nil, uint64(i))
				return tx.Bucket([]byte("b")).Put(k, []byte("v"))
			}))
		}()
	}
	wg.Wait()
	st := db.Stats()
	require.EqualValues(t, n, st.Writes)
	require.Less(t, st.Commits, int64(n), "concurrent updates must share commits")
	require.NoError(t, db.View(func(tx *store.Tx) error {
		require.Equal(t, n, tx.Bucket([]byte("b")).Stats().KeyN)
		return nil
	}))
}

func TestFailingUpdateDoesNotSinkItsGroup(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(context.Background(), func(tx *store.Tx) error {
				if i%4 == 0 {
					return boom
				}
				return tx.Bucket([]byte("b")).Put([]byte{byte(i)}, []byte("v"))
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%4 == 0 {
			require.ErrorIs(t, err, boom)
		} else {
			require.NoError(t, err)
		}
	}
	require.NoError(t, db.View(func(tx *store.Tx) error {
		require.Equal(t, 30, tx.Bucket([]byte("b")).Stats().KeyN)
		return nil
	}))
}

// TestPacing: under load, commits start at most once per MinCommitInterval
// and carry what arrived meanwhile; a lone Update after a lone Update is
// committed at once, whatever the interval.
func TestPacing(t *testing.T) {
	put := func(db *store.DB, k uint64) error {
		return db.Update(context.Background(), func(tx *store.Tx) error {
			return tx.Bucket([]byte("b")).Put(binary.BigEndian.AppendUint64(nil, k), []byte("v"))
		})
	}
	open := func(t *testing.T, interval time.Duration) *store.DB {
		db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{MinCommitInterval: interval}, "b")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	t.Run("load", func(t *testing.T) {
		const interval = 20 * time.Millisecond
		db := open(t, interval)
		var wg sync.WaitGroup
		var seq atomic.Uint64
		errs := make(chan error, 64)
		// The writers start together: a lone Update commits at once (the
		// "lone" case below), so writers trickling in while the others are
		// still being started, on a busy machine, would make a few unpaced
		// commits and break the bound for reasons of the test's own.
		ready := make(chan struct{})
		var start time.Time
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				for time.Since(start) < 300*time.Millisecond {
					if err := put(db, seq.Add(1)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		start = time.Now()
		close(ready)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		elapsed := time.Since(start)
		st := db.Stats()
		// Back to back, 64 writers on any disk commit far more often than
		// this (hundreds of times in 300 ms on a fast one).
		require.LessOrEqual(t, st.Commits, int64(elapsed/interval)+3, "%d commits in %v", st.Commits, elapsed)
		require.EqualValues(t, seq.Load(), st.Writes)
	})
	t.Run("lone", func(t *testing.T) {
		const interval = 500 * time.Millisecond
		db := open(t, interval)
		start := time.Now()
		for i := range 20 {
			require.NoError(t, put(db, uint64(i)))
		}
		// Paced, 20 sequential Updates would take at least 19 intervals.
		require.Less(t, time.Since(start), 4*interval)
		require.EqualValues(t, 20, db.Stats().Commits)
	})
}

// TestCloseCommitsTheQueueInGroups: what was submitted before Close is
// committed, and in groups, however the writer learns of the close.
func TestCloseCommitsTheQueueInGroups(t *testing.T) {
	for round := range 5 { // the writer picks the queue or the close at random
		db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{}, "b")
		require.NoError(t, err)
		held, release := make(chan struct{}), make(chan struct{})
		go func() {
			_ = db.Update(context.Background(), func(*store.Tx) error {
				select {
				case <-held:
				default:
					close(held)
				}
				<-release
				return nil
			})
		}()
		<-held // the writer is busy: what follows queues up
		const n = 300
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.Update(context.Background(), func(tx *store.Tx) error {
					return tx.Bucket([]byte("b")).Put(binary.BigEndian.AppendUint64(nil, uint64(i)), []byte("v"))
				})
			}()
		}
		require.Eventually(t, func() bool { return store.Queued(db) == n }, 5*time.Second, time.Millisecond)
		closed := make(chan error)
		go func() { closed <- db.Close() }()
		time.Sleep(10 * time.Millisecond) // Close has begun: it waits for the writer
		close(release)
		require.NoError(t, <-closed)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "round %d", round)
		}
		st := db.Stats()
		require.EqualValues(t, n+1, st.Writes)
		require.LessOrEqual(t, st.Commits, int64(4), "round %d: %d commits for a queue of %d", round, st.Commits, n)
	}
}

func TestClosedRefuses(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{}, "b")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Update(context.Background(), func(*store.Tx) error { return nil }), store.ErrClosed)
}

func BenchmarkUpdateParallel(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "s.db"), store.Options{}, "b")
	require.NoError(b, err)
	defer db.Close()
	val := make([]byte, 1024)
	var seq uint64
	var mu sync.Mutex
	b.ReportAllocs()
	b.SetParallelism(64)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			seq++
			k := binary.BigEndian.AppendUint64(nil, seq)
			mu.Unlock()
			if err := db.Update(context.Background(), func(tx *store.Tx) error {
				return tx.Bucket([]byte("b")).Put(k, val)
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	st := db.Stats()
	b.ReportMetric(float64(st.Writes)/float64(st.Commits), "writes/fsync")
}
