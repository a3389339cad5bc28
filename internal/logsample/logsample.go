// Package logsample thins out log lines that a client can cause at any rate
// (rate-limit refusals): at most one line per kind per interval, and the line
// that gets through says how many were held back since the previous one.
package logsample

import (
	"sync"
	"time"

	"github.com/hotline12345/gateway/internal/clock"
)

// maxKinds bounds the table of kinds: a kind is meant to come from a small
// fixed set (a route, a limit's name), never from a client's input. Past the
// bound a new kind shares the line budget of the overflow kind "".
const maxKinds = 1024

// Sampler decides which lines of a kind to log. Safe for concurrent use; it
// starts no goroutine.
type Sampler struct {
	every time.Duration
	now   func() time.Time

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	last       time.Time // when the last line of this kind was let through
	suppressed int
}

// New returns a sampler letting through one line per kind every `every`
// (by clk; nil means clock.System).
func New(every time.Duration, clk clock.Clock) *Sampler {
	if clk == nil {
		clk = clock.System
	}
	return &Sampler{every: every, now: clk.Now, kinds: map[string]*kind{}}
}

// Allow reports whether a line of kind may be logged now. When it may,
// suppressed is the number of lines of kind held back since the last one that
// was let through; the caller logs it with the line. When it may not, the
// line is counted and the caller logs nothing.
func (s *Sampler) Allow(name string) (suppressed int, ok bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kinds[name]
	if k == nil {
		if len(s.kinds) >= maxKinds {
			name = ""
			k = s.kinds[name]
		}
		if k == nil {
			s.kinds[name] = &kind{last: now}
			return 0, true
		}
	}
	if now.Sub(k.last) < s.every {
		k.suppressed++
		return 0, false
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	return n, true
}
