package report_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/followup/report"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
)

// each walks recs as a store would: a fresh copy per record.
func each(recs []followup.Record) func(func(*followup.Record) error) error {
	return func(fn func(*followup.Record) error) error {
		for i := range recs {
			r := recs[i]
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	}
}

// serve runs GET /v1/surveys/report?query on an echo whose error handler
// renders errors as the gateway does ({"error": {code, message, fields}}).
func serve(t *testing.T, h echo.HandlerFunc, query string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	e.GET("/v1/surveys/report", h)
	req := httptest.NewRequest(http.MethodGet, "/v1/surveys/report?"+query, nil)
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func fixtureHandler() echo.HandlerFunc {
	return report.Handler(each(fixture()), clock.NewFake(fixtureNow))
}

func golden(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/fixture_channel.csv")
	require.NoError(t, err)
	return strings.ReplaceAll(string(b), "\n", "\r\n") // kept with LF in git
}

func TestFixtureCSV(t *testing.T) {
	for _, tc := range []struct{ query, accept string }{
		{"from=2024-05-01&to=2024-05-02&format=csv", ""},
		{"from=2024-05-01&to=2024-05-02&group=channel&format=csv", "application/json"}, // format wins over Accept
		{"from=2024-05-01&to=2024-05-02", "text/csv"},
		{"from=2024-05-01T00:00:00%2B08:00&to=2024-05-03T00:00:00%2B08:00", "application/json;q=0.9, text/csv"},
	} {
		t.Run(tc.query+" "+tc.accept, func(t *testing.T) {
			rec := serve(t, fixtureHandler(), tc.query, http.Header{"Accept": {tc.accept}})
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Equal(t, "text/csv; charset=utf-8", rec.Header().Get("Content-Type"))
			require.Equal(t, `attachment; filename="satisfaction_channel_20240501T000000_20240503T000000.csv"`, rec.Header().Get("Content-Disposition"))
			require.Equal(t, "Accept", rec.Header().Get("Vary"))
			require.Equal(t, golden(t), rec.Body.String())
		})
	}
}

// TestFixtureJSON checks the JSON against the same hand-made figures: the
// CSV golden's columns are the JSON keys (the group column is "group"),
// counts equal, rates within the golden's four decimals, empty is null.
func TestFixtureJSON(t *testing.T) {
	rec := serve(t, fixtureHandler(), "from=2024-05-01&to=2024-05-02", http.Header{"Accept": {"text/csv;q=0.5, application/json"}})
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "application/json")
	var body struct {
		From, To, AsOf, Group string
		Rows, Totals          []map[string]any
		Total                 map[string]any
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.Equal(t, "2024-05-01T00:00:00+08:00", body.From)
	require.Equal(t, "2024-05-03T00:00:00+08:00", body.To)
	require.Equal(t, "channel", body.Group)
	var asOf struct {
		AsOf string `json:"as_of"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &asOf))
	require.Equal(t, "2024-05-10T12:00:00+08:00", asOf.AsOf)

	lines, err := csv.NewReader(strings.NewReader(golden(t))).ReadAll()
	require.NoError(t, err)
	header := lines[0]
	got := slices.Concat(body.Rows, body.Totals, []map[string]any{body.Total})
	require.Len(t, got, len(lines)-1)
	for i, line := range lines[1:] {
		row := got[i]
		require.Len(t, row, len(header), "row %d has exactly the CSV's columns", i)
		for j, col := range header {
			key := col
			if j == 1 {
				key = "group"
			}
			v, ok := row[key]
			require.True(t, ok, "row %d lacks %s", i, key)
			switch want := line[j]; {
			case j < 2:
				require.Equal(t, want, v, "row %d %s", i, key)
			case want == "":
				require.Nil(t, v, "row %d %s", i, key)
			case strings.Contains(want, "."):
				w, _ := strconv.ParseFloat(want, 64)
				require.InDelta(t, w, v, 0.00005, "row %d %s", i, key)
			default:
				w, _ := strconv.Atoi(want)
				require.Equal(t, float64(w), v, "row %d %s", i, key)
			}
		}
	}
}

func TestFixtureByDistrictAndUnit(t *testing.T) {
	for group, want := range map[string]string{"district": districtTotals, "handling_unit": unitTotals} {
		t.Run(group, func(t *testing.T) {
			rec := serve(t, fixtureHandler(), "from=2024-05-01&to=2024-05-02&format=csv&group="+group, nil)
			require.Equal(t, http.StatusOK, rec.Code)
			body := rec.Body.String()
			require.True(t, strings.HasPrefix(body, "day,"+group+",finished,"), body)
			_, totals, ok := strings.Cut(body, "\r\ntotal,")
			require.True(t, ok)
			require.Equal(t, want, "total,"+totals)
			require.Equal(t, 1+8+5, strings.Count(body, "\r\n"), "header, 2 days × 4 groups, 4 totals and the overall")
		})
	}
}

func TestHandlerDefaultsToTheLastSevenDays(t *testing.T) {
	// Read on 2024-05-07: 05-01…05-07: the fixture and the record at 05-03 00:00.
	h := report.Handler(each(fixture()), clock.NewFake(local("2024-05-07 23:00:00")))
	rec := serve(t, h, "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var rep report.Report
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rep))
	require.True(t, day1.Equal(rep.From), "from %s", rep.From)
	require.True(t, local("2024-05-08 00:00:00").Equal(rep.To), "to %s", rep.To)
	require.Equal(t, report.GroupChannel, rep.Group)
	require.Equal(t, 1000+1, rep.Total.Finished)
	// Read on 2024-05-08: 05-02…05-08, one of the outside records (05-03) counts.
	h = report.Handler(each(fixture()), clock.NewFake(local("2024-05-08 09:00:00")))
	require.NoError(t, json.Unmarshal(serve(t, h, "", nil).Body.Bytes(), &rep))
	require.Equal(t, 400+1, rep.Total.Finished)
}

func TestHandlerBadParameters(t *testing.T) {
	tests := []struct {
		query  string
		fields []string
	}{
		{"group=agent", []string{"group"}},
		{"group=CHANNEL", []string{"group"}},
		{"group=channel&group=district", []string{"group"}},
		{"group=", nil}, // empty means the default
		{"from=yesterday", []string{"from"}},
		{"from=2024-05-02&to=2024-05-01", []string{"to"}},
		{"from=2023-05-01&to=2024-05-01", []string{"from", "to"}}, // 367 days
		{"to=2024-05-01T10:00:00&group=street", []string{"group", "to"}},
		{"from=2024-05-01&from=2024-05-02&format=xml&group=x", []string{"from", "group"}},
		{"format=xml", []string{"format"}},
		{"channel=fax", nil}, // not a parameter of this report
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			rec := serve(t, fixtureHandler(), tc.query, nil)
			if tc.fields == nil {
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				return
			}
			require.Equal(t, http.StatusBadRequest, rec.Code)
			require.Contains(t, rec.Header().Get("Content-Type"), "application/json")
			var body struct {
				Error struct {
					Code    string            `json:"code"`
					Message string            `json:"message"`
					Fields  map[string]string `json:"fields"`
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
			require.Equal(t, string(apierr.CodeInvalid), body.Error.Code)
			require.Equal(t, tc.fields, slices.Sorted(maps.Keys(body.Error.Fields)))
			require.Equal(t, "invalid query parameter: "+strings.Join(tc.fields, ", "), body.Error.Message)
			for _, echoed := range []string{"agent", "street", "yesterday", "xml"} {
				require.NotContains(t, rec.Body.String(), echoed, "errors do not echo input")
			}
		})
	}
	rec := serve(t, fixtureHandler(), "group=agent", nil)
	require.JSONEq(t, `{"error":{"code":"invalid_request","message":"invalid query parameter: group",
		"fields":{"group":"must be one of channel, handling_unit, district"}}}`, rec.Body.String())
}

func TestHandlerSourceError(t *testing.T) {
	boom := errors.New("store closed")
	h := report.Handler(func(func(*followup.Record) error) error { return boom }, clock.System)
	req := httptest.NewRequest(http.MethodGet, "/v1/surveys/report", nil)
	err := h(echo.New().NewContext(req, httptest.NewRecorder()))
	require.ErrorIs(t, err, boom)
	var ae *apierr.Error
	require.False(t, errors.As(err, &ae), "left to the gateway's error mapping")
}

func TestHandlerStopsWhenClientGone(t *testing.T) {
	h := report.Handler(each(make([]followup.Record, 5000)), clock.System)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/v1/surveys/report", nil).WithContext(ctx)
	err := h(echo.New().NewContext(req, httptest.NewRecorder()))
	require.ErrorIs(t, err, context.Canceled)
}

// FuzzParseQuery: any query gives a valid query or an apierr naming fields.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "group=district", "group=x&from=2024-05-01", "group=&group=", "from=2024-05-01&to=2024-05-02&format=csv", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		q, err := report.ParseQuery(v, "", fixtureNow, day1.Location())
		if err != nil {
			var ae *apierr.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, apierr.CodeInvalid, ae.Code)
			require.NotEmpty(t, ae.Fields)
			return
		}
		require.Contains(t, report.Groups, q.Group)
		require.True(t, q.To.After(q.From))
	})
}
