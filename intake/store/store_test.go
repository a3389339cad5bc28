package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
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
		require.Equal(t, n, count(t, tx, "b"))
		return nil
	}))
}

func count(t *testing.T, tx *store.Tx, bucket string) int {
	n := 0
	require.NoError(t, tx.Bucket([]byte(bucket)).ForEach(func(_, _ []byte) error { n++; return nil }))
	return n
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
		require.Equal(t, 30, count(t, tx, "b"))
		return nil
	}))
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
		require.Eventually(t, func() bool { return store.Closing(db) }, 5*time.Second, time.Millisecond)
		close(release) // Close has begun: it waits for the writer
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

// A write-ahead log left by an earlier release may hold commits the file
// lacks, and this release cannot replay it: Open refuses, saying what to do.
func TestOldLogIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	require.NoError(t, os.WriteFile(path+"-wal.ckpt", make([]byte, 32), 0o600))
	_, err := store.Open(path, store.Options{}, "b")
	require.ErrorContains(t, err, "write-ahead log from an earlier release")
	require.ErrorContains(t, err, "SIGTERM")

	require.NoError(t, os.Remove(path+"-wal.ckpt"))
	db, err := store.Open(path, store.Options{}, "b")
	require.NoError(t, err)
	require.NoError(t, db.Close())
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
