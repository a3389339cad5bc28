package report

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	treport "github.com/hotline12345/gateway/timeliness/report"
)

// Output formats, as the timeliness report's.
const (
	FormatJSON = treport.FormatJSON
	FormatCSV  = treport.FormatCSV
)

// Query is a parsed GET /v1/surveys/report query.
type Query struct {
	From, To time.Time // a record's time in [From, To)
	Group    string    // one of Groups
	Format   string    // FormatJSON or FormatCSV
}

// ParseQuery reads the query of GET /v1/surveys/report. from, to and
// format mean what they mean for GET /v1/timeliness (timeliness/report's
// ParseQuery, which reads them, so that both reports agree on a range:
// days in loc, to inclusive as a day, by default the last 7 days);
// group is one of Groups, by default GroupChannel. Every parameter may be
// given once. Errors are *apierr.Error with apierr.CodeInvalid and Fields
// naming every parameter at fault; they never echo the input.
func ParseQuery(q url.Values, accept string, now time.Time, loc *time.Location) (Query, error) {
	fields := map[string]string{}
	out := Query{Group: GroupChannel}
	switch v := q["group"]; {
	case len(v) > 1:
		fields["group"] = "may be given only once"
	case len(v) == 1 && v[0] != "":
		if !slices.Contains(Groups, v[0]) {
			fields["group"] = "must be one of " + strings.Join(Groups, ", ")
		}
		out.Group = v[0]
	}
	// Only the parameters the timeliness report shares: its channel filter is not ours.
	tq, err := treport.ParseQuery(url.Values{"from": q["from"], "to": q["to"], "format": q["format"]}, accept, now, loc)
	if err != nil {
		var ae *apierr.Error
		if !errors.As(err, &ae) {
			return Query{}, err
		}
		maps.Copy(fields, ae.Fields)
	}
	if len(fields) > 0 {
		names := slices.Sorted(maps.Keys(fields))
		return Query{}, apierr.Invalid("invalid query parameter: "+strings.Join(names, ", "), fields)
	}
	out.From, out.To, out.Format = tq.From, tq.To, tq.Format
	return out, nil
}

// Handler serves GET /v1/surveys/report (see ParseQuery for the
// parameters). forEach walks every follow-up record (the caller's store,
// e.g. followup.Service.ForEach); an error from fn stops it and is
// returned. Days are in Asia/Shanghai; as_of is clk.Now(). Bad parameters
// return *apierr.Error (CodeInvalid); an error from forEach is returned
// wrapped, for the gateway's one error mapping. The CSV form (WriteCSV) is
// served as text/csv with a file name. The handler checks no credentials:
// the route's middleware does.
func Handler(forEach func(fn func(*followup.Record) error) error, clk clock.Clock) echo.HandlerFunc {
	return func(c echo.Context) error {
		at := clk.Now()
		req := c.Request()
		loc := treport.Shanghai()
		q, err := ParseQuery(req.URL.Query(), req.Header.Get(echo.HeaderAccept), at, loc)
		if err != nil {
			return err
		}
		c.Response().Header().Add(echo.HeaderVary, echo.HeaderAccept)
		b := NewBuilder(q.From, q.To, q.Group, loc)
		ctx := req.Context()
		n := 0
		if err := forEach(func(r *followup.Record) error {
			if n++; n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err() // the client went away; stop reading the store
			}
			b.Add(r)
			return nil
		}); err != nil {
			return fmt.Errorf("report: cannot read the follow-up records: %w", err)
		}
		rep := b.Report(at)
		if q.Format == FormatCSV {
			var buf bytes.Buffer
			if err := WriteCSV(&buf, rep); err != nil {
				return err
			}
			name := fmt.Sprintf("satisfaction_%s_%s_%s.csv", rep.Group,
				rep.From.Format("20060102T150405"), rep.To.Format("20060102T150405"))
			c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
			return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
		}
		return c.JSON(http.StatusOK, rep)
	}
}
