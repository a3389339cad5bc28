package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL engine (ADR 0001): cluster mode's gateways share one
// database, each running the group commit of its own DB. Buckets are rows of
// gateway_kv (schema_postgres.go); a group is one SERIALIZABLE transaction,
// so that functions written for bbolt's single writer stay correct when
// several nodes write at once: PostgreSQL aborts whichever transaction would
// break serial order (SQLSTATE 40001, 40P01), and the group is rerun.

// ErrUnavailable is returned (wrapped) by Update and View on PostgreSQL when
// no read-write server answered within PostgresOptions.UnavailableBudget, or
// when the connection was lost during a COMMIT (whose outcome is then
// unknown, as when Update's ctx ends). The caller answers 503 with
// Retry-After; its client retries, as it does after a timeout.
var ErrUnavailable = errors.New("store: database unavailable")

// errSplit asks DB to commit a group as two halves: it failed to serialize
// splitAfter times in a row (a large group, after a failover's backlog
// perhaps, reads many index pages that other nodes' groups write to).
var errSplit = errors.New("store: group split")

const splitAfter = 3

// PostgresOptions tune the PostgreSQL engine.
type PostgresOptions struct {
	// MaxBatch bounds how many Updates share one transaction (default 1024).
	MaxBatch int
	// OnCommit, as Options.OnCommit: called on the writer after every
	// commit with its duration (reruns and waits included).
	OnCommit func(time.Duration)
	// UnavailableBudget is how long an Update's group keeps being retried
	// while no read-write server answers (a failover: the primary is gone,
	// the standby not yet promoted) before its callers get ErrUnavailable
	// (default 10s, the configuration's store.unavailable_budget). A caller's
	// own ctx may end it sooner.
	UnavailableBudget time.Duration
	// MaxConflicts bounds how many times a group is rerun after serialization
	// failures or deadlocks in a row before its callers get the error
	// (default 30).
	MaxConflicts int
	// MaxConns bounds the connections of the pool (default: pgxpool's,
	// max(4, number of CPUs)). The writer uses one; Views use the others.
	MaxConns int32
}

func (o *PostgresOptions) setDefaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.UnavailableBudget <= 0 {
		o.UnavailableBudget = 10 * time.Second
	}
	if o.MaxConflicts <= 0 {
		o.MaxConflicts = 30
	}
}

// OpenPostgres connects to the database at url (a libpq URL or key=value
// string; several hosts allowed), creates the schema if it is missing and the
// named buckets, and starts the group commit. url should say
// target_session_attrs=read-write, so that after a failover the promoted
// standby is found; without target_session_attrs, read-write is assumed (the
// store writes). Errors never show the URL's password.
func OpenPostgres(ctx context.Context, url string, opts PostgresOptions, buckets ...string) (*DB, error) {
	opts.setDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: cannot parse the PostgreSQL URL: %w", err)
	}
	if cfg.ConnConfig.ValidateConnect == nil {
		cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects lazily
	if err != nil {
		return nil, fmt.Errorf("store: cannot open PostgreSQL: %w", err)
	}
	e := &pgEngine{pool: pool, budget: opts.UnavailableBudget, maxConflicts: opts.MaxConflicts}
	var existing []string
	if err := e.retryUnavailable(ctx, func() (err error) {
		existing, err = createSchema(ctx, pool, buckets)
		return err
	}); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: cannot create the PostgreSQL schema: %w", err)
	}
	for _, b := range existing {
		e.known.Store(b, true)
	}
	return newDB(e, opts.MaxBatch, opts.OnCommit), nil
}

type pgEngine struct {
	pool         *pgxpool.Pool
	budget       time.Duration
	maxConflicts int

	// known holds names of buckets seen to exist. Buckets are never
	// dropped, so a bucket known once is known for good, and Tx.Bucket need
	// not read gateway_buckets again: that read would add the row to the
	// transaction's predicate locks, and every NextSequence of another node
	// on that bucket would then be a serialization conflict.
	known sync.Map // string → true

	conflicts, unavailable atomic.Int64
}

var _ engine = (*pgEngine)(nil)

// update runs a group, rerunning it after a serialization failure (at most
// maxConflicts times in a row) and while no read-write server answers (for
// at most budget, counted from the first such attempt), until every caller
// of the group has gone.
func (e *pgEngine) update(batch []*commitReq) (int, error) {
	ctx, stop := waitersContext(batch)
	defer stop()
	conflicts := 0
	var down time.Time // when attempts began to find no server; zero while one answers
	for {
		failed, err := e.attempt(ctx, batch)
		switch {
		case err == nil || failed >= 0:
			return failed, err
		case ctx.Err() != nil: // nobody waits for the answer any more
			return -1, ctx.Err()
		case errors.Is(err, ErrUnavailable): // the COMMIT's outcome is unknown: no rerun
			return -1, err
		case isConflict(err):
			e.conflicts.Add(1)
			if conflicts++; conflicts > e.maxConflicts {
				return -1, fmt.Errorf("%d conflicts in a row (serialization failures, deadlocks or lock timeouts): %w", conflicts, err)
			}
			if conflicts >= splitAfter && len(batch) > 1 {
				return -1, fmt.Errorf("%w after %d serialization failures in a row: %w", errSplit, conflicts, err)
			}
			down = time.Time{}
			sleep(ctx, conflictBackoff(conflicts))
		case isUnavailable(err):
			e.unavailable.Add(1)
			if down.IsZero() {
				down = time.Now()
			}
			left := e.budget - time.Since(down)
			if left <= 0 {
				return -1, fmt.Errorf("%w for %v: %w", ErrUnavailable, e.budget, err)
			}
			sleep(ctx, min(left, unavailableBackoff(time.Since(down))))
		default:
			return -1, err
		}
	}
}

