// Package lease gives work that must have one owner at a time (the outbox
// relay, the webhook queue) one holder among the nodes that share a store,
// through the store itself (ADR 0001): a record per lease names its holder,
// its expiry and a fencing token that grows with every change of holder.
// Taking and renewing happen in store transactions, which the shared store
// runs SERIALIZABLE, so two nodes never both hold an unexpired lease. An
// owner that dies stops renewing; another node takes the lease when it
// expires.
package lease

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

const bucket = "leases"

// Buckets are the store buckets the package uses: pass them to store.Open.
var Buckets = []string{bucket}

type record struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	Token   uint64    `json:"token"`
}

// Lease is one named lease as one holder sees it.
type Lease struct {
	db     *store.DB
	name   string
	holder string
	ttl    time.Duration
	clk    clock.Clock
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
// holder has it. ok says whether this holder now holds it, until until;
// token is the lease's fencing token (it changes only with the holder).
func (l *Lease) Acquire(ctx context.Context) (token uint64, until time.Time, ok bool, err error) {
	// The function may still run after Update gave up on ctx: it writes
	// only res, which is read after a successful Update alone.
	res := new(record)
	var held bool
	err = l.db.Update(ctx, func(tx *store.Tx) error {
		now := l.clk.Now()
		b := tx.Bucket([]byte(bucket))
		var r record
		if v := b.Get([]byte(l.name)); v != nil {
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("lease %s: corrupt record: %w", l.name, err)
			}
		}
		if r.Holder != l.holder && r.Holder != "" && now.Before(r.Expires) {
			*res, held = r, false
			return nil
		}
		if r.Holder != l.holder {
			r.Token++
		}
		r.Holder, r.Expires = l.holder, now.Add(l.ttl)
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		*res, held = r, true
		return b.Put([]byte(l.name), v)
	})
	if err != nil {
		return 0, time.Time{}, false, err
	}
	return res.Token, res.Expires, held, nil
}

// Release gives the lease up if this holder has it, so that another node
// takes it at once (a graceful shutdown).
func (l *Lease) Release(ctx context.Context) error {
	return l.db.Update(ctx, func(tx *store.Tx) error {
		b := tx.Bucket([]byte(bucket))
		var r record
		v := b.Get([]byte(l.name))
		if v == nil || json.Unmarshal(v, &r) != nil || r.Holder != l.holder {
			return nil
		}
		r.Expires = time.Time{}
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put([]byte(l.name), nv)
	})
}

// Run runs work while this holder holds the lease, until ctx ends. It tries
// to take the lease every ttl/3; once held, it starts work and renews every
// ttl/3; when a renewal fails or the lease is found lost, work's context is
// cancelled (before the lease can expire) and Run waits for work to return
// before it tries again. The lease is released when ctx ends.
func Run(ctx context.Context, l *Lease, logger *slog.Logger, work func(ctx context.Context)) {
	every := l.ttl / 3
	var cur *running
	defer func() {
		if cur != nil {
			cur.stop()
			rctx, c := context.WithTimeout(context.WithoutCancel(ctx), every)
			defer c()
			_ = l.Release(rctx)
		}
	}()
	for {
		actx, c := context.WithTimeout(ctx, every)
		token, _, ok, err := l.Acquire(actx)
		c()
		switch {
		case ok && cur == nil:
			logger.Info("lease taken", "lease", l.name, "holder", l.holder, "token", token)
			cur = start(ctx, work)
		case !ok && cur != nil:
			logger.Warn("lease lost: stopping its work", "lease", l.name, "holder", l.holder, "err", err)
			cur.stop()
			cur = nil
		}
		t := l.clk.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// running is work started under a lease.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func start(ctx context.Context, work func(context.Context)) *running {
	wctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); work(wctx) }()
	return r
}

// stop cancels the work and waits for it to return.
func (r *running) stop() {
	r.cancel()
	<-r.done
}
