package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// crash stops db as a killed process would: no final checkpoint, nothing
// written after the last commit.
func crash(t *testing.T, db *DB) {
	t.Helper()
	db.mu.Lock()
	close(db.closing)
	db.mu.Unlock()
	<-db.done
	w := db.wal
	w.mu.Lock()
	w.stopping, w.want = true, w.done // no checkpoint on the way out
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.finished
	w.close()
	require.NoError(t, db.bolt.Close())
}

func put(t *testing.T, db *DB, key string, value []byte) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), func(tx *Tx) error {
		return tx.Bucket([]byte("b")).Put([]byte(key), value)
	}))
}

// requireKeys checks that the file is a sound bbolt tree holding exactly
// want (key → value length).
func requireKeys(t *testing.T, db *DB, want map[string]int) {
	t.Helper()
	require.NoError(t, db.View(func(tx *Tx) error {
		for err := range tx.Check() {
			return err
		}
		got := map[string]int{}
		err := tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
			got[string(k)] = len(v)
			return nil
		})
		require.Equal(t, want, got)
		return err
	}))
}

func TestWALHookIsInstalled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path, Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	require.True(t, db.Stats().WAL)
	require.True(t, db.bolt.NoSync, "bbolt must leave the syncing to the log")
	put(t, db, "k", []byte("v"))
	st, err := os.Stat(walSegName(path, 0))
	require.NoError(t, err)
	require.Positive(t, st.Size(), "a commit goes through the log")

	off, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{WALSegmentSize: -1}, "b")
	require.NoError(t, err)
	defer off.Close()
	require.False(t, off.Stats().WAL)
	require.False(t, off.bolt.NoSync)
}

// TestWALRecoversWhatTheFileLost simulates a power cut: the store file goes
// back to its state at the last checkpoint, or to that state with the newer
// meta pages (the one write that, alone, would corrupt bbolt). Every
// acknowledged commit is back after Open, in a sound tree.
func TestWALRecoversWhatTheFileLost(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keepMeta bool
	}{{"nothing reached the file", false}, {"only the meta pages reached the file", true}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			db, err := Open(path, Options{}, "b")
			require.NoError(t, err)
			put(t, db, "before", []byte("x"))
			require.NoError(t, db.Close()) // a checkpoint: the file is synced
			synced, err := os.ReadFile(path)
			require.NoError(t, err)

			db, err = Open(path, Options{}, "b")
			require.NoError(t, err)
			want := map[string]int{"before": 1}
			for i := range 300 {
				k := fmt.Sprintf("k%03d", i)
				put(t, db, k, make([]byte, 100+i*7)) // some overflow pages
				want[k] = 100 + i*7
			}
			crash(t, db)
			lost := synced
			if tc.keepMeta {
				now, err := os.ReadFile(path)
				require.NoError(t, err)
				ps := os.Getpagesize()
				lost = append(append([]byte{}, now[:2*ps]...), synced[2*ps:]...)
			}
			require.NoError(t, os.WriteFile(path, lost, 0o600))

			db, err = Open(path, Options{}, "b")
			require.NoError(t, err)
			defer db.Close()
			requireKeys(t, db, want)
			put(t, db, "after", []byte("y"))
			want["after"] = 1
			requireKeys(t, db, want)
		})
	}
}

// TestWALTornTail: the last record was being written when the power went;
// it is ignored, every earlier commit is recovered, and the log goes on.
func TestWALTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path, Options{}, "b")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	synced, err := os.ReadFile(path)
	require.NoError(t, err)

	db, err = Open(path, Options{}, "b")
	require.NoError(t, err)
	want := map[string]int{}
	var lastStart int64
	for i := range 50 {
		lastStart = db.wal.off
		k := fmt.Sprintf("k%02d", i)
		put(t, db, k, []byte("v"))
		want[k] = 1
	}
	end := db.wal.off
	crash(t, db)
	delete(want, "k49")
	require.NoError(t, os.Truncate(walSegName(path, 0), lastStart+(end-lastStart)/2))
	require.NoError(t, os.WriteFile(path, synced, 0o600))

	db, err = Open(path, Options{}, "b")
	require.NoError(t, err)
	requireKeys(t, db, want)
	put(t, db, "after", []byte("v"))
	want["after"] = 1
	crash(t, db)
	db, err = Open(path, Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	requireKeys(t, db, want)
}

// TestWALSegmentsAreReused: with small segments the writer moves on, the
// file is checkpointed in the background, the log stays bounded, and a
// crash in the middle of it all loses nothing.
func TestWALSegmentsAreReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	const segSize = 64 << 10
	opts := Options{WALSegments: 3, WALSegmentSize: segSize}
	db, err := Open(path, opts, "b")
	require.NoError(t, err)
	want := map[string]int{}
	for i := range 600 {
		k := fmt.Sprintf("k%04d", i)
		put(t, db, k, make([]byte, 1000))
		want[k] = 1000
	}
	require.Greater(t, db.Stats().Checkpoints, int64(10))
	crash(t, db)
	for i := range 3 {
		st, err := os.Stat(walSegName(path, i))
		require.NoError(t, err)
		require.Less(t, st.Size(), int64(2*segSize), "segment %d", i)
	}
	db, err = Open(path, opts, "b")
	require.NoError(t, err)
	defer db.Close()
	requireKeys(t, db, want)
}

