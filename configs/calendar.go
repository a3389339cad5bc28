package configs

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DateLayout is the layout of sign_language.holidays and .workdays entries.
const DateLayout = "2006-01-02"

// Calendar is the parsed form of sign_language.calendar: open on Days between
// Open and Close (offsets from local midnight) in Location.
type Calendar struct {
	Days     [7]bool // indexed by time.Weekday
	Open     time.Duration
	Close    time.Duration
	Location *time.Location
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

var errCalendarShape = errors.New(`want "Days HH:MM-HH:MM Zone", e.g. "Mon-Fri 09:00-17:00 Asia/Shanghai"`)

// ParseCalendar parses "Days HH:MM-HH:MM Zone". Days is a comma list of
// three-letter day names or ranges ("Mon-Fri", "Mon-Fri,Sat", "Fri-Mon" wraps
// over the weekend); Close may be 24:00 and must be after Open; Zone is an
// IANA name.
func ParseCalendar(s string) (Calendar, error) {
	parts := strings.Fields(s)
	if len(parts) != 3 {
		return Calendar{}, errCalendarShape
	}
	var c Calendar
	for item := range strings.SplitSeq(parts[0], ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, ok1 := weekdays[strings.ToLower(from)]
		b, ok2 := a, true
		if isRange {
			b, ok2 = weekdays[strings.ToLower(to)]
		}
		if !ok1 || !ok2 {
			return Calendar{}, fmt.Errorf("day %q: want Mon…Sun or a range such as Mon-Fri", item)
		}
		for d := a; ; d = (d + 1) % 7 {
			c.Days[d] = true
			if d == b {
				break
			}
		}
	}
	open, close, ok := strings.Cut(parts[1], "-")
	if !ok {
		return Calendar{}, errCalendarShape
	}
	var err error
	if c.Open, err = parseClock(open); err != nil {
		return Calendar{}, err
	}
	if c.Close, err = parseClock(close); err != nil {
		return Calendar{}, err
	}
	if c.Close <= c.Open || c.Open >= 24*time.Hour {
		return Calendar{}, fmt.Errorf("hours %q: closing must be after opening, within one day", parts[1])
	}
	if c.Location, err = time.LoadLocation(parts[2]); err != nil {
		return Calendar{}, fmt.Errorf("zone %q: %w", parts[2], err)
	}
	return c, nil
}

// parseClock parses HH:MM from 00:00 to 24:00.
func parseClock(s string) (time.Duration, error) {
	bad := fmt.Errorf("time %q: want HH:MM between 00:00 and 24:00", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, bad
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// QuietHours is the parsed form of survey.quiet_hours and survey.timezone: a
// daily span of local time, which may cross midnight; From == To: none.
type QuietHours struct {
	From, To time.Duration // since local midnight
	Location *time.Location
}

// ParseQuietHours parses "HH:MM-HH:MM" (or "off") in the IANA zone.
func ParseQuietHours(span, zone string) (QuietHours, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" {
		return QuietHours{}, fmt.Errorf("survey.timezone %q: want an IANA zone such as Asia/Shanghai", zone)
	}
	q := QuietHours{Location: loc}
	if span == "off" {
		return q, nil
	}
	from, to, ok := strings.Cut(span, "-")
	if !ok {
		return QuietHours{}, fmt.Errorf("%q: want HH:MM-HH:MM (e.g. 21:00-08:00) or off", span)
	}
	if q.From, err = parseClock(from); err != nil {
		return QuietHours{}, err
	}
	if q.To, err = parseClock(to); err != nil {
		return QuietHours{}, err
	}
	return q, nil
}

// Next returns t, or the end of the quiet span t falls in.
func (q QuietHours) Next(t time.Time) time.Time {
	if q.From == q.To || q.Location == nil {
		return t
	}
	local := t.In(q.Location)
	y, m, d := local.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, q.Location)
	since := local.Sub(midnight)
	// at builds a local wall time without DST arithmetic surprises.
	at := func(day int, off time.Duration) time.Time {
		return time.Date(y, m, d+day, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, q.Location)
	}
	if q.From < q.To { // e.g. 12:00-14:00
		if since >= q.From && since < q.To {
			return at(0, q.To).In(t.Location())
		}
		return t
	}
	switch { // crosses midnight, e.g. 21:00-08:00
	case since >= q.From:
		return at(1, q.To).In(t.Location())
	case since < q.To:
		return at(0, q.To).In(t.Location())
	}
	return t
}
