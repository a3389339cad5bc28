// Package store is the gateway's embedded durable store: one bbolt file with
// group commit and a write-ahead log (wal.go). Update returns only after the
// write is fsync'ed in the log; concurrent Updates share one transaction and
// one fsync, and a lone Update is committed at once, without waiting for
// company.
//
// Under load the writer paces its commits: when a commit carries more than
// one Update, or the one before it did, it starts no sooner than
// MinCommitInterval after the previous commit started, and carries whatever
// arrived meanwhile. Each bbolt commit rewrites the same tree pages whatever
// it carries, so a writer that commits back to back with two or three
// Updates each spends most of a core on that fixed cost and starves the
// requests it serves of CPU (docs/benchmarks.md: at 5,000 requests/s on
// tmpfs, pacing at 1 ms took the gateway from 1.4–1.5 to 0.9–1.1 cores).
// A lone Update after a lone Update never waits.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// ErrClosed is returned by Update after Close: the caller should answer 503
// and let its client retry.
var ErrClosed = errors.New("store: closed")

// Tx is a read-write or read-only bbolt transaction.
type Tx = bbolt.Tx

// DB is the store. Update is safe for concurrent use.
type DB struct {
	bolt    *bbolt.DB
	wal     *wal // nil: bbolt syncs itself (or NoSync)
	reqs    chan *commitReq
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	mu      sync.RWMutex // held for reading while submitting, for writing while closing

	maxBatch int
	interval time.Duration
	onCommit func(time.Duration)
	commits  atomic.Int64
	writes   atomic.Int64
	commitNs atomic.Int64
}

type commitReq struct {
	fn  func(*Tx) error
	err chan error
}

// Options tune the store.
type Options struct {
	// MaxBatch bounds how many Updates share one transaction (default 1024).
	MaxBatch int
	// MinCommitInterval paces commits under load (see the package doc);
	// default 1 ms, negative: commit back to back.
	MinCommitInterval time.Duration
	// NoSync disables fsync; only for benchmarks that measure everything else.
	NoSync bool
	// WALSegments and WALSegmentSize size the write-ahead log (wal.go):
	// default 4 segments of 64 MiB. A negative WALSegmentSize turns the log
	// off, and bbolt fsyncs its file twice per commit itself.
	WALSegments    int
	WALSegmentSize int64
	// OnCommit, if set, is called on the writer after every commit with its
	// duration (the Updates' functions, bbolt's write, the log's append and
	// fsync): a slow or stalling disk shows here first. It must be quick.
	OnCommit func(time.Duration)
}

// initialMmap is 1 GiB on 64-bit platforms.
const initialMmap = (1 << 30) * (strconv.IntSize / 64)

// Open opens or creates the store file and creates the named buckets.
func Open(path string, opts Options, buckets ...string) (*DB, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.MinCommitInterval == 0 {
		opts.MinCommitInterval = time.Millisecond
	}
	if opts.WALSegments <= 0 {
		opts.WALSegments = 4
	}
	if opts.WALSegmentSize == 0 {
		opts.WALSegmentSize = 64 << 20
	}
	var w *wal
	if !opts.NoSync && opts.WALSegmentSize > 0 {
		var err error
		if w, err = openWAL(path, opts.WALSegments, opts.WALSegmentSize); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(walCkptName(path)); err == nil {
		// The log is off now but an earlier run left one: what it holds and
		// the file may lack goes into the file before bbolt opens it.
		old, err := openWAL(path, opts.WALSegments, 1)
		if err == nil {
			err = old.finish()
		}
		if err != nil {
			return nil, err
		}
	}
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        2 * time.Second, // another process holds the lock: say so rather than hang
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		NoSync:         opts.NoSync,
		// Address space only: while the file fits the mapping, a growing file
		// never waits for read transactions (relay, status look-ups) to end.
		InitialMmapSize: initialMmap,
	})
	if err != nil {
		if w != nil {
			_ = w.finish()
		}
		return nil, fmt.Errorf("store: cannot open %s: %w", path, err)
	}
	if w != nil {
		if err := w.hook(b); err != nil {
			_ = w.finish()
			b.Close()
			return nil, err
		}
	}
	db := &DB{bolt: b, wal: w, reqs: make(chan *commitReq, 4096), closing: make(chan struct{}),
		done: make(chan struct{}), maxBatch: opts.MaxBatch, interval: opts.MinCommitInterval,
		onCommit: opts.OnCommit}
	if err := db.update(func(tx *bbolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.closeFiles()
		return nil, fmt.Errorf("store: cannot create buckets: %w", err)
	}
	go db.loop()
	return db, nil
}

