package followup

import (
	"fmt"
	"strings"
	"time"
)

// Quiet is a daily span of local time in which no SMS or WeChat survey is
// sent (survey.quiet_hours, default 21:00–08:00 Asia/Shanghai): a citizen
// is not woken by a questionnaire. From == To: never quiet.
type Quiet struct {
	From, To time.Duration // since local midnight
	Loc      *time.Location
}

// ParseQuiet reads "HH:MM-HH:MM" (a span that may cross midnight) in loc;
// "" or "off" means never quiet.
func ParseQuiet(s string, loc *time.Location) (Quiet, error) {
	q := Quiet{Loc: loc}
	if s == "" || s == "off" {
		return q, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return q, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM", s)
	}
	var err error
	if q.From, err = clockTime(from); err != nil {
		return q, fmt.Errorf("quiet hours %q: %w", s, err)
	}
	if q.To, err = clockTime(to); err != nil {
		return q, fmt.Errorf("quiet hours %q: %w", s, err)
	}
	return q, nil
}

func clockTime(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Next returns t, or the end of the quiet span t falls in.
func (q Quiet) Next(t time.Time) time.Time {
	if q.From == q.To || q.Loc == nil {
		return t
	}
	local := t.In(q.Loc)
	y, m, d := local.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, q.Loc)
	since := local.Sub(midnight)
	// at builds a local wall time without DST arithmetic surprises.
	at := func(day int, off time.Duration) time.Time {
		return time.Date(y, m, d+day, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, q.Loc)
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
