package safehttp

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Schedule is a retry schedule: element i is the delay before attempt i
// (attempt 0 is the first delivery).
type Schedule []time.Duration

// DefaultSchedule is the webhook retry schedule: at once, then 5 s, 5 min,
// 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after the previous attempt,
// about 3 days in all. After the last attempt the delivery is given up.
var DefaultSchedule = Schedule{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	14 * time.Hour,
	20 * time.Hour,
	24 * time.Hour,
}

// Backoff returns DefaultSchedule.Backoff(attempt, rnd).
func Backoff(attempt int, rnd func() float64) (time.Duration, bool) {
	return DefaultSchedule.Backoff(attempt, rnd)
}

// Backoff returns the delay before attempt (0-based) with ±10 % jitter, so
// that deliveries failed by one partner outage do not all retry at the same
// instant. rnd returns a value in [0, 1) (nil means math/rand/v2.Float64);
// 0 gives -10 %, 0.5 the plain delay, values near 1 almost +10 %. ok is
// false when attempt is negative or past the schedule: give up.
func (s Schedule) Backoff(attempt int, rnd func() float64) (delay time.Duration, ok bool) {
	if attempt < 0 || attempt >= len(s) {
		return 0, false
	}
	base := s[attempt]
	if base <= 0 {
		return 0, true
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	if math.IsNaN(r) || r < 0 {
		r = 0
	} else if r > 1 {
		r = 1
	}
	factor := 0.9 + 0.2*r
	return time.Duration(float64(base) * factor), true
}

// RetryAfter parses a Retry-After header, either delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3), relative to now. A date in the past gives 0.
// ok is false when the header is absent or malformed, or the delay does not
// fit a time.Duration; the caller then falls back to its schedule.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 63)
		if err != nil || secs > uint64(math.MaxInt64/int64(time.Second)) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}
