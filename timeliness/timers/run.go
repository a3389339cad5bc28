package timers

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

// Run fires due timers, in due-time order, until ctx ends; then it returns
// nil after the batch in flight is durable. Only one Run may be active.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	var waiters []chan error
	defer func() {
		for _, w := range waiters {
			w <- ErrNotRunning
		}
		s.drainSyncs()
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := s.clock.Now()
		if batch := s.popDue(now.UnixNano()); len(batch) > 0 {
			s.fireBatch(ctx, batch)
			continue
		}
		for _, w := range waiters {
			w <- nil
		}
		waiters = waiters[:0]

		var t clock.Timer
		var expired <-chan time.Time
		s.mu.Lock()
		next, ok := s.q.peek()
		s.mu.Unlock()
		if ok {
			t = s.clock.NewTimer(min(time.Duration(next-now.UnixNano()), s.opts.MaxSleep))
			expired = t.C()
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-expired:
		case w := <-s.syncs:
			waiters = append(waiters, w)
		}
		if t != nil {
			t.Stop()
		}
	}
}

// drainSyncs answers Syncs that arrive while Run is stopping.
func (s *Service) drainSyncs() {
	for {
		select {
		case w := <-s.syncs:
			w <- ErrNotRunning
		default:
			return
		}
	}
}

type due struct {
	key      Key
	due      int64 // the due time the timer was set for
	attempts int   // failed firings so far
}

// popDue removes up to MaxBatch timers due at now, sorted by due time, then
// kind and id for a deterministic order.
func (s *Service) popDue(now int64) []due {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch []due
	for len(batch) < s.opts.MaxBatch {
		at, ok := s.q.peek()
		if !ok || at > now {
			break
		}
		if batch == nil {
			batch = make([]due, 0, min(s.opts.MaxBatch, s.q.len()))
		}
		k, n := s.q.pop()
		d := due{key: k, due: n}
		if r, ok := s.retries[k]; ok {
			d.due, d.attempts = r.due, r.attempts
			delete(s.retries, k)
		}
		batch = append(batch, d)
	}
	slices.SortFunc(batch, func(a, b due) int {
		return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.key.Kind, b.key.Kind), cmp.Compare(a.key.ID, b.key.ID))
	})
	return batch
}

func (s *Service) fireBatch(ctx context.Context, batch []due) {
	if fired := s.fireInTx(ctx, batch); len(fired) > 0 && s.opts.AfterFire != nil {
		s.opts.AfterFire(fired)
	}
}

// fireTxError carries which timer of a batch failed its FireTx.
type fireTxError struct {
	i   int
	err error
}

func (e *fireTxError) Error() string { return e.err.Error() }
func (e *fireTxError) Unwrap() error { return e.err }

// fireInTx fires the batch in one transaction that also deletes the records.
// A failing FireTx is taken out of the batch and retried later.
func (s *Service) fireInTx(ctx context.Context, batch []due) []Deadline {
	// An interrupted commit would leave the outcome unknown; finish it.
	ctx = context.WithoutCancel(ctx)
	for len(batch) > 0 {
		var fired []Deadline
		var stale []Deadline
		err := s.db.Update(ctx, func(tx *store.Tx) error {
			fired, stale = fired[:0], stale[:0] // fn may run more than once
			b, err := s.open(tx)
			if err != nil {
				return err
			}
			for i, d := range batch {
				at, ok := b.lookup(d.key)
				if !ok { // stopped, or fired already
					continue
				}
				if at != d.due { // replaced: schedule the stored due time
					stale = append(stale, Deadline{Key: d.key, Due: utc(at)})
					continue
				}
				if err := b.del(d.key); err != nil {
					return err
				}
				if err := s.opts.FireTx(tx, d.key, utc(at)); err != nil {
					return &fireTxError{i: i, err: err}
				}
				fired = append(fired, Deadline{Key: d.key, Due: utc(at)})
			}
			return nil
		})
		var ce *fireTxError
		switch {
		case err == nil:
			s.resync(stale)
			return fired
		case errors.As(err, &ce):
			s.deferRetry(batch[ce.i:ce.i+1], ce.err)
			batch = slices.Delete(batch, ce.i, ce.i+1)
		default:
			s.deferRetry(batch, err)
			return nil
		}
	}
	return nil
}

// resync schedules the stored due time of timers that memory had wrong
// (possible when Load, reading an older snapshot, raced with a Set of the
// same key whose firing then failed).
func (s *Service) resync(stale []Deadline) {
	if len(stale) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range stale {
		if _, ok := s.q.get(d.Key); !ok {
			_ = s.scheduleLocked(d.Key, d.Due.UnixNano())
		}
	}
}

// deferRetry puts failed timers back with exponential backoff; FireTx
// will still receive their original due time.
func (s *Service) deferRetry(batch []due, cause error) {
	now := s.clock.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	var wait time.Duration
	for _, d := range batch {
		if _, ok := s.q.get(d.key); ok {
			continue // set again meanwhile: the new timer wins
		}
		wait = s.opts.RetryMin << min(d.attempts, 30)
		if wait > s.opts.RetryMax || wait <= 0 {
			wait = s.opts.RetryMax
		}
		if _, err := s.q.set(d.key, now+int64(wait)); err != nil {
			continue // cannot happen: the kind is interned
		}
		s.retries[d.key] = retry{due: d.due, attempts: d.attempts + 1}
	}
	s.log.Warn("timers: firing failed; will retry", "timers", len(batch), "in", wait, "err", cause)
}