// Update runs fn in a read-write transaction and returns once it is durable.
// fn may run more than once (when another fn in its group fails, the group is
// retried without it), so it must have no side effects outside tx. If ctx ends
// before the commit, Update returns ctx.Err() and the write may or may not be
// durable: callers make such writes idempotent.
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	r := &commitReq{fn: fn, err: make(chan error, 1)}
	db.mu.RLock()
	select {
	case <-db.closing:
		db.mu.RUnlock()
		return ErrClosed
	default:
	}
	select {
	case db.reqs <- r:
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	db.mu.RUnlock()
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// View runs fn in a read-only transaction; it does not wait for commits.
func (db *DB) View(fn func(*Tx) error) error { return db.bolt.View(fn) }

func (db *DB) loop() {
	defer close(db.done)
	batch := make([]*commitReq, 0, db.maxBatch)
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	var lastStart time.Time
	lastSize := 0
	for {
		var first *commitReq
		select {
		case first = <-db.reqs:
		case <-db.closing:
			// Commit whatever was submitted before the close, in groups:
			// one commit each would take seconds for a full queue.
			for {
				batch = db.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				db.commit(batch)
			}
		}
		batch = db.fill(append(batch[:0], first))
		if len(batch) > 1 || lastSize > 1 {
			batch = db.pace(batch, pace, lastStart)
		}
		lastStart, lastSize = time.Now(), len(batch)
		db.commit(batch)
	}
}

// fill adds what is queued, without waiting.
func (db *DB) fill(batch []*commitReq) []*commitReq {
	for len(batch) < db.maxBatch {
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// pace waits until MinCommitInterval has passed since the previous commit
// started (or the batch is full, or the store closes), adding what arrives.
func (db *DB) pace(batch []*commitReq, t *time.Timer, lastStart time.Time) []*commitReq {
	wait := db.interval - time.Since(lastStart)
	if db.interval < 0 || wait <= 0 {
		return batch
	}
	t.Reset(wait)
	defer t.Stop()
	for len(batch) < db.maxBatch {
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
		case <-t.C:
			return db.fill(batch)
		case <-db.closing:
			return db.fill(batch)
		}
	}
	return batch
}

func (db *DB) commit(batch []*commitReq) {
	for len(batch) > 0 {
		failed := -1
		var failErr error
		start := time.Now()
		err := db.update(func(tx *bbolt.Tx) error {
			for i, r := range batch {
				if err := r.fn(tx); err != nil {
					failed, failErr = i, err
					return err
				}
			}
			return nil
		})
		if err == nil {
			took := time.Since(start)
			db.commits.Add(1)
			db.writes.Add(int64(len(batch)))
			db.commitNs.Add(int64(took))
			if db.onCommit != nil {
				db.onCommit(took)
			}
			for _, r := range batch {
				r.err <- nil
			}
			return
		}
		if failed < 0 || errors.Is(err, ErrWAL) { // the commit itself failed: every caller learns it
			for _, r := range batch {
				r.err <- fmt.Errorf("store: commit: %w", err)
			}
			return
		}
		batch[failed].err <- failErr
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

// update is one bbolt transaction made durable: by bbolt's own fsyncs, or
// by the write-ahead log.
func (db *DB) update(fn func(*bbolt.Tx) error) error {
	if db.wal == nil {
		return db.bolt.Update(fn)
	}
	if db.wal.failed != nil { // bbolt's memory is ahead of the file: write nothing more
		return db.wal.failed
	}
	if err := db.bolt.Update(fn); err != nil {
		db.wal.begin()
		return err
	}
	return db.wal.commit()
}

// Stats reports commits (one fsync each) and writes since Open.
type Stats struct {
	Commits, Writes int64
	// CommitTime is the time the writer spent in transactions: running the
	// Updates' functions, then bbolt's commit.
	CommitTime time.Duration
	// From bbolt, for every committed transaction: pages written, time
	// writing them and fsyncing (WriteTime), time splitting and allocating
	// nodes (SpillTime).
	PagesWritten         int64
	WriteTime, SpillTime time.Duration
	// WAL tells whether the write-ahead log is on; Checkpoints counts the
	// store file's background syncs since Open.
	WAL         bool
	Checkpoints int64
}

// Stats returns the group-commit counters.
func (db *DB) Stats() Stats {
	tx := db.bolt.Stats().TxStats
	st := Stats{Commits: db.commits.Load(), Writes: db.writes.Load(), CommitTime: time.Duration(db.commitNs.Load()),
		PagesWritten: tx.GetWrite(), WriteTime: tx.GetWriteTime(), SpillTime: tx.GetSpillTime()}
	if db.wal != nil {
		st.WAL, st.Checkpoints = true, db.wal.checkpoints()
	}
	return st
}

// Close commits what was submitted, then closes the file. Idempotent.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		db.mu.Lock()
		close(db.closing)
		db.mu.Unlock()
		<-db.done
		err = db.closeFiles()
	})
	return err
}

// closeFiles checkpoints the log (everything is then in the synced file)
// and closes it and bbolt.
func (db *DB) closeFiles() error {
	var err error
	if db.wal != nil {
		err = db.wal.finish()
	}
	return errors.Join(err, db.bolt.Close())
}
