// Package clock is the gateway's one source of time. Every component that
// reads the time or waits for it takes a Clock: System in production, a
// *Fake in tests, which moves only when the test calls Advance, so that
// minutes and hours of timeliness pass in microseconds.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current wall-clock time.
	Now() time.Time
	// NewTimer returns a one-shot timer that sends the time on C once d has
	// elapsed (at once when d <= 0).
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has elapsed (System),
	// or within the Advance that reaches its time (Fake).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C delivers one value when the timer expires; nil for AfterFunc's.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did so
	// (false: it had already fired or been stopped).
	Stop() bool
}

// System is the real clock.
var System Clock = system{}

type system struct{}

func (system) Now() time.Time                            { return time.Now() }
func (system) NewTimer(d time.Duration) Timer            { return systemTimer{time.NewTimer(d)} }
func (system) AfterFunc(d time.Duration, f func()) Timer { return systemTimer{time.AfterFunc(d, f)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// Sleep waits d on clk; false when ctx ended first.
func Sleep(ctx context.Context, clk Clock, d time.Duration) bool {
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
