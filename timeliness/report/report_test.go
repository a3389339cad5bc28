package report_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/timeliness/report"
)

func TestBuildFixture(t *testing.T) {
	rep := report.Build(fixture(), fixtureFrom, fixtureTo, "", fixtureNow, shanghai)
	got, err := json.Marshal(rep)
	require.NoError(t, err)
	require.JSONEq(t, fixtureJSON, string(got))

	var csv strings.Builder
	require.NoError(t, report.WriteCSV(&csv, rep))
	require.Equal(t, fixtureCSV, csv.String())
}

func TestBuildChannelFilter(t *testing.T) {
	rep := report.Build(fixture(), fixtureFrom, fixtureTo, "sms", fixtureNow, shanghai)
	require.Equal(t, "sms", rep.Channel)
	require.Len(t, rep.Rows, 2)
	require.Len(t, rep.Totals, 1)
	for _, r := range append(rep.Rows, rep.Totals...) {
		require.Equal(t, "sms", r.Channel)
	}
	all := report.Build(fixture(), fixtureFrom, fixtureTo, "", fixtureNow, shanghai)
	require.Equal(t, all.Totals[0], rep.Totals[0], "the filter must not change a channel's figures")
}

func TestBuildDayIsInLocation(t *testing.T) {
	// w1 is received 2024-04-30T16:30Z, which is 2024-05-01 in Shanghai.
	reqs := []intakelog.Request{req("w1", "web", "2024-05-01 00:30:00", 60, 3600)}
	require.Equal(t, "2024-04-30T16:30:00Z", reqs[0].ReceivedAt.Format(time.RFC3339))
	rep := report.Build(reqs, fixtureFrom, fixtureTo, "", fixtureNow, shanghai)
	require.Equal(t, "2024-05-01", rep.Rows[0].Day)
	rep = report.Build(reqs, fixtureFrom.Add(-24*time.Hour), fixtureTo, "", fixtureNow, time.UTC)
	require.Equal(t, "2024-04-30", rep.Rows[0].Day)
}

func TestBuildEmptyIsArrays(t *testing.T) {
	rep := report.Build(nil, fixtureFrom, fixtureTo, "", fixtureNow, shanghai)
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.Contains(t, string(b), `"rows":[],"totals":[]`)

	var csv strings.Builder
	require.NoError(t, report.WriteCSV(&csv, rep))
	require.Equal(t, strings.SplitAfter(fixtureCSV, "\r\n")[0], csv.String())
}

func TestClockEdgeCases(t *testing.T) {
	at := fixtureFrom.Add(time.Hour)
	due := at.Add(3 * time.Minute)
	before := at.Add(-5 * time.Second) // a stop before received_at (clock skew)
	tests := []struct {
		name    string
		stopped *time.Time
		now     time.Time
		want    report.Clock
	}{
		{"not stopped, now at due: open", nil, due, report.Clock{Total: 1, Open: 1}},
		{"not stopped, now past due: breached", nil, due.Add(time.Nanosecond), report.Clock{Total: 1, Breached: 1}},
		{"stopped at due: met", &due, due.Add(time.Hour), report.Clock{Total: 1, Met: 1, MetRate: 1, MedianSeconds: 180, P95Seconds: 180}},
		{"stopped before received: 0 s", &before, due, report.Clock{Total: 1, Met: 1, MetRate: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := intakelog.Request{Channel: "web", ReceivedAt: at, FirstResponseDue: due, FirstResponseAt: tc.stopped,
				HandlingDue: at.Add(24 * time.Hour)}
			rep := report.Build([]intakelog.Request{r}, fixtureFrom, fixtureTo, "", tc.now, shanghai)
			require.Len(t, rep.Rows, 1)
			require.Equal(t, tc.want, rep.Rows[0].FirstResponse)
		})
	}
}

func TestState(t *testing.T) {
	due := fixtureFrom
	early, late := due.Add(-time.Second), due.Add(time.Second)
	tests := []struct {
		stopped *time.Time
		now     time.Time
		want    string
	}{
		{&early, late, report.StateMet},
		{&due, late, report.StateMet},
		{&late, late, report.StateBreached},
		{&late, early, report.StateBreached}, // stopped late: breached whatever now says
		{nil, early, report.StateOpen},
		{nil, due, report.StateOpen},
		{nil, late, report.StateBreached},
	}
	for i, tc := range tests {
		require.Equal(t, tc.want, report.State(due, tc.stopped, tc.now), "case %d", i)
	}
}

func TestNearestRank(t *testing.T) {
	seq := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(i + 1)
		}
		return s
	}
	tests := []struct {
		values   []float64
		p50, p95 float64
	}{
		{nil, 0, 0},
		{[]float64{7}, 7, 7},
		{seq(2), 1, 2},
		{seq(3), 2, 3},
		{seq(4), 2, 4},
		{seq(19), 10, 19},
		{seq(20), 10, 19},
		{seq(21), 11, 20},
		{seq(100), 50, 95},
		{seq(101), 51, 96},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(len(tc.values)), func(t *testing.T) {
			require.Equal(t, tc.p50, report.NearestRank(tc.values, 50))
			require.Equal(t, tc.p95, report.NearestRank(tc.values, 95))
		})
	}
}

type failWriter struct{}

var errDisk = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errDisk }

func TestWriteCSVError(t *testing.T) {
	rep := report.Build(fixture(), fixtureFrom, fixtureTo, "", fixtureNow, shanghai)
	require.ErrorIs(t, report.WriteCSV(failWriter{}, rep), errDisk)
}

// BenchmarkBuild: a month of requests (100 000, 7 channels) into one report.
func BenchmarkBuild(b *testing.B) {
	chans := []string{"web", "app", "wechat_miniprogram", "suishenban", "yiwangtongban", "sign_language", "sms"}
	reqs := make([]intakelog.Request, 100_000)
	for i := range reqs {
		fr, h := (i*37)%400, (i*7919)%100_000
		if i%10 == 0 {
			fr, h = none, none
		}
		recv := fixtureFrom.Add(time.Duration(i) * 26 * time.Second) // spread over ~30 days
		reqs[i] = req("r", chans[i%len(chans)], recv.Format(time.DateTime), fr, h)
	}
	from, to := fixtureFrom, fixtureFrom.AddDate(0, 1, 0)
	b.ReportAllocs()
	for b.Loop() {
		rep := report.Build(reqs, from, to, "", to, shanghai)
		if len(rep.Totals) != len(chans) {
			b.Fatal(len(rep.Totals))
		}
	}
}
