package report_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/followup/report"
)

func ptr[T any](v T) *T { return &v }

// finished returns a record of channel web finished at s (Asia/Shanghai),
// then changed by opts.
func finished(s string, opts ...func(*followup.Record)) followup.Record {
	at := local(s).UTC()
	r := followup.Record{EnvelopeID: "e-" + s, Channel: "web", FinishedAt: &at, CreatedAt: at, Code: "c", Via: followup.ViaTicket}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func sent(n int) func(*followup.Record) { return func(r *followup.Record) { r.Sends = n } }

func answered(rating string, resolved bool) func(*followup.Record) {
	return func(r *followup.Record) {
		at := r.CreatedAt.Add(time.Hour)
		r.AnsweredAt, r.Rating, r.Resolved = &at, rating, &resolved
	}
}

// chatOnly is a chat closed by its agent before the ticket system finished the request.
func chatOnly(r *followup.Record) { r.FinishedAt, r.Via = nil, followup.ViaChat }

func TestBuildFigures(t *testing.T) {
	const at = "2024-05-01 10:00:00"
	tests := []struct {
		name string
		recs []followup.Record
		want report.Row // the overall total; Day and Group are always total and all
	}{
		{"nothing", nil, report.Row{}},
		{"no follow-up: no base for any rate",
			[]followup.Record{finished(at, func(r *followup.Record) { r.NoFollowUp, r.Code = true, "" })},
			report.Row{Finished: 1, NoFollowUp: 1}},
		{"sent, unanswered", []followup.Record{finished(at, sent(1))},
			report.Row{Finished: 1, SurveysSent: 1, Surveyed: 1, InitiationRate: ptr(1.0), ResponseRate: ptr(0.0)}},
		{"a reminder is a second follow-up", []followup.Record{finished(at, sent(2), func(r *followup.Record) { r.Reminded = true })},
			report.Row{Finished: 1, SurveysSent: 2, Surveyed: 1, InitiationRate: ptr(2.0), ResponseRate: ptr(0.0)}},
		{"pending: finished, not yet surveyed", []followup.Record{finished(at)},
			report.Row{Finished: 1, InitiationRate: ptr(0.0)}},
		{"answered satisfied", []followup.Record{finished(at, sent(1), answered(followup.RatingSatisfied, true))},
			report.Row{Finished: 1, SurveysSent: 1, Surveyed: 1, InitiationRate: ptr(1.0), Answered: 1, ResponseRate: ptr(1.0),
				Satisfied: 1, SatisfactionRate: ptr(1.0)}},
		{"basically satisfied counts as satisfied",
			[]followup.Record{finished(at, sent(1), answered(followup.RatingBasicallySatisfied, true)),
				finished(at, sent(1), answered(followup.RatingDissatisfied, true))},
			report.Row{Finished: 2, SurveysSent: 2, Surveyed: 2, InitiationRate: ptr(1.0), Answered: 2, ResponseRate: ptr(1.0),
				BasicallySatisfied: 1, Dissatisfied: 1, SatisfactionRate: ptr(0.5)}},
		{"not resolved, review requested",
			[]followup.Record{finished(at, sent(1), answered(followup.RatingDissatisfied, false), func(r *followup.Record) { r.ReviewRequested = true })},
			report.Row{Finished: 1, SurveysSent: 1, Surveyed: 1, InitiationRate: ptr(1.0), Answered: 1, ResponseRate: ptr(1.0),
				Dissatisfied: 1, SatisfactionRate: ptr(0.0), NotResolved: 1, ReviewsRequested: 1}},
		{"failed", []followup.Record{finished(at, func(r *followup.Record) { r.Failed, r.Attempts = true, 3 })},
			report.Row{Finished: 1, InitiationRate: ptr(0.0), Failed: 1}},
		{"expired after a reminder",
			[]followup.Record{finished(at, sent(2), func(r *followup.Record) { r.ExpiredAt = ptr(r.CreatedAt.Add(7 * 24 * time.Hour)) })},
			report.Row{Finished: 1, SurveysSent: 2, Surveyed: 1, InitiationRate: ptr(2.0), ResponseRate: ptr(0.0), Expired: 1}},
		{"a chat rated before the request finished: surveyed, not finished",
			[]followup.Record{finished(at, sent(1), answered(followup.RatingSatisfied, true), chatOnly)},
			report.Row{SurveysSent: 1, Surveyed: 1, Answered: 1, ResponseRate: ptr(1.0), Satisfied: 1, SatisfactionRate: ptr(1.0)}},
		{"120.81 %: second follow-ups over requests to follow up",
			[]followup.Record{finished(at, sent(2)), finished(at, sent(1)), finished(at, func(r *followup.Record) { r.NoFollowUp = true })},
			report.Row{Finished: 3, NoFollowUp: 1, SurveysSent: 3, Surveyed: 2, InitiationRate: ptr(1.5), ResponseRate: ptr(0.0)}},
		{"outside the range", []followup.Record{finished("2024-04-30 23:59:59", sent(1)), finished("2024-05-03 00:00:00", sent(1))},
			report.Row{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := report.Build(tc.recs, day1, local("2024-05-03 00:00:00"), report.GroupChannel, fixtureNow, day1.Location())
			tc.want.Day, tc.want.Group = report.DayTotal, report.GroupAll
			require.Equal(t, tc.want, rep.Total)
			if len(rep.Totals) == 1 {
				tot := rep.Totals[0]
				tot.Group = report.GroupAll
				require.Equal(t, tc.want, tot, "one group: its total is the overall total")
			}
		})
	}
}

func TestBuildDayAndGroup(t *testing.T) {
	loc := day1.Location()
	// 00:30 in Shanghai is the day before in UTC.
	early := finished("2024-05-02 00:30:00", sent(1), func(r *followup.Record) { r.Channel, r.HandlingUnit, r.District = "sms", "市城管委", "" })
	require.Equal(t, "2024-05-01", early.FinishedAt.Format(time.DateOnly))
	// A chat rated before its request finished counts on the day it was created.
	chat := finished("2024-05-01 09:00:00", sent(1), chatOnly, func(r *followup.Record) { r.Channel, r.HandlingUnit, r.District = "app", "", "徐汇区" })
	recs := []followup.Record{early, chat}
	tests := []struct {
		group string
		rows  [][2]string // day, group
	}{
		{report.GroupChannel, [][2]string{{"2024-05-01", "app"}, {"2024-05-02", "sms"}}},
		{report.GroupHandlingUnit, [][2]string{{"2024-05-01", report.Unknown}, {"2024-05-02", "市城管委"}}},
		{report.GroupDistrict, [][2]string{{"2024-05-01", "徐汇区"}, {"2024-05-02", report.Unknown}}},
	}
	for _, tc := range tests {
		t.Run(tc.group, func(t *testing.T) {
			rep := report.Build(recs, day1, local("2024-05-03 00:00:00"), tc.group, fixtureNow, loc)
			require.Equal(t, tc.group, rep.Group)
			var got [][2]string
			for _, r := range rep.Rows {
				got = append(got, [2]string{r.Day, r.Group})
			}
			require.Equal(t, tc.rows, got)
			require.Len(t, rep.Totals, 2)
			require.Equal(t, 1, rep.Total.Finished)
			require.Equal(t, 2, rep.Total.Surveyed)
		})
	}
	rep := report.Build(recs, day1, local("2024-05-03 00:00:00"), report.GroupChannel, fixtureNow, time.UTC)
	require.Equal(t, "2024-05-01", rep.Rows[0].Day, "in UTC the early record is on 05-01 too")
	require.Equal(t, "2024-05-01", rep.Rows[1].Day)
}

// smallJSON pins the wire shape: web has one request surveyed twice and
// answered; the chat (no finished_at, no channel) has a survey but no base
// for an initiation rate; null rates stay in the body.
const smallJSON = `{
  "from": "2024-05-01T00:00:00+08:00",
  "to": "2024-05-02T00:00:00+08:00",
  "as_of": "2024-05-10T12:00:00+08:00",
  "group": "channel",
  "rows": [
    {"day": "2024-05-01", "group": "unknown", "finished": 0, "no_follow_up": 0, "surveys_sent": 1, "surveyed": 1, "initiation_rate": null,
     "answered": 0, "response_rate": 0, "satisfied": 0, "basically_satisfied": 0, "dissatisfied": 0, "satisfaction_rate": null,
     "not_resolved": 0, "reviews_requested": 0, "expired": 0, "failed": 0},
    {"day": "2024-05-01", "group": "web", "finished": 2, "no_follow_up": 1, "surveys_sent": 2, "surveyed": 1, "initiation_rate": 2,
     "answered": 1, "response_rate": 1, "satisfied": 0, "basically_satisfied": 1, "dissatisfied": 0, "satisfaction_rate": 1,
     "not_resolved": 1, "reviews_requested": 0, "expired": 0, "failed": 0}
  ],
  "totals": [
    {"day": "total", "group": "unknown", "finished": 0, "no_follow_up": 0, "surveys_sent": 1, "surveyed": 1, "initiation_rate": null,
     "answered": 0, "response_rate": 0, "satisfied": 0, "basically_satisfied": 0, "dissatisfied": 0, "satisfaction_rate": null,
     "not_resolved": 0, "reviews_requested": 0, "expired": 0, "failed": 0},
    {"day": "total", "group": "web", "finished": 2, "no_follow_up": 1, "surveys_sent": 2, "surveyed": 1, "initiation_rate": 2,
     "answered": 1, "response_rate": 1, "satisfied": 0, "basically_satisfied": 1, "dissatisfied": 0, "satisfaction_rate": 1,
     "not_resolved": 1, "reviews_requested": 0, "expired": 0, "failed": 0}
  ],
  "total": {"day": "total", "group": "all", "finished": 2, "no_follow_up": 1, "surveys_sent": 3, "surveyed": 2, "initiation_rate": 3,
     "answered": 1, "response_rate": 0.5, "satisfied": 0, "basically_satisfied": 1, "dissatisfied": 0, "satisfaction_rate": 1,
     "not_resolved": 1, "reviews_requested": 0, "expired": 0, "failed": 0}
}`

const smallCSV = "day,channel,finished,no_follow_up,surveys_sent,surveyed,initiation_rate,answered,response_rate," +
	"satisfied,basically_satisfied,dissatisfied,satisfaction_rate,not_resolved,reviews_requested,expired,failed\r\n" +
	"2024-05-01,unknown,0,0,1,1,,0,0.0000,0,0,0,,0,0,0,0\r\n" +
	"2024-05-01,web,2,1,2,1,2.0000,1,1.0000,0,1,0,1.0000,1,0,0,0\r\n" +
	"total,unknown,0,0,1,1,,0,0.0000,0,0,0,,0,0,0,0\r\n" +
	"total,web,2,1,2,1,2.0000,1,1.0000,0,1,0,1.0000,1,0,0,0\r\n" +
	"total,all,2,1,3,2,3.0000,1,0.5000,0,1,0,1.0000,1,0,0,0\r\n"

func small() []followup.Record {
	return []followup.Record{
		finished("2024-05-01 08:00:00", sent(2), answered(followup.RatingBasicallySatisfied, false)),
		finished("2024-05-01 09:00:00", func(r *followup.Record) { r.NoFollowUp, r.Code = true, "" }),
		finished("2024-05-01 10:00:00", sent(1), chatOnly, func(r *followup.Record) { r.Channel = "" }),
	}
}

func TestBuildJSONAndCSV(t *testing.T) {
	rep := report.Build(small(), day1, day2, report.GroupChannel, fixtureNow, day1.Location())
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.JSONEq(t, smallJSON, string(b))

	var csv strings.Builder
	require.NoError(t, report.WriteCSV(&csv, rep))
	require.Equal(t, smallCSV, csv.String())
}

func TestBuildEmptyIsArrays(t *testing.T) {
	rep := report.Build(nil, day1, day2, report.GroupDistrict, fixtureNow, day1.Location())
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.Contains(t, string(b), `"rows":[],"totals":[],"total":{"day":"total","group":"all","finished":0`)
	require.Contains(t, string(b), `"initiation_rate":null`)

	var csv strings.Builder
	require.NoError(t, report.WriteCSV(&csv, rep))
	require.Equal(t, strings.Join(report.CSVHeader("district"), ",")+"\r\n"+"total,all,0,0,0,0,,0,,0,0,0,,0,0,0,0\r\n", csv.String())
}

func TestCSVFormulaGuard(t *testing.T) {
	recs := []followup.Record{finished("2024-05-01 08:00:00", sent(1), func(r *followup.Record) { r.District = `=HYPERLINK("http://x")` })}
	rep := report.Build(recs, day1, day2, report.GroupDistrict, fixtureNow, day1.Location())
	var csv strings.Builder
	require.NoError(t, report.WriteCSV(&csv, rep))
	require.Contains(t, csv.String(), "\r\n2024-05-01,\"'=HYPERLINK(\"\"http://x\"\")\",1,")
	require.Equal(t, `=HYPERLINK("http://x")`, rep.Rows[0].Group, "JSON keeps the value")
}
