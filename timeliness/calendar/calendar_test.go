package calendar_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/timeliness/calendar"
)

var shanghai = mustLoad("Asia/Shanghai")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func cst(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, shanghai)
}

func utc(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}

// 2025 National Day: 1–8 October closed, Sunday 28 September and Saturday
// 11 October worked instead.
var (
	nationalDay = []string{"2025-10-01", "2025-10-02", "2025-10-03", "2025-10-04", "2025-10-05", "2025-10-06", "2025-10-07", "2025-10-08"}
	makeUpDays  = []string{"2025-09-28", "2025-10-11"}
)

func TestOpen(t *testing.T) {
	def, err := calendar.Parse(calendar.DefaultSpec, nationalDay, makeUpDays)
	require.NoError(t, err)
	split, err := calendar.Parse("Mon-Fri 09:00-12:00,13:30-17:00; Sat 09:00-12:00 Asia/Shanghai", nil, []string{"2025-03-09"})
	require.NoError(t, err)
	mwf, err := calendar.Parse("mon,WED,Fri 08:30-12:00 Asia/Shanghai", nil, nil)
	require.NoError(t, err)
	wrap, err := calendar.Parse("Fri-Mon 00:00-24:00 UTC", nil, nil)
	require.NoError(t, err)

	tests := []struct {
		name string
		cal  *calendar.Calendar
		at   time.Time
		want bool
	}{
		{"Friday 16:59 open", def, cst(2025, 3, 7, 16, 59, 0), true},
		{"Friday 16:59 open, given in UTC", def, utc(2025, 3, 7, 8, 59, 0), true},
		{"Friday 16:59:59.999 open", def, cst(2025, 3, 7, 16, 59, 59).Add(999 * time.Millisecond), true},
		{"Friday 17:00 closed (end exclusive)", def, cst(2025, 3, 7, 17, 0, 0), false},
		{"Friday 17:01 closed", def, cst(2025, 3, 7, 17, 1, 0), false},
		{"Friday 17:01 closed, given in UTC", def, utc(2025, 3, 7, 9, 1, 0), false},
		{"Friday 09:00 open (start inclusive)", def, cst(2025, 3, 7, 9, 0, 0), true},
		{"Friday 08:59:59 closed", def, cst(2025, 3, 7, 8, 59, 59), false},
		{"Friday 01:00 UTC is 09:00 CST open", def, utc(2025, 3, 7, 1, 0, 0), true},
		{"Thursday 23:30 UTC is Friday 07:30 CST closed", def, utc(2025, 3, 6, 23, 30, 0), false},
		{"Saturday closed", def, cst(2025, 3, 8, 10, 0, 0), false},
		{"Sunday closed", def, cst(2025, 3, 9, 10, 0, 0), false},
		{"holiday Wednesday closed", def, cst(2025, 10, 1, 10, 0, 0), false},
		{"holiday Wednesday closed, given in UTC", def, utc(2025, 10, 1, 2, 0, 0), false},
		{"last holiday closed", def, cst(2025, 10, 8, 16, 0, 0), false},
		{"day after holidays open", def, cst(2025, 10, 9, 9, 0, 0), true},
		{"make-up Saturday open", def, cst(2025, 10, 11, 10, 0, 0), true},
		{"make-up Saturday normal hours end", def, cst(2025, 10, 11, 17, 0, 0), false},
		{"make-up Sunday open", def, cst(2025, 9, 28, 16, 59, 0), true},
		{"ordinary Sunday after closed", def, cst(2025, 10, 12, 10, 0, 0), false},
		{"lunch break closed", split, cst(2025, 3, 7, 12, 30, 0), false},
		{"afternoon open", split, cst(2025, 3, 7, 13, 30, 0), true},
		{"Saturday morning open", split, cst(2025, 3, 8, 11, 59, 0), true},
		{"Saturday afternoon closed", split, cst(2025, 3, 8, 13, 0, 0), false},
		{"make-up Sunday takes Monday's hours", split, cst(2025, 3, 9, 14, 0, 0), true},
		{"make-up Sunday lunch closed", split, cst(2025, 3, 9, 12, 30, 0), false},
		{"Mon,Wed,Fri: Tuesday closed", mwf, cst(2025, 3, 4, 9, 0, 0), false},
		{"Mon,Wed,Fri: Wednesday 08:30 open", mwf, cst(2025, 3, 5, 8, 30, 0), true},
		{"Fri-Mon wraps: Sunday open", wrap, utc(2025, 3, 9, 23, 59, 59), true},
		{"Fri-Mon wraps: Monday open", wrap, utc(2025, 3, 10, 0, 0, 0), true},
		{"Fri-Mon wraps: Tuesday closed", wrap, utc(2025, 3, 11, 0, 0, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.cal.Open(tc.at))
		})
	}
}

