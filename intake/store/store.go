// Package store is the gateway's durable store, behind a group commit, with
// two engines (ADR 0001):
//
//   - bbolt (Open, the default): one file. Update returns only after its
//     write is fsync'ed (bbolt's own fsyncs); Updates that arrive while a
//     commit is on the disk share the next transaction and its fsync, so under
//     load one fsync carries many writes and a lone Update is committed at
//     once.
//   - PostgreSQL (OpenPostgres, cluster mode): several gateways share one
//     database. The same group commit, in SERIALIZABLE transactions that are
//     rerun on a serialization failure; Update returns once PostgreSQL
//     acknowledged the COMMIT (durable as its synchronous_commit says).
//
// Features see the store only through Tx, Bucket and Cursor (tx.go), which
// name no engine; the conformance suite intake/store/storetest checks both
// engines against that contract.
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
	eng     engine
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
	// ctx is the caller's: an engine that retries a group (PostgreSQL) stops
	// once no caller of the group waits any more.
	ctx context.Context
	fn  func(*Tx) error
	err chan error
}

// engine is what DB needs of a storage engine; the group commit, its
// counters and the close protocol are DB's own, common to both engines.
type engine interface {
	// update runs the functions of batch, in order, in one read-write
	// transaction and commits it; when it returns nil the transaction is
	// durable and its OnCommit hooks have run. Otherwise nothing of it is
	// kept, and it returns the index of the function whose failure was its
	// own with that error (DB reruns the group without it), or -1 and an
	// error every caller of the group gets. It is called by one goroutine at
	// a time.
	update(batch []*commitReq) (failed int, err error)
	// view runs fn in a read-only transaction.
	view(fn func(*Tx) error) error
	// close releases the engine once the last update has returned.
	close() error
	// stats adds the engine's own counters to st.
	stats(st *Stats)
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
	return newDB(boltEngine{b}, opts.MaxBatch, opts.OnCommit), nil
}

// newDB starts the group commit of an engine.
func newDB(eng engine, maxBatch int, onCommit func(time.Duration)) *DB {
	db := &DB{eng: eng, reqs: make(chan *commitReq, 4096), closing: make(chan struct{}),
		done: make(chan struct{}), maxBatch: maxBatch, onCommit: onCommit}
	go db.loop()
	return db
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
// retried without it; on PostgreSQL also after a serialization failure or a
// lost connection), so it must have no side effects outside tx. If ctx ends
// before the commit, Update returns ctx.Err() and the write may or may not be
// durable: callers make such writes idempotent.
//
// On PostgreSQL, an error wrapping ErrUnavailable means no read-write server
// answered within PostgresOptions.UnavailableBudget (the write is not
// durable), or the connection was lost during the COMMIT itself (the write may
// or may not be durable, as when ctx ends).
func (db *DB) Update(ctx context.Context, fn func(*Tx) error) error {
	r := &commitReq{ctx: ctx, fn: fn, err: make(chan error, 1)}
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
// after that. fn runs once: on PostgreSQL a lost connection fails View
// (with an error wrapping ErrUnavailable) rather than rerunning fn.
func (db *DB) View(fn func(*Tx) error) error { return db.eng.view(fn) }

// CreateBuckets creates those of the named buckets that do not exist yet, in
// one durable Update: for a package that keeps buckets of its own beside
// those passed to Open.
func (db *DB) CreateBuckets(ctx context.Context, names ...string) error {
	return db.Update(ctx, func(tx *Tx) error {
		for _, name := range names {
			if err := tx.createBucket([]byte(name)); err != nil {
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
		start := time.Now()
		failed, err := db.eng.update(batch)
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
		if failed < 0 && errors.Is(err, errSplit) && len(batch) > 1 {
			// The group keeps failing to serialize with other nodes'
			// transactions: halves read and write less, so conflict less.
			db.commit(batch[:len(batch)/2])
			db.commit(batch[len(batch)/2:])
			return
		}
		if failed < 0 { // the commit itself failed: every caller learns it
			for _, r := range batch {
				r.err <- fmt.Errorf("store: commit: %w", err)
			}
			return
		}
		batch[failed].err <- err
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}

// Stats reports commits (one fsync each) and writes since Open.
type Stats struct {
	Commits, Writes int64
	// CommitTime is the time the writer spent in transactions: running the
	// Updates' functions, then the engine's commit (on PostgreSQL including
	// reruns and waits for an unavailable server).
	CommitTime time.Duration
	// From bbolt, for every committed transaction: pages written, time
	// writing them and fsyncing (WriteTime), time splitting and allocating
	// nodes (SpillTime). Zero on PostgreSQL.
	PagesWritten         int64
	WriteTime, SpillTime time.Duration
	// From PostgreSQL: groups rerun after a serialization failure or a
	// deadlock (Conflicts), and attempts that found no read-write server
	// (Unavailable). Zero on bbolt.
	Conflicts, Unavailable int64
}

// Stats returns the group-commit counters.
func (db *DB) Stats() Stats {
	st := Stats{Commits: db.commits.Load(), Writes: db.writes.Load(), CommitTime: time.Duration(db.commitNs.Load())}
	db.eng.stats(&st)
	return st
}

// Close commits what was submitted, then closes the file (bbolt) or the
// connections (PostgreSQL). Idempotent.
func (db *DB) Close() error {
	var err error
	db.once.Do(func() {
		db.mu.Lock()
		close(db.closing)
		db.mu.Unlock()
		<-db.done
		err = db.eng.close()
	})
	return err
}
