// Package report computes the timeliness report of contract §5
// (GET /v1/timeliness): per channel and day, how many first-response and
// handling clocks were met, breached or are still open, the rate met, and
// the median and 95th-percentile times to stop a clock.
//
// The figures are derived from the intake log's request records alone
// (intakelog.Request: received_at, the two due times and the two stop
// times), so the report needs no state of its own and agrees with
// GET /v1/requests/{id}, which classifies each clock the same way.
package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/hotline12345/gateway/intake/intakelog"
)

// Clock states, as GET /v1/requests/{id} reports them too.
const (
	StateMet      = "met"
	StateBreached = "breached"
	StateOpen     = "open"
)

// DayTotal is Row.Day of the per-channel rows that cover the whole range.
const DayTotal = "total"

// Clock is one timeliness clock (first response or handling) summed over a
// set of requests. Total = Met + Breached + Open.
type Clock struct {
	Total    int `json:"total"`
	Met      int `json:"met"`
	Breached int `json:"breached"`
	Open     int `json:"open"`
	// MetRate is Met / (Met + Breached): the share of decided clocks that
	// were met. Open clocks are not counted, since they may still go either
	// way. It is 0 when no clock is decided yet (Met + Breached = 0).
	MetRate float64 `json:"met_rate"`
	// MedianSeconds and P95Seconds are taken over the clocks that stopped
	// (met, or breached and later stopped), as stop time − received_at in
	// seconds, by the nearest-rank method (the value at rank ⌈p·n⌉ of the
	// sorted n values, so always an observed value; for an even n the median
	// is the lower middle value). Both are 0 when no clock stopped. A stop
	// time before received_at (clock skew) counts as 0 s.
	MedianSeconds float64 `json:"median_seconds"`
	P95Seconds    float64 `json:"p95_seconds"`
}

// Row is the figures of one channel on one day.
type Row struct {
	// Day is the calendar day (YYYY-MM-DD, in the report's location, by
	// default Asia/Shanghai) of the requests' received_at, or DayTotal.
	Day           string `json:"day"`
	Channel       string `json:"channel"`
	FirstResponse Clock  `json:"first_response"`
	Handling      Clock  `json:"handling"`
}

// Report is the body of GET /v1/timeliness.
type Report struct {
	// From and To bound received_at: From ≤ received_at < To.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// AsOf is the time open clocks were judged at: an unstopped clock whose
	// due time is before AsOf is breached, otherwise open.
	AsOf time.Time `json:"as_of"`
	// Channel is the channel filter, empty for all channels.
	Channel string `json:"channel,omitempty"`
	// Rows has one row per day and channel with at least one request,
	// sorted by day, then channel.
	Rows []Row `json:"rows"`
	// Totals has one row per channel over the whole range (Day "total"),
	// sorted by channel.
	Totals []Row `json:"totals"`
}

// State classifies one clock: met if it stopped at or before its due time,
// breached if it stopped after it or has not stopped and now is past due,
// open otherwise (not stopped and now ≤ due).
func State(due time.Time, stopped *time.Time, now time.Time) string {
	switch {
	case stopped != nil && !stopped.After(due):
		return StateMet
	case stopped != nil, now.After(due):
		return StateBreached
	}
	return StateOpen
}

// Build returns the report over reqs for received_at in [from, to), of one
// channel or, if channel is empty, of all. now judges open clocks; loc
// (nil: UTC) decides the day a request belongs to.
func Build(reqs []intakelog.Request, from, to time.Time, channel string, now time.Time, loc *time.Location) Report {
	b := NewBuilder(from, to, channel, now, loc)
	for i := range reqs {
		b.Add(&reqs[i])
	}
	return b.Report()
}

// Builder accumulates a report one request at a time, so that a report over
// the whole intake log needs memory per (day, channel) and per stopped
// clock, not per request record. It is not safe for concurrent use.
type Builder struct {
	from, to time.Time
	channel  string
	now      time.Time
	loc      *time.Location
	rows     map[key]*acc
	totals   map[string]*acc
}

