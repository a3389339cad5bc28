package timers

import "time"

// Clock is the service's source of time. Inject a FakeClock in tests so that
// minutes and hours of timeliness pass in microseconds.
type Clock interface {
	// Now returns the current wall-clock time.
	Now() time.Time
	// NewTimer returns a one-shot timer that sends the time on its channel
	// once d has elapsed (at once when d <= 0).
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C delivers one value when the timer expires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did so
	// (false: it had already expired or been stopped).
	Stop() bool
}

// System is the real clock.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }
