package report_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/timeliness/report"
)

// sliceSource yields reqs as intakelog.Log.ForEachRequest would.
func sliceSource(reqs []intakelog.Request) report.Source {
	return func(fn func(*intakelog.Request) error) error {
		for i := range reqs {
			r := reqs[i] // a copy, as the log decodes a fresh record each time
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	}
}

func serve(t *testing.T, h echo.HandlerFunc, query string, header http.Header) (*httptest.ResponseRecorder, error) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/v1/timeliness?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	err := h(echo.New().NewContext(req, rec))
	return rec, err
}

func fixtureHandler() echo.HandlerFunc {
	return report.Handler(sliceSource(fixture()), clock.NewFake(fixtureNow))
}

func TestHandlerJSON(t *testing.T) {
	for _, q := range []string{
		"from=2024-05-01&to=2024-05-02", // days: to is inclusive
		"from=2024-05-01T00:00:00%2B08:00&to=2024-05-03T00:00:00%2B08:00",
		"from=2024-04-30T16:00:00Z&to=2024-05-02T16:00:00Z&format=json",
	} {
		t.Run(q, func(t *testing.T) {
			rec, err := serve(t, fixtureHandler(), q, http.Header{"Accept": {"text/csv;q=0.5, application/json"}})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Contains(t, rec.Header().Get("Content-Type"), "application/json")
			require.JSONEq(t, fixtureJSON, rec.Body.String())
		})
	}
}

func TestHandlerCSV(t *testing.T) {
	for _, tc := range []struct {
		query  string
		accept string
	}{
		{"from=2024-05-01&to=2024-05-02&format=csv", ""},
		{"from=2024-05-01&to=2024-05-02&format=csv", "application/json"}, // format wins over Accept
		{"from=2024-05-01&to=2024-05-02", "text/csv"},
		{"from=2024-05-01&to=2024-05-02", "application/json;q=0.9, text/csv"},
	} {
		t.Run(tc.query+" "+tc.accept, func(t *testing.T) {
			rec, err := serve(t, fixtureHandler(), tc.query, http.Header{"Accept": {tc.accept}})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, "text/csv; charset=utf-8", rec.Header().Get("Content-Type"))
			require.Equal(t, `attachment; filename="timeliness_20240501T000000_20240503T000000.csv"`, rec.Header().Get("Content-Disposition"))
			require.Equal(t, "Accept", rec.Header().Get("Vary"))
			require.Equal(t, fixtureCSV, rec.Body.String())
		})
	}
}

func TestHandlerChannel(t *testing.T) {
	rec, err := serve(t, fixtureHandler(), "from=2024-05-01&to=2024-05-02&channel=web", nil)
	require.NoError(t, err)
	require.Contains(t, rec.Body.String(), `"channel":"web"`)
	require.NotContains(t, rec.Body.String(), `"sms"`)
}

func TestParseQueryDefaults(t *testing.T) {
	now := local("2024-05-02 23:59:00")
	day := func(s string) time.Time { return local(s + " 00:00:00") }
	tests := []struct {
		query    string
		from, to time.Time
	}{
		{"", day("2024-04-26"), day("2024-05-03")}, // today and the 6 days before
		{"from=2024-05-01", day("2024-05-01"), day("2024-05-03")},
		{"to=2024-05-01", day("2024-04-25"), day("2024-05-02")},
		{"from=2024-05-01&to=2024-05-01", day("2024-05-01"), day("2024-05-02")},
		{"from=2023-05-02&to=2024-05-01", day("2023-05-02"), day("2024-05-02")}, // 366 days: the most
		{"from=2024-05-01T10:00:00Z&to=2024-05-01T10:00:01Z", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 10, 0, 1, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			q, err := report.ParseQuery(v, "", now, shanghai)
			require.NoError(t, err)
			require.True(t, tc.from.Equal(q.From), "from %s", q.From)
			require.True(t, tc.to.Equal(q.To), "to %s", q.To)
			require.Equal(t, report.FormatJSON, q.Format)
		})
	}
}