// key is a row's day (as numbers, which need no allocation per request) and
// channel.
type key struct {
	y       int
	m       time.Month
	d       int
	channel string
}

// acc accumulates one row: the counts and the stop durations of each clock.
type acc struct{ fr, h clockAcc }

type clockAcc struct {
	c       Clock
	seconds []float64
}

// NewBuilder returns an empty builder; see Build for the arguments.
func NewBuilder(from, to time.Time, channel string, now time.Time, loc *time.Location) *Builder {
	if loc == nil {
		loc = time.UTC
	}
	return &Builder{from: from, to: to, channel: channel, now: now, loc: loc,
		rows: map[key]*acc{}, totals: map[string]*acc{}}
}

// Add counts r if it is in the builder's range and channel. r is not retained.
func (b *Builder) Add(r *intakelog.Request) {
	if r.ReceivedAt.Before(b.from) || !r.ReceivedAt.Before(b.to) {
		return
	}
	if b.channel != "" && r.Channel != b.channel {
		return
	}
	y, m, d := r.ReceivedAt.In(b.loc).Date()
	k := key{y: y, m: m, d: d, channel: r.Channel}
	row := b.rows[k]
	if row == nil {
		row = &acc{}
		b.rows[k] = row
	}
	tot := b.totals[r.Channel]
	if tot == nil {
		tot = &acc{}
		b.totals[r.Channel] = tot
	}
	row.add(r, b.now)
	tot.add(r, b.now)
}

func (a *acc) add(r *intakelog.Request, now time.Time) {
	a.fr.add(r.ReceivedAt, r.FirstResponseDue, r.FirstResponseAt, now)
	a.h.add(r.ReceivedAt, r.HandlingDue, r.HandledAt, now)
}

func (c *clockAcc) add(received, due time.Time, stopped *time.Time, now time.Time) {
	c.c.Total++
	switch State(due, stopped, now) {
	case StateMet:
		c.c.Met++
	case StateBreached:
		c.c.Breached++
	default:
		c.c.Open++
	}
	if stopped != nil {
		c.seconds = append(c.seconds, max(0, stopped.Sub(received).Seconds()))
	}
}

func (c *clockAcc) clock() Clock {
	out := c.c
	if d := out.Met + out.Breached; d > 0 {
		out.MetRate = float64(out.Met) / float64(d)
	}
	if len(c.seconds) > 0 {
		s := slices.Clone(c.seconds)
		slices.Sort(s)
		out.MedianSeconds = NearestRank(s, 50)
		out.P95Seconds = NearestRank(s, 95)
	}
	return out
}

// NearestRank returns the p-th percentile (0 < p ≤ 100) of sorted, which
// must be in ascending order: the value at rank ⌈p·n/100⌉. It returns 0 for
// an empty slice.
func NearestRank(sorted []float64, p int) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100 // ⌈p·n/100⌉ in integers, free of rounding error
	return sorted[min(max(rank, 1), n)-1]
}

// Report returns the figures so far, with its times in the builder's
// location. The builder may go on adding.
func (b *Builder) Report() Report {
	r := Report{From: b.from.In(b.loc), To: b.to.In(b.loc), AsOf: b.now.In(b.loc), Channel: b.channel,
		Rows: make([]Row, 0, len(b.rows)), Totals: make([]Row, 0, len(b.totals))}
	for k, a := range b.rows {
		day := time.Date(k.y, k.m, k.d, 0, 0, 0, 0, b.loc).Format(time.DateOnly)
		r.Rows = append(r.Rows, Row{Day: day, Channel: k.channel, FirstResponse: a.fr.clock(), Handling: a.h.clock()})
	}
	for ch, a := range b.totals {
		r.Totals = append(r.Totals, Row{Day: DayTotal, Channel: ch, FirstResponse: a.fr.clock(), Handling: a.h.clock()})
	}
	byDayChannel := func(x, y Row) int { return cmp.Or(cmp.Compare(x.Day, y.Day), cmp.Compare(x.Channel, y.Channel)) }
	slices.SortFunc(r.Rows, byDayChannel)
	slices.SortFunc(r.Totals, byDayChannel)
	return r
}