func TestReadCheckpoint(t *testing.T) {
	slot := func(lsn uint64, ok bool) []byte {
		w := &wal{}
		f, err := os.CreateTemp(t.TempDir(), "c")
		require.NoError(t, err)
		w.ckpt, w.slot = f, 1
		require.NoError(t, w.writeCheckpoint(lsn))
		b, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		if !ok {
			b[3] ^= 0xff
		}
		return b[:ckptSlot]
	}
	for _, tc := range []struct {
		name string
		file []byte
		lsn  uint64
		slot int
	}{
		{"empty: a new log", nil, 1, 1},
		{"slot 0 only", slot(7, true), 7, 0},
		{"both, 1 newer", append(slot(7, true), slot(9, true)...), 9, 1},
		{"both, 0 newer", append(slot(12, true), slot(9, true)...), 12, 0},
		{"newer one torn", append(slot(7, true), slot(9, false)...), 7, 0},
		{"both torn", append(slot(7, false), slot(9, false)...), 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.CreateTemp(t.TempDir(), "c")
			require.NoError(t, err)
			defer f.Close()
			_, err = f.Write(tc.file)
			require.NoError(t, err)
			lsn, s, err := readCheckpoint(f)
			require.NoError(t, err)
			require.Equal(t, tc.lsn, lsn)
			require.Equal(t, tc.slot, s)
		})
	}
}

// FuzzParseRecord: the log is read back from disk after a crash; torn or
// stale bytes must be refused, never panic, and what is accepted must be
// exactly a sealed record.
func FuzzParseRecord(f *testing.F) {
	rec := make([]byte, walHdrSize)
	rec = binary.BigEndian.AppendUint64(rec, 8192)
	rec = binary.BigEndian.AppendUint32(rec, 4)
	rec = append(rec, 1, 2, 3, 4)
	sealRecord(rec, 42)
	f.Add(rec)
	f.Add(rec[:len(rec)-1])
	f.Add(append(append([]byte{}, rec...), rec...))
	f.Add([]byte("WWAL"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lsn, body, n, ok := parseRecord(b)
		if !ok {
			return
		}
		again := append([]byte{}, b[:n]...)
		sealRecord(again, lsn)
		require.Equal(t, b[:n], again)
		require.Equal(t, b[walHdrSize:n], body)
	})
}

// TestWALMetaWaitsForTheLog: when the log cannot be written, the commit
// fails, its meta page never reaches the store file (which would make the
// commit visible after a restart without a durable record of it), and the
// store takes no more writes.
func TestWALMetaWaitsForTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path, Options{}, "b")
	require.NoError(t, err)
	put(t, db, "k1", []byte("v"))
	ps := os.Getpagesize()
	meta := func() []byte {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b[:2*ps]
	}
	before := meta()
	require.NoError(t, db.wal.segs[db.wal.cur].Close()) // the log's disk goes away

	for _, k := range []string{"k2", "k3"} {
		err := db.Update(context.Background(), func(tx *Tx) error {
			return tx.Bucket([]byte("b")).Put([]byte(k), []byte("v"))
		})
		require.ErrorIs(t, err, ErrWAL, k)
	}
	require.Equal(t, before, meta(), "no meta page without its log record")
	_ = db.Close()

	db, err = Open(path, Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	requireKeys(t, db, map[string]int{"k1": 1})
}

// TestWALOneOpener: a second Open of the same store (another gateway on the
// same data directory) is refused before it replays anything into a file in
// use.
func TestWALOneOpener(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path, Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	put(t, db, "k", []byte("v"))
	_, err = Open(path, Options{}, "b")
	require.ErrorIs(t, err, ErrLocked)
	put(t, db, "k2", []byte("v"))
	requireKeys(t, db, map[string]int{"k": 1, "k2": 1})
}

// TestWALReplayedWhateverTheNewOptions: a store that crashed with the log on
// is reopened with the log off (bbolt's own fsyncs), or with fewer segments
// than the log had: what the file lacked is still written back first.
func TestWALReplayedWhateverTheNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		next Options
	}{
		{"same", Options{WALSegments: 4}},
		{"log off", Options{WALSegmentSize: -1}},
		{"no sync (benchmarks)", Options{NoSync: true}},
		{"fewer segments", Options{WALSegments: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			first := Options{WALSegments: 4}
			db, err := Open(path, first, "b")
			require.NoError(t, err)
			require.NoError(t, db.Close())
			synced, err := os.ReadFile(path)
			require.NoError(t, err)

			db, err = Open(path, first, "b")
			require.NoError(t, err)
			// The log has moved on to its last segment (as after three
			// rotations), which a store configured with two does not have.
			db.wal.cur, db.wal.off = 3, 0
			want := map[string]int{}
			for i := range 40 {
				k := fmt.Sprintf("k%02d", i)
				put(t, db, k, []byte("v"))
				want[k] = 1
			}
			require.Zero(t, db.Stats().Checkpoints, "the records are all still needed")
			crash(t, db)
			require.NoError(t, os.WriteFile(path, synced, 0o600))

			db, err = Open(path, tc.next, "b")
			require.NoError(t, err)
			requireKeys(t, db, want)
			require.NoError(t, db.Close())
			if tc.next.WALSegments == 2 {
				_, err := os.Stat(walSegName(path, 3))
				require.ErrorIs(t, err, os.ErrNotExist, "the extra segments go once replayed")
			}
		})
	}
}