func TestHandlerBadParameters(t *testing.T) {
	tests := []struct {
		query  string
		fields []string
	}{
		{"from=yesterday", []string{"from"}},
		{"from=2024-13-01", []string{"from"}},
		{"to=2024-05-01T10:00:00", []string{"to"}}, // no zone
		{"from=2024-05-01&to=nope&channel=fax&format=xml", []string{"channel", "format", "to"}},
		{"from=2024-05-02&to=2024-05-01", []string{"to"}},
		{"from=2024-05-01T10:00:00Z&to=2024-05-01T10:00:00Z", []string{"to"}},
		{"from=2023-05-01&to=2024-05-01", []string{"from", "to"}}, // 367 days
		{"from=2020-01-01", []string{"from", "to"}},
		{"from=9999-12-01&to=9999-12-31", []string{"to"}}, // would end in the year 10000
		{"from=0000-12-31T10:00:00Z&to=0001-01-02", []string{"from"}},
		{"channel=WEB", []string{"channel"}},
		{"format=", nil}, // empty means the default
		{"format=CSV", []string{"format"}},
		{"from=2024-05-01&from=2024-05-02", []string{"from"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			_, err := serve(t, fixtureHandler(), tc.query, nil)
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			var ae *apierr.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, apierr.CodeInvalid, ae.Code)
			require.Equal(t, http.StatusBadRequest, apierr.Status(ae.Code))
			var got []string
			for k := range ae.Fields {
				got = append(got, k)
			}
			slices.Sort(got)
			require.Equal(t, tc.fields, got)
			require.NotContains(t, ae.Message+strings.Join(slices.Collect(maps.Values(ae.Fields)), " "), "yesterday", "errors do not echo input")
		})
	}
}

func TestHandlerSourceError(t *testing.T) {
	boom := errors.New("store closed")
	h := report.Handler(func(func(*intakelog.Request) error) error { return boom }, clock.System)
	_, err := serve(t, h, "", nil)
	require.ErrorIs(t, err, boom)
	var ae *apierr.Error
	require.False(t, errors.As(err, &ae), "left to the gateway's error mapping")
}

func TestHandlerStopsWhenClientGone(t *testing.T) {
	reqs := make([]intakelog.Request, 5000)
	h := report.Handler(sliceSource(reqs), clock.System)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest(http.MethodGet, "/v1/timeliness", nil).WithContext(ctx)
	err := h(echo.New().NewContext(req, httptest.NewRecorder()))
	require.ErrorIs(t, err, context.Canceled)
}

// TestHandlerOverIntakeLog reads real request records through
// intakelog.Log.ForEachRequest.
func TestHandlerOverIntakeLog(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "gw.db"), store.Options{NoSync: true}, intakelog.Buckets...)
	require.NoError(t, err)
	defer db.Close()
	l := intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, clock.NewFake(fixtureNow))
	ctx := context.Background()
	for _, r := range fixture() {
		env := &normalize.Envelope{Schema: normalize.SchemaEnvelope, ID: r.ID + "-0123456789abcdef", IdempotencyKey: r.ID,
			Channel: r.Channel, ReceivedAt: r.ReceivedAt, CitizenKey: "k", Citizen: normalize.Citizen{ChannelUserID: "u"},
			SLA: normalize.SLA{FirstResponseDue: r.FirstResponseDue, HandlingDue: r.HandlingDue}}
		_, err := l.Accept(ctx, env, intakelog.AcceptOptions{})
		require.NoError(t, err)
		require.NoError(t, l.UpdateRequest(ctx, env.ID, func(_ *store.Tx, rec *intakelog.Request) (bool, error) {
			rec.FirstResponseAt, rec.HandledAt = r.FirstResponseAt, r.HandledAt
			return true, nil
		}))
	}
	rec, err := serve(t, report.Handler(l.ForEachRequest, clock.NewFake(fixtureNow)), "from=2024-05-01&to=2024-05-02", nil)
	require.NoError(t, err)
	require.JSONEq(t, fixtureJSON, rec.Body.String())
}

// FuzzParseQuery: any query string and Accept header give either a valid
// range or an apierr naming fields; never a panic.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "from=2024-05-01&to=2024-05-02", "from=2024-05-01T00:00:00%2B08:00&to=2024-05-03T00:00:00Z",
		"to=2024-02-30", "from=9999-12-31", "to=0000-01-01", "from=2024-05-01&from=x", "channel=sms&format=csv", "format=%00",
		"from=2024-05-01T00:00:00.123456789-23:59&to=2024-05-01T23:00:00Z", "%zz", ";;&&==="} {
		f.Add(s, "text/csv;q=0.9, application/json;q=0.8")
	}
	f.Add("", "text/csv;q=abc")
	f.Add("", "*/*")
	f.Fuzz(func(t *testing.T, raw, accept string) {
		v, _ := url.ParseQuery(raw)
		q, err := report.ParseQuery(v, accept, fixtureNow, shanghai)
		if err != nil {
			var ae *apierr.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, apierr.CodeInvalid, ae.Code)
			require.NotEmpty(t, ae.Fields)
			return
		}
		require.True(t, q.To.After(q.From))
		_, err = json.Marshal(report.Build(nil, q.From, q.To, q.Channel, fixtureNow, shanghai))
		require.NoError(t, err, "the range must be writable as JSON")
		require.LessOrEqual(t, q.To.Sub(q.From), report.MaxRange)
		require.Contains(t, []string{report.FormatJSON, report.FormatCSV}, q.Format)
		if q.Channel != "" {
			require.Contains(t, normalize.Channels, q.Channel)
		}
	})
}
