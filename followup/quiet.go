package followup

import "time"

// Quiet is a daily span of local time in which no SMS or WeChat survey is
// sent (survey.quiet_hours, default 21:00–08:00 Asia/Shanghai): a citizen
// is not woken by a questionnaire. From == To: never quiet. A span may
// cross midnight.
type Quiet struct {
	From, To time.Duration // since local midnight
	Loc      *time.Location
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
