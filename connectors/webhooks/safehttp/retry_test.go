package safehttp_test

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"seconds", "120", 2 * time.Minute, true},
		{"zero", "0", 0, true},
		{"spaces", "  30 ", 30 * time.Second, true},
		{"http-date ahead", "Sat, 01 Mar 2025 08:01:30 GMT", 90 * time.Second, true},
		{"rfc850 date", "Saturday, 01-Mar-25 08:00:10 GMT", 10 * time.Second, true},
		{"asctime date", "Sat Mar  1 08:00:05 2025", 5 * time.Second, true},
		{"date in the past", "Sat, 01 Mar 2025 07:00:00 GMT", 0, true},
		{"negative", "-5", 0, false},
		{"fraction", "1.5", 0, false},
		{"garbage", "soon", 0, false},
		{"trailing junk", "10s", 0, false},
		{"overflow", "99999999999999999999", 0, false},
		{"too large for Duration", "9300000000", 0, false},
		{"largest Duration seconds", "9223372036", 9223372036 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			got, ok := safehttp.RetryAfter(h, now)
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Sat, 01 Mar 2025 08:01:30 GMT", "-1", "", "1e9", "Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Set("Retry-After", v)
		d, ok := safehttp.RetryAfter(h, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("RetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}

func TestBackoff(t *testing.T) {
	fixed := func(r float64) func() float64 { return func() float64 { return r } }
	tests := []struct {
		name    string
		attempt int
		rnd     func() float64
		want    time.Duration
		wantOK  bool
	}{
		{"first attempt immediate", 0, fixed(0.99), 0, true},
		{"5s no jitter", 1, fixed(0.5), 5 * time.Second, true},
		{"5s -10%", 1, fixed(0), 4500 * time.Millisecond, true},
		{"5s almost +10%", 1, fixed(1), 5500 * time.Millisecond, true},
		{"5m", 2, fixed(0.5), 5 * time.Minute, true},
		{"30m -10%", 3, fixed(0), 27 * time.Minute, true},
		{"2h", 4, fixed(0.5), 2 * time.Hour, true},
		{"5h", 5, fixed(0.5), 5 * time.Hour, true},
		{"10h", 6, fixed(0.5), 10 * time.Hour, true},
		{"14h", 7, fixed(0.5), 14 * time.Hour, true},
		{"20h", 8, fixed(0.5), 20 * time.Hour, true},
		{"24h +10%", 9, fixed(1), 26*time.Hour + 24*time.Minute, true},
		{"past the schedule", 10, fixed(0.5), 0, false},
		{"negative attempt", -1, fixed(0.5), 0, false},
		{"rnd out of range clamped", 1, fixed(7), 5500 * time.Millisecond, true},
		{"rnd NaN clamped", 1, fixed(math.NaN()), 4500 * time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := safehttp.Backoff(tc.attempt, tc.rnd)
			require.Equal(t, tc.wantOK, ok)
			require.InDelta(t, float64(tc.want), float64(got), float64(time.Millisecond))
		})
	}
}

func TestBackoffDefaultRandWithinJitter(t *testing.T) {
	for attempt, base := range safehttp.DefaultSchedule {
		for range 50 {
			d, ok := safehttp.Backoff(attempt, nil)
			require.True(t, ok)
			require.GreaterOrEqual(t, float64(d), 0.9*float64(base))
			require.LessOrEqual(t, float64(d), 1.1*float64(base))
		}
	}
}
