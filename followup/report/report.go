// Package report computes the satisfaction report of contract §9
// (GET /v1/surveys/report): per day and group (channel, handling unit or
// district) how many requests finished, how many follow-up surveys went
// out and were answered, and how the citizens rated the handling.
//
// The figures come from the follow-up records alone (followup.Record, one
// per finished request or per chat closed by its agent):
//
//   - a record's day is the calendar day (Asia/Shanghai in the handler) of
//     FinishedAt; a record without FinishedAt (a chat rated before the
//     ticket system finished its request) counts on the day of CreatedAt,
//     but not in finished;
//   - finished: records with FinishedAt; no_follow_up: of those, NoFollowUp;
//   - surveys_sent: the sum of Sends (a reminder is a second follow-up and
//     counts again); surveyed: records with Sends > 0;
//   - initiation_rate = surveys_sent / (finished − no_follow_up); it may
//     exceed 1, as the hotline's own 120.81 % (second follow-ups included);
//   - answered: records with AnsweredAt; response_rate = answered / surveyed;
//   - satisfied, basically_satisfied, dissatisfied: answered records by
//     Rating; satisfaction_rate = (satisfied + basically_satisfied) / answered;
//   - not_resolved: Resolved false; reviews_requested: ReviewRequested;
//     expired: ExpiredAt set; failed: Failed.
//
// Rates are fractions (1.2081, not 120.81); a rate whose denominator is 0
// is null in JSON and empty in CSV. An empty group value (a request without
// handling unit or district) is reported as "unknown".
package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/hotline12345/gateway/followup"
)

// Groups a report can be broken down by.
const (
	GroupChannel      = "channel"
	GroupHandlingUnit = "handling_unit"
	GroupDistrict     = "district"
)

// Groups lists them; the first is the default.
var Groups = []string{GroupChannel, GroupHandlingUnit, GroupDistrict}

const (
	// DayTotal is Row.Day of the rows that cover the whole range.
	DayTotal = "total"
	// GroupAll is Row.Group of the overall total.
	GroupAll = "all"
	// Unknown stands for an empty group value.
	Unknown = "unknown"
)

// Row is the figures of one group on one day (or over the range).
type Row struct {
	// Day is the calendar day (YYYY-MM-DD in the report's location) or DayTotal.
	Day string `json:"day"`
	// Group is the record's channel, handling unit or district, Unknown
	// when empty, or GroupAll in the overall total.
	Group string `json:"group"`

	Finished       int      `json:"finished"`
	NoFollowUp     int      `json:"no_follow_up"`
	SurveysSent    int      `json:"surveys_sent"`
	Surveyed       int      `json:"surveyed"`
	InitiationRate *float64 `json:"initiation_rate"`

	Answered     int      `json:"answered"`
	ResponseRate *float64 `json:"response_rate"`

	Satisfied          int      `json:"satisfied"`
	BasicallySatisfied int      `json:"basically_satisfied"`
	Dissatisfied       int      `json:"dissatisfied"`
	SatisfactionRate   *float64 `json:"satisfaction_rate"`

	NotResolved      int `json:"not_resolved"`
	ReviewsRequested int `json:"reviews_requested"`
	Expired          int `json:"expired"`
	Failed           int `json:"failed"`
}

// Report is the body of GET /v1/surveys/report.
type Report struct {
	// From and To bound a record's time (FinishedAt, else CreatedAt):
	// From ≤ time < To.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// AsOf is when the records were read: answers come in for days after
	// a request finished, so a day's figures grow until its surveys expire.
	AsOf  time.Time `json:"as_of"`
	Group string    `json:"group"` // one of Groups
	// Rows has one row per day and group value with at least one record,
	// sorted by day, then group.
	Rows []Row `json:"rows"`
	// Totals has one row per group value over the whole range (Day
	// DayTotal), sorted by group.
	Totals []Row `json:"totals"`
	// Total is the overall total (Day DayTotal, Group GroupAll).
	Total Row `json:"total"`
}

// Build returns the report over recs with a time in [from, to), grouped
// by group (one of Groups), read at now; loc (nil: UTC) decides a record's day.
func Build(recs []followup.Record, from, to time.Time, group string, now time.Time, loc *time.Location) Report {
	b := NewBuilder(from, to, group, loc)
	for i := range recs {
		b.Add(&recs[i])
	}
	return b.Report(now)
}

// Builder accumulates a report one record at a time, in memory per day and
// group, not per record. It is not safe for concurrent use.
type Builder struct {
	from, to time.Time
	group    string
	loc      *time.Location
	rows     map[key]*counts
	totals   map[string]*counts
	total    counts
}

