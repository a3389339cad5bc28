package loginguard

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/hotline12345/gateway/internal/clock"
)

// pool bounds the bcrypt work: at most workers checks run at once, at most
// queue attempts wait for a slot, and no more than the budget's rate of
// checks start; any more are refused at once (ErrBusy), so that a login
// storm from however many ids and addresses costs a fixed share of the CPU
// instead of starving intake.
type pool struct {
	budget  *rate.Limiter
	now     func() time.Time
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
}

func newPool(workers, queue int, perSecond float64, burst int, clk clock.Clock) pool {
	return pool{budget: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1)), now: clk.Now,
		slots: make(chan struct{}, max(workers, 1)), queue: int64(max(queue, 0))}
}

// acquire takes a slot, waiting in the queue if there is room, and then
// spends one check of the budget; the caller must call release once its
// check is done.
func (p *pool) acquire(ctx context.Context) (release func(), err error) {
	if err := p.slot(ctx); err != nil {
		return nil, err
	}
	if !p.budget.AllowN(p.now(), 1) {
		p.release()
		return nil, ErrBusy
	}
	return p.release, nil
}

func (p *pool) slot(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	if p.waiting.Add(1) > p.queue {
		p.waiting.Add(-1)
		return ErrBusy
	}
	defer p.waiting.Add(-1)
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pool) release() { <-p.slots }

// retryAfter is when a refused attempt may expect the budget to have a
// check for it: at least a second (Retry-After is whole seconds).
func (p *pool) retryAfter() time.Duration {
	missing := 1 - p.budget.TokensAt(p.now())
	if missing <= 0 || p.budget.Limit() <= 0 {
		return time.Second
	}
	return max(time.Second, time.Duration(missing/float64(p.budget.Limit())*float64(time.Second)).Round(time.Second))
}
