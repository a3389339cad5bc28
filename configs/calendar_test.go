package configs_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
)

func TestParseCalendar(t *testing.T) {
	days := func(ds ...time.Weekday) (out [7]bool) {
		for _, d := range ds {
			out[d] = true
		}
		return out
	}
	tests := []struct {
		in      string
		days    [7]bool
		open    time.Duration
		close   time.Duration
		zone    string
		wantErr string
	}{
		{in: "Mon-Fri 09:00-17:00 Asia/Shanghai", days: days(1, 2, 3, 4, 5), open: 9 * time.Hour, close: 17 * time.Hour, zone: "Asia/Shanghai"},
		{in: "  mon,WED,fri  08:30-24:00  UTC ", days: days(1, 3, 5), open: 8*time.Hour + 30*time.Minute, close: 24 * time.Hour, zone: "UTC"},
		{in: "Fri-Mon 00:00-06:00 Asia/Urumqi", days: days(5, 6, 0, 1), close: 6 * time.Hour, zone: "Asia/Urumqi"},
		{in: "Mon-Fri,Sat 09:00-12:00 Asia/Shanghai", days: days(1, 2, 3, 4, 5, 6), open: 9 * time.Hour, close: 12 * time.Hour, zone: "Asia/Shanghai"},
		{in: "Sun 09:00-10:00 Asia/Shanghai", days: days(0), open: 9 * time.Hour, close: 10 * time.Hour, zone: "Asia/Shanghai"},
		{in: "", wantErr: `want "Days HH:MM-HH:MM Zone"`},
		{in: "Mon-Fri 09:00-17:00", wantErr: `want "Days HH:MM-HH:MM Zone"`},
		{in: "Monday 09:00-17:00 UTC", wantErr: `day "Monday"`},
		{in: "Mon- 09:00-17:00 UTC", wantErr: `day "Mon-"`},
		{in: "Mon,,Tue 09:00-17:00 UTC", wantErr: `day ""`},
		{in: "Mon-Fri 0900-1700 UTC", wantErr: `time "0900"`},
		{in: "Mon-Fri 9:00-17:00 UTC", wantErr: `time "9:00"`},
		{in: "Mon-Fri +9:00-17:00 UTC", wantErr: `time "+9:00"`},
		{in: "Mon-Fri 09:60-17:00 UTC", wantErr: `time "09:60"`},
		{in: "Mon-Fri 09:00-24:01 UTC", wantErr: `time "24:01"`},
		{in: "Mon-Fri 17:00-09:00 UTC", wantErr: "closing must be after opening"},
		{in: "Mon-Fri 09:00-09:00 UTC", wantErr: "closing must be after opening"},
		{in: "Mon-Fri 09:00-17:00 Nowhere/City", wantErr: `zone "Nowhere/City"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := configs.ParseCalendar(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.days, c.Days)
			require.Equal(t, tt.open, c.Open)
			require.Equal(t, tt.close, c.Close)
			require.Equal(t, tt.zone, c.Location.String())
		})
	}
}

func FuzzParseCalendar(f *testing.F) {
	for _, s := range []string{"Mon-Fri 09:00-17:00 Asia/Shanghai", "Sun-Sat 00:00-24:00 UTC", "x y z", "Mon-Fri 9-5 Local", "Fri-Mon 23:59-24:00 Etc/GMT+8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := configs.ParseCalendar(s)
		if err != nil {
			return
		}
		require.NotNil(t, c.Location)
		require.Less(t, c.Open, c.Close)
		require.LessOrEqual(t, c.Close, 24*time.Hour)
		require.Contains(t, c.Days, true)
	})
}

func TestParseQuietHours(t *testing.T) {
	for _, tc := range []struct {
		span, zone string
		from, to   time.Duration
		bad        bool
	}{
		{span: "21:00-08:00", zone: "Asia/Shanghai", from: 21 * time.Hour, to: 8 * time.Hour},
		{span: "12:30-14:00", zone: "UTC", from: 12*time.Hour + 30*time.Minute, to: 14 * time.Hour},
		{span: "off", zone: "Asia/Shanghai"},
		{span: "21:00", zone: "Asia/Shanghai", bad: true},
		{span: "25:00-08:00", zone: "Asia/Shanghai", bad: true},
		{span: "9-8", zone: "Asia/Shanghai", bad: true},
		{span: "21:00-08:00", zone: "Mars/Olympus", bad: true},
		{span: "21:00-08:00", zone: "", bad: true},
	} {
		q, err := configs.ParseQuietHours(tc.span, tc.zone)
		if tc.bad {
			require.Error(t, err, tc.span+" "+tc.zone)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.from, q.From)
		require.Equal(t, tc.to, q.To)
		require.Equal(t, tc.zone, q.Location.String())
	}
}