// key is a row's day (as numbers: no allocation per record) and group value.
type key struct {
	y     int
	m     time.Month
	d     int
	group string
}

// counts is a row before its rates.
type counts struct {
	finished, noFollowUp, sent, surveyed, answered int
	satisfied, basically, dissatisfied             int
	notResolved, reviews, expired, failed          int
}

// NewBuilder returns an empty builder; see Build for the arguments.
func NewBuilder(from, to time.Time, group string, loc *time.Location) *Builder {
	if loc == nil {
		loc = time.UTC
	}
	return &Builder{from: from, to: to, group: group, loc: loc, rows: map[key]*counts{}, totals: map[string]*counts{}}
}

// Add counts r if its time is in the builder's range. r is not retained.
func (b *Builder) Add(r *followup.Record) {
	at := r.CreatedAt
	if r.FinishedAt != nil {
		at = *r.FinishedAt
	}
	if at.Before(b.from) || !at.Before(b.to) {
		return
	}
	g := b.groupOf(r)
	y, m, d := at.In(b.loc).Date()
	k := key{y: y, m: m, d: d, group: g}
	row := b.rows[k]
	if row == nil {
		row = &counts{}
		b.rows[k] = row
	}
	tot := b.totals[g]
	if tot == nil {
		tot = &counts{}
		b.totals[g] = tot
	}
	row.add(r)
	tot.add(r)
	b.total.add(r)
}

func (b *Builder) groupOf(r *followup.Record) string {
	var g string
	switch b.group {
	case GroupHandlingUnit:
		g = r.HandlingUnit
	case GroupDistrict:
		g = r.District
	default:
		g = r.Channel
	}
	if g == "" {
		return Unknown
	}
	return g
}

func (c *counts) add(r *followup.Record) {
	if r.FinishedAt != nil {
		c.finished++
		if r.NoFollowUp {
			c.noFollowUp++
		}
	}
	c.sent += r.Sends
	if r.Sends > 0 {
		c.surveyed++
	}
	if r.AnsweredAt != nil {
		c.answered++
		switch r.Rating { // a rating comes only with an answer
		case followup.RatingSatisfied:
			c.satisfied++
		case followup.RatingBasicallySatisfied:
			c.basically++
		case followup.RatingDissatisfied:
			c.dissatisfied++
		}
	}
	if r.Resolved != nil && !*r.Resolved {
		c.notResolved++
	}
	if r.ReviewRequested {
		c.reviews++
	}
	if r.ExpiredAt != nil {
		c.expired++
	}
	if r.Failed {
		c.failed++
	}
}

func (c *counts) row(day, group string) Row {
	return Row{Day: day, Group: group,
		Finished: c.finished, NoFollowUp: c.noFollowUp, SurveysSent: c.sent, Surveyed: c.surveyed,
		InitiationRate: rate(c.sent, c.finished-c.noFollowUp),
		Answered:       c.answered, ResponseRate: rate(c.answered, c.surveyed),
		Satisfied: c.satisfied, BasicallySatisfied: c.basically, Dissatisfied: c.dissatisfied,
		SatisfactionRate: rate(c.satisfied+c.basically, c.answered),
		NotResolved:      c.notResolved, ReviewsRequested: c.reviews, Expired: c.expired, Failed: c.failed}
}

// rate is n/d, or nil when d is not positive (no base to rate against).
func rate(n, d int) *float64 {
	if d <= 0 {
		return nil
	}
	v := float64(n) / float64(d)
	return &v
}

// Report returns the figures so far, read at now, with its times in the
// builder's location. The builder may go on adding.
func (b *Builder) Report(now time.Time) Report {
	r := Report{From: b.from.In(b.loc), To: b.to.In(b.loc), AsOf: now.In(b.loc), Group: b.group,
		Rows: make([]Row, 0, len(b.rows)), Totals: make([]Row, 0, len(b.totals)), Total: b.total.row(DayTotal, GroupAll)}
	for k, c := range b.rows {
		day := time.Date(k.y, k.m, k.d, 0, 0, 0, 0, b.loc).Format(time.DateOnly)
		r.Rows = append(r.Rows, c.row(day, k.group))
	}
	for g, c := range b.totals {
		r.Totals = append(r.Totals, c.row(DayTotal, g))
	}
	byDayGroup := func(x, y Row) int { return cmp.Or(cmp.Compare(x.Day, y.Day), cmp.Compare(x.Group, y.Group)) }
	slices.SortFunc(r.Rows, byDayGroup)
	slices.SortFunc(r.Totals, byDayGroup)
	return r
}