func TestNextOpen(t *testing.T) {
	def, err := calendar.Parse(calendar.DefaultSpec, nationalDay, makeUpDays)
	require.NoError(t, err)
	split, err := calendar.Parse("Mon-Fri 09:00-12:00,13:30-17:00 Asia/Shanghai", nil, nil)
	require.NoError(t, err)
	ny, err := calendar.Parse("Mon-Fri 09:00-17:00; Sun 02:00-04:00 America/New_York", nil, nil)
	require.NoError(t, err)

	tests := []struct {
		name string
		cal  *calendar.Calendar
		at   time.Time
		want time.Time
	}{
		{"open now returns t", def, cst(2025, 3, 7, 10, 11, 12), cst(2025, 3, 7, 10, 11, 12)},
		{"early morning same day", def, cst(2025, 3, 7, 7, 0, 0), cst(2025, 3, 7, 9, 0, 0)},
		{"Friday 17:00 to Monday 09:00", def, cst(2025, 3, 7, 17, 0, 0), cst(2025, 3, 10, 9, 0, 0)},
		{"Saturday in UTC to Monday", def, utc(2025, 3, 8, 4, 0, 0), utc(2025, 3, 10, 1, 0, 0)},
		{"Friday late UTC (Saturday CST) to Monday", def, utc(2025, 3, 7, 20, 0, 0), cst(2025, 3, 10, 9, 0, 0)},
		{"before National Day to 9 October", def, cst(2025, 9, 30, 17, 30, 0), cst(2025, 10, 9, 9, 0, 0)},
		{"during holidays to 9 October", def, cst(2025, 10, 3, 12, 0, 0), cst(2025, 10, 9, 9, 0, 0)},
		{"Friday evening to make-up Saturday", def, cst(2025, 10, 10, 18, 0, 0), cst(2025, 10, 11, 9, 0, 0)},
		{"Friday evening to make-up Sunday", def, cst(2025, 9, 26, 18, 0, 0), cst(2025, 9, 28, 9, 0, 0)},
		{"lunch break to afternoon", split, cst(2025, 3, 7, 12, 0, 0), cst(2025, 3, 7, 13, 30, 0)},
		{"DST: Sunday 02:00 does not exist, opens 03:00 EDT", ny, time.Date(2025, 3, 8, 18, 0, 0, 0, time.UTC), time.Date(2025, 3, 9, 7, 0, 0, 0, time.UTC)},
		{"DST: Monday 09:00 EDT", ny, time.Date(2025, 3, 9, 12, 0, 0, 0, time.UTC), time.Date(2025, 3, 10, 13, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cal.NextOpen(tc.at)
			require.True(t, tc.want.Equal(got), "want %v, got %v", tc.want, got)
			require.True(t, tc.cal.Open(got))
		})
	}
}

func TestNextOpenSearchWindow(t *testing.T) {
	// Wednesday 1 January 2025; day SearchDays (60) is Sunday 2 March and
	// day 61 Monday 3 March.
	start := cst(2025, 1, 1, 0, 0, 0)
	var closed []string
	for i := 0; i < calendar.SearchDays; i++ {
		closed = append(closed, start.AddDate(0, 0, i).Format(time.DateOnly))
	}
	lastDay := start.AddDate(0, 0, calendar.SearchDays)
	require.Equal(t, time.Sunday, lastDay.Weekday())

	// Nothing open on days 0..60: Monday 3 March is beyond the window.
	c, err := calendar.Parse(calendar.DefaultSpec, closed, nil)
	require.NoError(t, err)
	require.True(t, c.NextOpen(start).IsZero())

	// A make-up Sunday on day 60 is still found.
	c, err = calendar.Parse(calendar.DefaultSpec, closed, []string{lastDay.Format(time.DateOnly)})
	require.NoError(t, err)
	require.True(t, cst(2025, 3, 2, 9, 0, 0).Equal(c.NextOpen(start)))
}

