// Package calendar holds the opening hours of the sign-language service:
// weekly hours in one time zone, closed holidays and make-up working days
// (调休, a Saturday or Sunday worked in exchange for a holiday). The session
// layer asks Open before offering a video call and NextOpen to tell the
// caller when to come back.
package calendar

import (
	"errors"
	"sort"
	"time"

	_ "time/tzdata" // opening hours must not depend on the host's zoneinfo
)

// DefaultSpec is the contract's default opening hours
// (configuration key sign_language.calendar).
const DefaultSpec = "Mon-Fri 09:00-17:00 Asia/Shanghai"

// SearchDays bounds NextOpen: a calendar with no opening within this many
// days is treated as closed.
const SearchDays = 60

// ErrSpec is wrapped by every error Parse returns; the message names the
// offending part of the configuration.
var ErrSpec = errors.New("calendar: invalid opening hours")

// Calendar answers whether the service is open. It is immutable after
// Parse and safe for concurrent use.
type Calendar struct {
	loc *time.Location
	// week holds the ranges of each weekday (index time.Weekday), sorted
	// by start.
	week [7][]span
	// standard are the hours of an ordinary working day, used on make-up
	// workdays that fall on a day without hours of its own.
	standard []span
	holidays map[civilDate]struct{}
	workdays map[civilDate]struct{}
}

// span is one opening range within a day, as wall-clock offsets from local
// midnight: start inclusive, end exclusive.
type span struct {
	start, end time.Duration
}

type civilDate struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time) civilDate {
	y, m, d := t.Date()
	return civilDate{y, m, d}
}

// Location returns the calendar's time zone; opening hours are wall-clock
// times in it.
func (c *Calendar) Location() *time.Location { return c.loc }

// Open reports whether t (in any zone) falls within the opening hours: the
// start of a range is open, its end is closed (with 09:00-17:00, 17:00 is
// closed). Holidays are closed all day; make-up workdays are open.
func (c *Calendar) Open(t time.Time) bool {
	lt := t.In(c.loc)
	spans := c.spansOn(lt)
	if len(spans) == 0 {
		return false
	}
	h, m, s := lt.Clock()
	tod := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(lt.Nanosecond())
	for _, sp := range spans {
		if sp.start <= tod && tod < sp.end {
			return true
		}
	}
	return false
}

// NextOpen returns t itself if the service is open at t, otherwise the
// next instant at which it opens, in the calendar's location. It searches
// SearchDays days ahead and returns the zero Time (check IsZero) when there
// is no opening in that window, e.g. during a long closure.
func (c *Calendar) NextOpen(t time.Time) time.Time {
	if c.Open(t) {
		return t
	}
	lt := t.In(c.loc)
	y, m, d := lt.Date()
	for i := 0; i <= SearchDays; i++ {
		midnight := time.Date(y, m, d+i, 0, 0, 0, 0, c.loc)
		for _, sp := range c.spansOn(midnight) {
			mins := int(sp.start / time.Minute)
			dy, dm, dd := midnight.Date()
			cand := time.Date(dy, dm, dd, mins/60, mins%60, 0, 0, c.loc)
			if !c.Open(cand) {
				// The start fell into a daylight-saving gap and time.Date
				// moved it out of the range; the range then opens when
				// the clock jumps, at the end of the current zone period.
				_, cand = cand.ZoneBounds()
			}
			if cand.After(t) && c.Open(cand) {
				return cand
			}
		}
	}
	return time.Time{}
}

// spansOn returns the opening ranges of the local day containing lt.
func (c *Calendar) spansOn(lt time.Time) []span {
	key := dateOf(lt)
	if _, ok := c.holidays[key]; ok {
		return nil
	}
	spans := c.week[lt.Weekday()]
	if len(spans) == 0 {
		if _, ok := c.workdays[key]; ok {
			return c.standard
		}
	}
	return spans
}

// standardDay picks the hours of an ordinary working day: the first of
// Monday to Friday with hours, else the first day of the week with hours.
func standardDay(week *[7][]span) []span {
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	for _, wd := range order {
		if len(week[wd]) > 0 {
			return week[wd]
		}
	}
	return nil
}

func sortSpans(week *[7][]span) {
	for i := range week {
		sort.Slice(week[i], func(a, b int) bool { return week[i][a].start < week[i][b].start })
	}
}
