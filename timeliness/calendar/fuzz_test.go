package calendar_test

import (
	"testing"
	"time"

	"github.com/hotline12345/gateway/timeliness/calendar"
)

// FuzzParse: Parse never panics or hangs, and a calendar it accepts answers
// consistently: NextOpen is open, not before t, and t itself when open.
func FuzzParse(f *testing.F) {
	f.Add(calendar.DefaultSpec, "2025-10-01", "2025-10-11")
	f.Add("Mon,Wed,Fri 08:30-12:00 Asia/Shanghai", "", "")
	f.Add("Mon-Fri 09:00-12:00,13:30-17:00; Sat 09:00-12:00 Asia/Shanghai", "2025-02-30", "x")
	f.Add("Fri-Mon 00:00-24:00 UTC", "2025-03-08", "2025-03-11")
	f.Add("Sun 02:00-04:00 America/New_York", "", "")
	f.Add(";;;", "", "")
	f.Add("Mon-Fri 24:00-24:00 Local", "", "")
	at := []time.Time{
		time.Date(2025, 3, 8, 18, 0, 0, 0, time.UTC),
		time.Date(2025, 10, 10, 10, 0, 0, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, spec, holiday, workday string) {
		c, err := calendar.Parse(spec, []string{holiday}, []string{workday})
		if err != nil {
			return
		}
		for _, t0 := range at {
			open := c.Open(t0)
			next := c.NextOpen(t0)
			if next.IsZero() {
				if open {
					t.Fatalf("%q: open at %v but NextOpen is zero", spec, t0)
				}
				continue
			}
			if !c.Open(next) || next.Before(t0) || (open && !next.Equal(t0)) {
				t.Fatalf("%q: Open(%v)=%v NextOpen=%v Open(next)=%v", spec, t0, open, next, c.Open(next))
			}
		}
	})
}
