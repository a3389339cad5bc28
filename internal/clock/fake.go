package clock

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Fake is a Clock driven by the test, safe for concurrent use. Its time
// moves only with Advance or Set; timers that are then due fire before
// Advance returns: a NewTimer's channel receives the time, and AfterFunc's
// functions run in due order on the caller's goroutine. To know when a
// component has finished reacting, use its own synchronisation or
// BlockUntil.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer
	changed chan struct{} // closed and replaced whenever pending changes
	auto    bool
}

var _ Clock = (*Fake)(nil)

// NewFake returns a Fake that reads start until moved.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Auto, when on, makes every timer made afterwards move the clock to its
// deadline at once, as if the test had called Advance: a retry schedule
// then runs in microseconds, in order.
func (c *Fake) Auto(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auto = on
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d.
func (c *Fake) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), at: c.now.Add(d)}
	if c.auto && d > 0 {
		c.now = t.at
	}
	if d <= 0 || c.auto {
		t.ch <- c.now
		return t
	}
	c.addLocked(t)
	return t
}

// AfterFunc calls f within the Advance or Set that reaches Now()+d.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, f: f, at: c.now.Add(d)}
	if c.auto {
		if d > 0 {
			c.now = t.at
		}
		go f()
		return t
	}
	c.addLocked(t)
	return t
}

// Advance moves the fake time forward by d and fires every timer then due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.set(c.now.Add(d))
}

// Set moves the fake time to t (backwards too) and fires every timer due at t.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	c.set(t)
}

// set is called with c.mu held and releases it before running functions,
// which may use the clock.
func (c *Fake) set(t time.Time) {
	c.now = t
	var due []*fakeTimer
	kept := c.pending[:0]
	for _, p := range c.pending {
		if p.at.After(t) {
			kept = append(kept, p)
		} else {
			due = append(due, p)
		}
	}
	clear(c.pending[len(kept):])
	c.pending = kept
	if len(due) > 0 {
		c.notifyLocked()
	}
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, p := range due {
		if p.f != nil {
			p.f()
		} else {
			p.ch <- t // capacity 1 and sent at most once: never blocks
		}
	}
}

// Waiters returns how many timers are pending (made, not yet fired or
// stopped).
func (c *Fake) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// BlockUntil waits until at least n timers are pending, e.g. until a
// goroutine under test has gone to sleep, or until ctx ends.
func (c *Fake) BlockUntil(ctx context.Context, n int) error {
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

func (c *Fake) addLocked(t *fakeTimer) {
	c.pending = append(c.pending, t)
	c.notifyLocked()
}

func (c *Fake) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type fakeTimer struct {
	c  *Fake
	ch chan time.Time // NewTimer's
	f  func()         // AfterFunc's
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
