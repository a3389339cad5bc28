package report

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// Output formats of GET /v1/timeliness.
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// Limits of a report's range.
const (
	DefaultDays = 7
	MaxRange    = 366 * 24 * time.Hour
)

var shanghai = loadShanghai()

// loadShanghai returns Asia/Shanghai from the system's zone database, or
// the equivalent fixed UTC+8 (China has had no daylight saving since 1991)
// on hosts without one.
func loadShanghai() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*60*60)
}

// Shanghai is the location the handler reports days in.
func Shanghai() *time.Location { return shanghai }

// Query is a parsed GET /v1/timeliness query.
type Query struct {
	From, To time.Time // received_at in [From, To)
	Channel  string    // empty: all channels
	Format   string    // FormatJSON or FormatCSV
}

// ParseQuery reads the query of GET /v1/timeliness:
//
//   - from, to: RFC 3339 times, or calendar days YYYY-MM-DD in loc. A day as
//     from means its first instant; a day as to includes that day (the range
//     ends at the next midnight), so from=2024-05-01&to=2024-05-01 is one
//     day. An RFC 3339 to is exclusive. Defaults: the last DefaultDays
//     calendar days including today (to: the coming midnight; from: DefaultDays
//     days before to). to must be after from, and the range at most MaxRange.
//   - channel: optional, one of normalize.Channels.
//   - format: json or csv; if absent, csv when accept prefers text/csv over
//     application/json, else json.
//
// Every parameter may be given once. Errors are *apierr.Error with
// apierr.CodeInvalid and Fields naming the parameters at fault; they never
// echo the input.
func ParseQuery(q url.Values, accept string, now time.Time, loc *time.Location) (Query, error) {
	if loc == nil {
		loc = time.UTC
	}
	fields := map[string]string{}
	get := func(name string) string {
		v := q[name]
		if len(v) > 1 {
			fields[name] = "may be given only once"
			return ""
		}
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	fromS, toS, channel, format := get("from"), get("to"), get("channel"), get("format")
	if len(fields) > 0 {
		return Query{}, invalid(fields)
	}

	var out Query
	var fromOK, toOK bool
	if fromS != "" {
		t, _, err := parseTime(fromS, loc)
		if err != nil {
			fields["from"] = err.Error()
		}
		out.From, fromOK = t, err == nil
	}
	if toS != "" {
		t, dateOnly, err := parseTime(toS, loc)
		if err != nil {
			fields["to"] = err.Error()
		}
		if dateOnly {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		}
		out.To, toOK = t, err == nil
	}
	switch {
	case fromS == "" && toS == "":
		y, m, d := now.In(loc).Date()
		out.To = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		out.From = out.To.AddDate(0, 0, -DefaultDays)
	case fromS == "" && toOK:
		out.From = out.To.AddDate(0, 0, -DefaultDays)
	case toS == "" && fromOK:
		y, m, d := now.In(loc).Date()
		out.To = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	if len(fields) == 0 {
		switch {
		case !inYearRange(out.From, loc):
			fields["from"] = "must be within the years 0001 to 9999"
		case !inYearRange(out.To, loc):
			fields["to"] = "must be within the years 0001 to 9999"
		case !out.To.After(out.From):
			fields["to"] = "must be after from"
		case out.To.Sub(out.From) > MaxRange:
			msg := fmt.Sprintf("the range from–to may span at most %d days", int(MaxRange/(24*time.Hour)))
			fields["from"], fields["to"] = msg, msg
		}
	}

	if channel != "" && !slices.Contains(normalize.Channels, channel) {
		fields["channel"] = "must be one of " + strings.Join(normalize.Channels, ", ")
	}
	out.Channel = channel

	switch format {
	case FormatJSON, FormatCSV:
		out.Format = format
	case "":
		out.Format = FormatJSON
		if prefersCSV(accept) {
			out.Format = FormatCSV
		}
	default:
		fields["format"] = "must be json or csv"
	}
	if len(fields) > 0 {
		return Query{}, invalid(fields)
	}
	return out, nil
}

func invalid(fields map[string]string) error {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return apierr.Invalid("invalid query parameter: "+strings.Join(names, ", "), fields)
}

// inYearRange reports whether t can be written as RFC 3339 in loc (the
// report's JSON shows From and To there).
func inYearRange(t time.Time, loc *time.Location) bool {
	y := t.In(loc).Year()
	return y >= 1 && y <= 9999
}

// parseTime reads an RFC 3339 time or a YYYY-MM-DD day (its midnight in loc).
func parseTime(s string, loc *time.Location) (t time.Time, dateOnly bool, err error) {
	if len(s) == len(time.DateOnly) {
		if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
			return t, true, nil
		}
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, fmt.Errorf("must be an RFC 3339 time (2006-01-02T15:04:05+08:00) or a day (2006-01-02)")
}

// prefersCSV reports whether an Accept header ranks text/csv above
// application/json (wildcards count for neither).
func prefersCSV(accept string) bool {
	if accept == "" {
		return false
	}
	csvQ, jsonQ := 0.0, 0.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json":
			jsonQ = max(jsonQ, q)
		}
	}
	return csvQ > jsonQ
}

// Source iterates over request records, as intakelog.Log.ForEachRequest
// does (a method value log.ForEachRequest is one); an error from fn stops
// it and is returned.
type Source func(fn func(*intakelog.Request) error) error

// Handler serves GET /v1/timeliness (see ParseQuery for the parameters) over
// the records src yields, judging open clocks at clk.Now() and reporting days
// in Asia/Shanghai. Bad parameters return *apierr.Error (CodeInvalid); an
// error from src is returned wrapped, for the gateway's one error mapping.
// The CSV form (WriteCSV) is served as text/csv with a file name.
func Handler(src Source, clk clock.Clock) echo.HandlerFunc {
	return func(c echo.Context) error {
		at := clk.Now()
		req := c.Request()
		q, err := ParseQuery(req.URL.Query(), req.Header.Get(echo.HeaderAccept), at, shanghai)
		if err != nil {
			return err
		}
		c.Response().Header().Add(echo.HeaderVary, echo.HeaderAccept)
		b := NewBuilder(q.From, q.To, q.Channel, at, shanghai)
		ctx := req.Context()
		n := 0
		if err := src(func(r *intakelog.Request) error {
			if n++; n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err() // the client went away; stop reading the log
			}
			b.Add(r)
			return nil
		}); err != nil {
			return fmt.Errorf("report: cannot read the request records: %w", err)
		}
		rep := b.Report()
		if q.Format == FormatCSV {
			var buf bytes.Buffer
			if err := WriteCSV(&buf, rep); err != nil {
				return err
			}
			name := fmt.Sprintf("timeliness_%s_%s.csv", rep.From.Format("20060102T150405"), rep.To.Format("20060102T150405"))
			c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
			return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
		}
		return c.JSON(http.StatusOK, rep)
	}
}
