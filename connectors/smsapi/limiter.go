package smsapi

import (
	"context"
	"sync"
	"time"

	"github.com/hotline12345/gateway/internal/clock"
)

// PerNumberLimiter allows at most N sends to one phone number in any sliding
// window (a minute by default), protecting citizens from floods and the
// account from the carriers' own per-number limits. Memory is bounded by
// dropping numbers idle for a whole window. Safe for concurrent use.
type PerNumberLimiter struct {
	n      int
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	sends  map[string][]time.Time // recent send times, oldest first, ≤ n
	sweeps int
}

// NewPerNumberLimiter allows perMinute sends per number per minute on clk
// (clock.System when nil). perMinute ≤ 0 means 1.
func NewPerNumberLimiter(perMinute int, clk clock.Clock) *PerNumberLimiter {
	return NewWindowLimiter(perMinute, time.Minute, clk)
}

// NewWindowLimiter is NewPerNumberLimiter with another window length.
func NewWindowLimiter(n int, window time.Duration, clk clock.Clock) *PerNumberLimiter {
	if n <= 0 {
		n = 1
	}
	if window <= 0 {
		window = time.Minute
	}
	if clk == nil {
		clk = clock.System
	}
	return &PerNumberLimiter{n: n, window: window, now: clk.Now, sends: make(map[string][]time.Time)}
}

// Allow records a send to phone and returns true if it is within the limit;
// otherwise it records nothing and returns how long until a slot frees.
func (l *PerNumberLimiter) Allow(phone string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maybeSweepLocked(now)
	recent := l.sends[phone]
	i := 0
	for i < len(recent) && now.Sub(recent[i]) >= l.window {
		i++
	}
	recent = recent[i:]
	if len(recent) >= l.n {
		l.sends[phone] = recent
		return false, recent[0].Add(l.window).Sub(now)
	}
	l.sends[phone] = append(recent, now)
	return true, 0
}

// maybeSweepLocked drops idle numbers every 1024 calls.
func (l *PerNumberLimiter) maybeSweepLocked(now time.Time) {
	l.sweeps++
	if l.sweeps < 1024 {
		return
	}
	l.sweeps = 0
	for k, v := range l.sends {
		if len(v) == 0 || now.Sub(v[len(v)-1]) >= l.window {
			delete(l.sends, k)
		}
	}
}

// Len is the number of phone numbers currently tracked.
func (l *PerNumberLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sends)
}

// WithLimiter wraps s so that each Send first takes a slot for its number;
// over the limit it fails with an *Error matching ErrRateLimited and
// RetryAfter set, without calling the provider.
func WithLimiter(s Sender, l *PerNumberLimiter) Sender { return limited{s, l} }

type limited struct {
	next Sender
	l    *PerNumberLimiter
}

func (w limited) Send(ctx context.Context, phone, text string) (Result, error) {
	if ok, wait := w.l.Allow(phone); !ok {
		return Result{}, &Error{Provider: "limiter", Code: "per_number_limit", RetryAfter: wait, Kind: ErrRateLimited}
	}
	return w.next.Send(ctx, phone, text)
}
