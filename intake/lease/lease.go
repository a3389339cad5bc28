// Package lease gives work that must have one owner at a time (the outbox
// relay, the webhook queue) one holder among the nodes that share a store,
// through the store itself (ADR 0001): a record per lease names its holder,
// its expiry and a fencing token that grows with every change of holder.
// Taking and renewing happen in store transactions, which the shared store
// runs SERIALIZABLE, so two nodes never both hold an unexpired lease. An
// owner that dies stops renewing; another node takes the lease when it
// expires.
//
// A holder whose store is slow can outlive its lease by a moment. Its work
// therefore checks, inside each store transaction that changes what the work
// owns, that the lease is still held with its token (Fence.Check): a stale
// holder's transaction aborts with ErrLost and its work stops.
package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

const bucket = "leases"

// Buckets are the store buckets the package uses: pass them to store.Open.
var Buckets = []string{bucket}

// ErrLost is returned by Fence.Check when the lease is no longer held by the
// fence's holder with the fence's token (another holder took it, it was
// released, or it expired). The transaction that checked aborts; the work
// that owns the fence stops and returns, and Run releases the lease and
// takes it again later, unless another holder took it first.
var ErrLost = errors.New("lease: lost")

type record struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	Token   uint64    `json:"token"`
}

// live says whether the record names a holder whose lease has not expired at now.
func (r record) live(now time.Time) bool { return r.Holder != "" && now.Before(r.Expires) }

// Lease is one named lease as one holder sees it. Its methods are safe for
// concurrent use; they take turns.
type Lease struct {
	db     *store.DB
	name   string
	holder string
	ttl    time.Duration
	clk    clock.Clock

	// mu is held through each Acquire and Release: they read and set what
	// this value holds.
	mu sync.Mutex
	// token is the fencing token this value last took (0: never), held
	// whether it holds the lease with it now.
	token uint64
	held  bool
	// state is what Fence.Held reads: the token and expiry of the last
	// taking or renewal while held.
	state atomic.Pointer[heldState]
}

// heldState is a lease held by this value with token until until.
type heldState struct {
	token uint64
	until time.Time
}

// New returns the lease name for holder (a node id); a holder keeps it for
// ttl after each renewal.
func New(db *store.DB, name, holder string, ttl time.Duration, clk clock.Clock) *Lease {
	if clk == nil {
		clk = clock.System
	}
	return &Lease{db: db, name: name, holder: holder, ttl: ttl, clk: clk}
}

// Acquire takes the lease if it is free or expired, or renews it if this
// Lease value holds it. ok says whether this value now holds it, until
// until; token is the lease's fencing token.
//
// A renewal keeps the token; every other taking increments it, also when the
// record names this holder already: a node restarted under the same id, or a
// second process misconfigured with it, never shares a token with the value
// that held the lease before. A renewal that finds the record changed fails
// (the lease was lost meanwhile), and a value that held the lease does not
// take it back from another value with its holder id before it expires.
func (l *Lease) Acquire(ctx context.Context) (token uint64, until time.Time, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine, held := l.token, l.held
	// The function may run more than once, and still run after Update gave
	// up on ctx: it writes only res, which is read after a successful
	// Update alone.
	res := new(record)
	var took bool
	err = l.db.Update(ctx, func(tx *store.Tx) error {
		now := l.clk.Now()
		b := tx.Bucket([]byte(bucket))
		r, err := l.get(b)
		if err != nil {
			return err
		}
		ours := mine != 0 && r.Holder == l.holder && r.Token == mine // this value wrote it last
		switch {
		case ours && held: // a renewal
		case held: // changed meanwhile: lost; the next try may take it anew
			*res, took = r, false
			return nil
		case ours, !r.live(now):
			r.Token++
		case r.Holder == l.holder && mine == 0: // this process's first taking: a restart
			r.Token++
		default: // another holder's, or another value's under this id
			*res, took = r, false
			return nil
		}
		r.Holder, r.Expires = l.holder, now.Add(l.ttl)
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		*res, took = r, true
		return b.Put([]byte(l.name), v)
	})
	if err != nil {
		// Unknown outcome: the next taking starts a new token.
		l.held = false
		l.state.Store(nil)
		return 0, time.Time{}, false, err
	}
	l.held = took
	if took {
		l.token = res.Token
		l.state.Store(&heldState{token: res.Token, until: res.Expires})
	} else {
		l.state.Store(nil)
	}
	return res.Token, res.Expires, took, nil
}

func (l *Lease) get(b store.Bucket) (record, error) {
	var r record
	if v := b.Get([]byte(l.name)); v != nil {
		if err := json.Unmarshal(v, &r); err != nil {
			return r, fmt.Errorf("lease %s: corrupt record: %w", l.name, err)
		}
	}
	return r, nil
}

// Release gives the lease up if this value holds it, so that another node
// takes it at once (a graceful shutdown). The fences of this value fail
// from then on.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return nil
	}
	mine := l.token
	err := l.db.Update(ctx, func(tx *store.Tx) error {
		b := tx.Bucket([]byte(bucket))
		r, err := l.get(b)
		if err != nil {
			return err
		}
		if r.Holder != l.holder || r.Token != mine {
			return nil // another's now
		}
		r.Expires = time.Time{}
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(l.name), nv)
	})
	l.held = false
	l.state.Store(nil)
	return err
}

// Fence returns the fence of the token this value took last: it passes while
// this value holds the lease with that token.
func (l *Lease) Fence() Fence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Fence{name: l.name, holder: l.holder, token: l.token, clk: l.clk, state: &l.state}
}

// Fence is what work run under a lease checks in its store transactions.
// The zero Fence always passes: work that runs without a lease (one node)
// gets it.
type Fence struct {
	name, holder string
	token        uint64
	clk          clock.Clock
	state        *atomic.Pointer[heldState]
}

// Held reports, without reading the store, whether the lease is held with
// the fence's token as of its last renewal and will be for margin more by
// the lease's clock. It is Check for work too frequent to read the lease in
// every transaction (each chat message): a process paused past its lease
// finds it expired here, before it writes; unlike Check it cannot see a
// lease taken over by a node whose clock runs ahead by more than margin.
// The zero Fence is always held.
func (f Fence) Held(margin time.Duration) bool {
	if f.name == "" {
		return true
	}
	st := f.state.Load()
	return st != nil && st.token == f.token && f.clk.Now().Add(margin).Before(st.until)
}

// Check returns nil if, in tx, the lease is held by the fence's holder with
// the fence's token and has not expired by the lease's clock; otherwise an
// error wrapping ErrLost, which the caller returns to abort tx. Check reads
// the lease's record in tx, so on the shared store a concurrent taking of
// the lease and tx do not both commit. Its signature is that of an Update
// function: db.Update(ctx, fence.Check) checks on its own.
func (f Fence) Check(tx *store.Tx) error {
	if f.name == "" {
		return nil
	}
	var r record
	if v := tx.Bucket([]byte(bucket)).Get([]byte(f.name)); v != nil {
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("lease %s: corrupt record: %w", f.name, err)
		}
	}
	switch now := f.clk.Now(); {
	case r.Holder != f.holder || r.Token != f.token:
		return fmt.Errorf("%w: %s is held by %q with token %d, not by %q with token %d", ErrLost, f.name, r.Holder, r.Token, f.holder, f.token)
	case !now.Before(r.Expires):
		return fmt.Errorf("%w: %s (token %d) expired at %s", ErrLost, f.name, f.token, r.Expires.Format(time.RFC3339Nano))
	}
	return nil
}

// Holders returns, in name order, the holders of the leases whose names
// start with prefix and that are held at now: e.g. the nodes alive in a
// cluster, each holding a lease named after itself.
func Holders(db *store.DB, prefix string, now time.Time) ([]string, error) {
	var out []string
	err := db.View(func(tx *store.Tx) error {
		c := tx.Bucket([]byte(bucket)).Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
			var r record
			if json.Unmarshal(v, &r) == nil && r.live(now) {
				out = append(out, r.Holder)
			}
		}
		return nil
	})
	return out, err
}

// Run runs work while this holder holds the lease, until ctx ends. It tries
// to take the lease every ttl/3; once held, it starts work with the fence of
// its token and renews every ttl/3; when a renewal fails or the lease is
// found lost, work's context is cancelled (before the lease can expire) and
// Run waits for work to return before it tries again. Work that returns on
// its own (its fence failed, or it could not start here) releases the
// lease, so that another node takes it at once; this one tries again with
// a new token, after ttl if the work ran for less than that: a node that
// cannot do the work must not keep it from the others. The lease is
// released when ctx ends.
func Run(ctx context.Context, l *Lease, logger *slog.Logger, work func(ctx context.Context, fence Fence)) {
	every := l.ttl / 3
	var cur *running
	defer func() {
		if cur != nil {
			cur.stop()
		}
		rctx, c := context.WithTimeout(context.WithoutCancel(ctx), every)
		defer c()
		_ = l.Release(rctx) // a no-op unless held
	}()
	for {
		if cur != nil && cur.finished() {
			if ctx.Err() != nil { // it stopped because Run is stopping: the deferred release
				return
			}
			// Work that could not even last a TTL here (it cannot start on
			// this node) waits one before trying again; other work (its fence
			// failed after a store failover) may start again at once.
			wait := time.Duration(0)
			if l.clk.Now().Sub(cur.started) < l.ttl {
				wait = l.ttl
			}
			logger.Warn("lease work stopped on its own: lease released", "lease", l.name, "holder", l.holder, "retry_in", wait)
			cur = nil
			rctx, c := context.WithTimeout(context.WithoutCancel(ctx), every)
			_ = l.Release(rctx) // failing, the lease expires: the same for the others, later
			c()
			if wait > 0 && !clock.Sleep(ctx, l.clk, wait) {
				return
			}
		}
		actx, c := context.WithTimeout(ctx, every)
		token, _, ok, err := l.Acquire(actx)
		c()
		switch {
		case ok && cur == nil:
			logger.Info("lease taken", "lease", l.name, "holder", l.holder, "token", token)
			cur = start(ctx, work, l.Fence(), l.clk.Now())
		case !ok && cur != nil:
			logger.Warn("lease lost: stopping its work", "lease", l.name, "holder", l.holder, "err", err)
			cur.stop()
			cur = nil
		}
		if !clock.Sleep(ctx, l.clk, every) {
			return
		}
	}
}

// running is work started under a lease.
type running struct {
	cancel  context.CancelFunc
	done    chan struct{}
	started time.Time
}

func start(ctx context.Context, work func(context.Context, Fence), f Fence, now time.Time) *running {
	wctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{}), started: now}
	go func() { defer close(r.done); defer cancel(); work(wctx, f) }()
	return r
}

// finished says whether the work returned.
func (r *running) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop cancels the work and waits for it to return.
func (r *running) stop() {
	r.cancel()
	<-r.done
}
