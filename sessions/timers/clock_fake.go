package timers

import (
	"context"
	"slices"
	"sync"
	"time"
)

// FakeClock is a manually driven Clock for tests, safe for concurrent use.
// Time moves only when the test calls Advance or Set; timers whose deadline
// is reached then deliver at once, before Advance returns. A component that
// sleeps on a FakeClock timer is therefore woken deterministically; to know
// when it has finished reacting, use its own synchronisation (for the timer
// Service: Service.Sync) or BlockUntil.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer
	changed chan struct{} // closed and replaced whenever pending changes
}

var _ Clock = (*FakeClock)(nil)

// NewFakeClock returns a FakeClock that reads start until moved.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, changed: make(chan struct{})}
}

// Now returns the fake current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (c *FakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), at: c.now.Add(d)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.pending = append(c.pending, t)
	c.notifyLocked()
	return t
}

// Advance moves the fake time forward by d and fires every timer that is due.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set moves the fake time to t (backwards too) and fires every timer that is
// due at t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

func (c *FakeClock) setLocked(t time.Time) {
	c.now = t
	kept := c.pending[:0]
	fired := false
	for _, p := range c.pending {
		if p.at.After(t) {
			kept = append(kept, p)
			continue
		}
		p.ch <- t // capacity 1 and sent at most once: never blocks
		fired = true
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	if fired {
		c.notifyLocked()
	}
}

// Waiters returns how many timers are pending (created, not yet fired or
// stopped).
func (c *FakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// BlockUntil waits until at least n timers are pending, e.g. until a
// goroutine under test has gone to sleep, or until ctx ends.
func (c *FakeClock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if len(c.pending) >= n {
			c.mu.Unlock()
			return nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *FakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type fakeTimer struct {
	c  *FakeClock
	ch chan time.Time
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, p := range t.c.pending {
		if p == t {
			t.c.pending = slices.Delete(t.c.pending, i, i+1)
			t.c.notifyLocked()
			return true
		}
	}
	return false
}