func TestLocation(t *testing.T) {
	c, err := calendar.Parse(calendar.DefaultSpec, nil, nil)
	require.NoError(t, err)
	require.Equal(t, "Asia/Shanghai", c.Location().String())
	require.Equal(t, shanghai.String(), c.NextOpen(utc(2025, 3, 8, 0, 0, 0)).Location().String())
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name               string
		spec               string
		holidays, workdays []string
	}{
		{"empty", "", nil, nil},
		{"blank", "  ", nil, nil},
		{"only separator", ";", nil, nil},
		{"days only", "Mon-Fri", nil, nil},
		{"no zone", "Mon-Fri 09:00-17:00", nil, nil},
		{"extra field", "Mon-Fri 09:00-17:00 Asia/Shanghai extra", nil, nil},
		{"unknown day", "Funday 09:00-17:00 Asia/Shanghai", nil, nil},
		{"open day range", "Mon- 09:00-17:00 Asia/Shanghai", nil, nil},
		{"three-part day range", "Mon-Tue-Wed 09:00-17:00 Asia/Shanghai", nil, nil},
		{"empty day list item", "Mon,,Fri 09:00-17:00 Asia/Shanghai", nil, nil},
		{"single-digit hour", "Mon-Fri 9:00-17:00 Asia/Shanghai", nil, nil},
		{"no range", "Mon-Fri 09:00 Asia/Shanghai", nil, nil},
		{"end before start", "Mon-Fri 17:00-09:00 Asia/Shanghai", nil, nil},
		{"empty range", "Mon-Fri 09:00-09:00 Asia/Shanghai", nil, nil},
		{"minute 60", "Mon-Fri 09:60-17:00 Asia/Shanghai", nil, nil},
		{"hour 25", "Mon-Fri 09:00-25:00 Asia/Shanghai", nil, nil},
		{"24:01", "Mon-Fri 09:00-24:01 Asia/Shanghai", nil, nil},
		{"24:00 as start", "Mon-Fri 24:00-24:00 Asia/Shanghai", nil, nil},
		{"unknown zone", "Mon-Fri 09:00-17:00 Mars/Olympus_Mons", nil, nil},
		{"Local zone", "Mon-Fri 09:00-17:00 Local", nil, nil},
		{"path as zone", "Mon-Fri 09:00-17:00 ../../etc/passwd", nil, nil},
		{"two zones", "Mon-Fri 09:00-17:00 Asia/Shanghai; Sat 09:00-12:00 Europe/Berlin", nil, nil},
		{"bad second segment", "Mon-Fri 09:00-17:00 Asia/Shanghai; Sat", nil, nil},
		{"too long", "Mon-Fri 09:00-17:00 Asia/Shanghai" + string(make([]byte, 2000)), nil, nil},
		{"holiday not a date", calendar.DefaultSpec, []string{"2025/10/01"}, nil},
		{"holiday 30 February", calendar.DefaultSpec, []string{"2025-02-30"}, nil},
		{"holiday single digits", calendar.DefaultSpec, []string{"2025-1-5"}, nil},
		{"empty holiday", calendar.DefaultSpec, []string{""}, nil},
		{"workday not a date", calendar.DefaultSpec, nil, []string{"tomorrow"}},
		{"holiday and workday", calendar.DefaultSpec, []string{"2025-10-11"}, []string{"2025-10-11"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := calendar.Parse(tc.spec, tc.holidays, tc.workdays)
			require.ErrorIs(t, err, calendar.ErrSpec)
			require.Nil(t, c)
		})
	}
}

func TestParseAccepts(t *testing.T) {
	for _, spec := range []string{
		calendar.DefaultSpec,
		"Mon,Wed,Fri 08:30-12:00 Asia/Shanghai",
		"Mon-Fri 09:00-12:00; Mon-Fri 13:00-17:00 Asia/Shanghai",
		"Mon-Fri 09:00-12:00 Asia/Shanghai; Sat 09:00-12:00 Asia/Shanghai",
		"Mon-Wed,Fri 00:00-24:00 UTC",
		"  Sun   10:00-11:00   Etc/GMT-8  ",
	} {
		t.Run(spec, func(t *testing.T) {
			_, err := calendar.Parse(spec, []string{" 2025-10-01 "}, nil)
			require.NoError(t, err)
		})
	}
}

func BenchmarkNextOpen(b *testing.B) {
	c, err := calendar.Parse(calendar.DefaultSpec, nationalDay, makeUpDays)
	require.NoError(b, err)
	at := cst(2025, 9, 30, 17, 30, 0)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.NextOpen(at)
	}
}