// beginGroup starts a group's transaction, in one round trip. Its waits
// for other transactions' locks are bounded: two nodes whose groups claim
// two keys in opposite orders (PutIfAbsent inserts at once, in call order)
// would otherwise wait for each other until PostgreSQL's deadlock check
// (deadlock_timeout, 1 s by default), stalling both groups. A longer wait
// would gain nothing anyway: under SERIALIZABLE, a row another transaction
// is writing fails this one (40001) once that one commits. A wait that runs
// out (55P03) reruns the group, as a conflict does.
const beginGroup = `BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE; SET LOCAL lock_timeout = '100ms'`

// attempt runs the group once in a new transaction. It returns -1 and nil
// once committed; i and the error when function i failed on its own (it
// returned an error, or one of its statements failed for a reason a rerun
// does not cure); -1 and the error otherwise.
func (e *pgEngine) attempt(ctx context.Context, batch []*commitReq) (int, error) {
	ptx, err := e.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: beginGroup})
	if err != nil {
		return -1, err
	}
	t := newPgTx(ctx, e, ptx, true)
	tx := &Tx{pg: t}
	for i, r := range batch {
		ferr := r.fn(tx)
		if ferr == nil && t.err == nil {
			continue
		}
		rollback(ctx, ptx)
		switch {
		case t.err == nil:
			return i, ferr
		case ctx.Err() != nil || isConflict(t.err) || isUnavailable(t.err):
			return -1, t.err // the transaction's failure, not the function's
		case t.flushFailed:
			return -1, writeFailed(t.err, len(batch))
		case ferr != nil:
			return i, ferr
		default:
			return i, t.err
		}
	}
	if err := t.flush(); err != nil {
		rollback(ctx, ptx)
		if ctx.Err() != nil || isConflict(err) || isUnavailable(err) {
			return -1, err
		}
		return -1, writeFailed(err, len(batch))
	}
	if err := ptx.Commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) || pgconn.SafeToRetry(err) || errors.Is(err, pgx.ErrTxCommitRollback) || ctx.Err() != nil {
			return -1, err // the server refused the COMMIT, or never got it
		}
		return -1, fmt.Errorf("%w: connection lost during COMMIT, which may or may not have committed: %w",
			ErrUnavailable, err)
	}
	for _, name := range t.created {
		e.known.Store(name, true)
	}
	for _, fn := range t.hooks {
		fn()
	}
	return -1, nil
}

// writeFailed is the answer to a kept write refused by the server for a
// reason a rerun does not cure: whose write it was is not known, so a group
// is split until the function is alone, and then it alone fails.
func writeFailed(err error, n int) error {
	if n > 1 {
		return fmt.Errorf("%w: a write was refused: %w", errSplit, err)
	}
	return err
}

// view runs fn once in a REPEATABLE READ, READ ONLY transaction: one
// snapshot, as a bbolt read transaction. Only starting the transaction is
// retried while no server answers; fn is not rerun, since a View's function
// may collect what it reads outside tx.
func (e *pgEngine) view(fn func(*Tx) error) error {
	ctx := context.Background()
	var ptx pgx.Tx
	err := e.retryUnavailable(ctx, func() (err error) {
		ptx, err = e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: view: %w", err)
	}
	t := newPgTx(ctx, e, ptx, false)
	ferr := fn(&Tx{pg: t})
	rollback(ctx, ptx) // nothing to commit, and OnCommit hooks never run in a View
	switch {
	case t.err == nil:
		return ferr
	case isUnavailable(t.err):
		return fmt.Errorf("store: view: %w: %w", ErrUnavailable, t.err)
	default:
		return fmt.Errorf("store: view: %w", t.err)
	}
}

// retryUnavailable calls fn until it returns nil or an error other than
// unavailability, for at most the budget.
func (e *pgEngine) retryUnavailable(ctx context.Context, fn func() error) error {
	start := time.Now()
	for {
		err := fn()
		if err == nil || !isUnavailable(err) || ctx.Err() != nil {
			return err
		}
		e.unavailable.Add(1)
		left := e.budget - time.Since(start)
		if left <= 0 {
			return fmt.Errorf("%w for %v: %w", ErrUnavailable, e.budget, err)
		}
		sleep(ctx, min(left, unavailableBackoff(time.Since(start))))
	}
}

func (e *pgEngine) close() error {
	e.pool.Close()
	return nil
}

func (e *pgEngine) stats(st *Stats) {
	st.Conflicts, st.Unavailable = e.conflicts.Load(), e.unavailable.Load()
}

// rollback ends a transaction that will not commit. Its own context: the
// group's may have ended, and a rollback that cannot reach the server leaves
// the connection closed, which is all that matters then.
func rollback(ctx context.Context, tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// waitersContext is a context that ends once no caller waits for the group:
// every request's context has ended (they got ctx.Err() from Update).
func waitersContext(batch []*commitReq) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, r := range batch {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// conflictBackoff is the pause before rerun n (1, 2, …) after a
// serialization failure: random in [0, 0.5 ms × 2^(n-1)), at most 20 ms. The
// first reruns are almost immediate: the node that won the conflict starts its
// next group at once, and a long pause would make this one lose again.
func conflictBackoff(n int) time.Duration {
	ceiling := min(20*time.Millisecond, (500*time.Microsecond)<<min(n-1, 6))
	return rand.N(ceiling) + 1
}

// unavailableBackoff is the pause between attempts to reach a server that
// has been unavailable for so long: 50 ms doubling to 1 s, ±25%.
func unavailableBackoff(down time.Duration) time.Duration {
	d := 50 * time.Millisecond
	for d < time.Second && d < down {
		d *= 2
	}
	d = min(d, time.Second)
	return d*3/4 + rand.N(d/2)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
