package loginguard

import (
	"context"
	"sync/atomic"
)

// pool bounds the bcrypt work: at most workers checks run at once and at most
// queue attempts wait for a slot; any more are refused at once (ErrBusy), so
// that a login storm costs a fixed share of the CPU instead of starving
// intake. The attempts run on their own request goroutines: the pool is a
// counting semaphore and owns no goroutine.
type pool struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
}

func newPool(workers, queue int) pool {
	return pool{slots: make(chan struct{}, max(workers, 1)), queue: int64(max(queue, 0))}
}

// acquire takes a slot, waiting in the queue if there is room; the caller
// must call release once its check is done.
func (p *pool) acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
		return p.release, nil
	default:
	}
	if p.waiting.Add(1) > p.queue {
		p.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer p.waiting.Add(-1)
	select {
	case p.slots <- struct{}{}:
		return p.release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pool) release() { <-p.slots }
