// Package store is the gateway's embedded durable store: one bbolt file
// behind a group commit. Update returns only after its write is fsync'ed
// (bbolt's own fsyncs); Updates that arrive while a commit is on the disk
// share the next transaction and its fsync, so under load one fsync carries
// many writes and a lone Update is committed at once.
//
// Features see the store only through Tx, Bucket and Cursor (tx.go), which
// name no engine: bbolt is the engine here, and the same contract (checked by
// intake/store/storetest) lets another engine take its place (ADR 0001).
package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// ErrClosed is returned by Update after Close: the caller should answer 503
// and let its client retry.
var ErrClosed = errors.New("store: closed")

// DB is the store. Update is safe for concurrent use.
type DB struct {
	bolt    *bbolt.DB
	reqs    chan *commitReq
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	mu      sync.RWMutex // held for reading while submitting, for writing while closing

	maxBatch int
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
	// NoSync disables fsync; only for benchmarks that measure everything else.
	NoSync bool
	// OnCommit, if set, is called on the writer after every commit with its
	// duration (the Updates' functions, bbolt's write and fsyncs): a slow or
	// stalling disk shows here first. It must be quick.
	OnCommit func(time.Duration)
}

// initialMmap is 1 GiB on 64-bit platforms.
const initialMmap = (1 << 30) * (strconv.IntSize / 64)

// Open opens or creates the store file and creates the named buckets.
func Open(path string, opts Options, buckets ...string) (*DB, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if err := refuseOldLog(path); err != nil {
		return nil, err
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
		return nil, fmt.Errorf("store: cannot open %s: %w", path, err)
	}
	db := &DB{bolt: b, reqs: make(chan *commitReq, 4096), closing: make(chan struct{}),
		done: make(chan struct{}), maxBatch: opts.MaxBatch, onCommit: opts.OnCommit}
	if err := b.Update(func(tx *bbolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("store: cannot create buckets: %w", err)
	}
	go db.loop()
	return db, nil
}

// refuseOldLog stops an upgrade from a release that kept a write-ahead log
// beside the file (path-wal.ckpt, path-wal.N) from losing what only that log
// held: this release cannot replay it.
func refuseOldLog(path string) error {
	old, _ := filepath.Glob(path + "-wal.*")
	if len(old) == 0 {
		return nil
	}
	return fmt.Errorf("store: %s has a write-ahead log from an earlier release (%s): "+
		"start that release once and stop it with SIGTERM, which writes the log into the file, then delete the -wal.* files", path, old[0])
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

// View runs fn in a read-only transaction; it does not wait for commits. fn
// sees what was committed when the transaction began, and nothing committed
// after that.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(tx *bbolt.Tx) error { return fn(newBoltTx(tx)) })
}

// CreateBuckets creates those of the named buckets that do not exist yet, in
// one durable Update: for a package that keeps buckets of its own beside
// those passed to Open.
func (db *DB) CreateBuckets(ctx context.Context, names ...string) error {
	return db.Update(ctx, func(tx *Tx) error {
		for _, name := range names {
			if err := tx.bolt.createBucket([]byte(name)); err != nil {
				return fmt.Errorf("store: cannot create bucket %s: %w", name, err)
			}
		}
		return nil
	})
}

func (db *DB) loop() {
	defer close(db.done)
	batch := make([]*commitReq, 0, db.maxBatch)
	for {
		select {
		case first := <-db.reqs:
			db.commit(db.fill(append(batch[:0], first)))
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
	}
}

// fill adds what is queued, without waiting: what arrived while the last
// commit was on the disk shares the next one.
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

func (db *DB) commit(batch []*commitReq) {
	for len(batch) > 0 {
		failed := -1
		var failErr error
		start := time.Now()
		err := db.bolt.Update(func(btx *bbolt.Tx) error {
			tx := newBoltTx(btx)
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
		if failed < 0 { // the commit itself failed: every caller learns it
			for _, r := range batch {
				r.err <- fmt.Errorf("store: commit: %w", err)
			}
			return
		}
		batch[failed].err <- failErr
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
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
}

// Stats returns the group-commit counters.
func (db *DB) Stats() Stats {
	tx := db.bolt.Stats().TxStats
	return Stats{Commits: db.commits.Load(), Writes: db.writes.Load(), CommitTime: time.Duration(db.commitNs.Load()),
		PagesWritten: tx.GetWrite(), WriteTime: tx.GetWriteTime(), SpillTime: tx.GetSpillTime()}
}

// Close commits what was submitted, then closes the file. Idempotent.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		db.mu.Lock()
		close(db.closing)
		db.mu.Unlock()
		<-db.done
		err = db.bolt.Close()
	})
	return err
}
