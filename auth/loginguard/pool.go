package loginguard

import (
	"context"
	"runtime"
	"sync/atomic"
)

// pool bounds the bcrypt work: at most workers checks run at once and at most
// queue attempts wait for a slot; any more are refused at once (ErrBusy), so
// that a login storm costs a fixed share of the CPU instead of starving
// intake. Each check runs on an OS thread of the lowest priority (run).
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

// run calls f on a fresh OS thread of the lowest CPU priority and waits for
// it, so that intake's threads win a contended core. Measured on a loaded
// 2-core machine (TestLoginStormKeepsIntakeLatency): a bcrypt thread at
// normal priority took intake's p50 from 1.6 to 4.8 ms, at nice 19 from 1.56
// to 1.65 ms. The goroutine never unlocks its thread, so the niced thread
// ends with it and never runs other goroutines.
func run(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		lowerPriority()
		defer close(done)
		f()
	}()
	<-done
}
