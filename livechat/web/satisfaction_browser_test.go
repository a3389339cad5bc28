package web_test

// Browser test of issue 20 on the console: the wall's satisfaction panel
// reads GET /v1/surveys/report (the real followup/report handler) with the
// supervisor's token, shows the figures per channel, per district after the
// group selector changes, downloads the CSV, and says why when the gateway
// refuses (403, 401) or the network fails. UPDATE_SCREENSHOTS=1 writes
// console-satisfaction.png into docs/screenshots.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/auth/agentlogin"
	"github.com/hotline12345/gateway/auth/loginguard"
	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/followup"
	surveys "github.com/hotline12345/gateway/followup/report"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/livechat/web"
	treport "github.com/hotline12345/gateway/timeliness/report"
)

// Ways the test server answers GET /v1/surveys/report.
const (
	reportServe     int32 = iota
	reportForbidden       // 403, as for an agent who is not a supervisor
	reportNoToken         // 401, as a gateway that takes only the operator token
	reportDrop            // the connection closes: a network error
)

// newReportDesk is newDesk (a hub, the pages, the agent login on one origin)
// plus GET /v1/surveys/report: the real report handler over recs, behind
// the check the gateway makes of an agent's token (a supervisor's); mode
// (one of the report… constants) makes it refuse or fail instead; asked
// counts the requests.
func newReportDesk(t *testing.T, agents string, recs []followup.Record, mode, asked *atomic.Int32) *desk {
	t.Helper()
	chrome := chromePath(t)
	hub := lt.StartHub(t, agents, clock.System, "")
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	web.Mount(e)
	hub.Mount(e)
	guard := loginguard.New(configs.Default().Auth.Login, loginguard.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	agentlogin.New(guard, hub, hub.Tokens, time.Hour).Mount(e)
	forEach := func(fn func(*followup.Record) error) error {
		for i := range recs {
			r := recs[i]
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	}
	supervisorOnly := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			asked.Add(1)
			switch mode.Load() {
			case reportForbidden:
				return apierr.New(apierr.CodeForbidden, "only a supervisor sees the satisfaction report")
			case reportNoToken:
				return apierr.New(apierr.CodeUnauthorized, "Authorization: Bearer <auth.admin_token> required")
			case reportDrop:
				conn, _, err := http.NewResponseController(c.Response()).Hijack()
				if err == nil {
					_ = conn.Close()
				}
				return nil
			}
			claims, err := hub.Tokens.Verify(tokens.FromRequest(c.Request().Header.Get("Authorization"), "", ""), tokens.RoleAgent)
			if err != nil {
				return apierr.Wrap(apierr.CodeUnauthorized, "authentication failed", err)
			}
			if spec, ok := hub.Agent(claims.Sub); !ok || !spec.Supervisor() {
				return apierr.New(apierr.CodeForbidden, "only a supervisor sees the satisfaction report")
			}
			return next(c)
		}
	}
	e.GET("/v1/surveys/report", surveys.Handler(forEach, clock.System), supervisorOnly)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return newDeskOn(t, hub, srv.URL, chrome, "en-US,en")
}

// reportRecords is a small known set, finished two hours ago:
//
//	web  w1 sent once, satisfied                 黄浦区
//	web  w2 sent twice, dissatisfied, review     黄浦区
//	web  w3 sent once, unanswered                徐汇区
//	web  w4 no follow-up                         徐汇区
//	sms  s1 sent once, basically satisfied       徐汇区
//	sms  s2 failed                               (no district)
//	app  a1 a chat rated before its request finished: sent once, satisfied (no district)
//
// By channel: app 0 finished, 1 sent, initiation —, 1 answered, 100 %, 100 %;
// sms 2, 1, 1/2, 1, 1/1, 1/1; web 4, 4, 4/(4−1), 2, 2/3, 1/2, 1 review;
// total 6, 6, 6/5, 4, 4/5, 3/4, 1.
// By district: unknown (s2, a1) 1, 1, 1/1, 1, 1/1, 1/1; 徐汇区 (w3, w4, s1)
// 3, 2, 2/2, 1, 1/2, 1/1; 黄浦区 (w1, w2) 2, 3, 3/2, 2, 2/2, 1/2, 1 review.
func reportRecords(now time.Time) []followup.Record {
	fin := now.Add(-2 * time.Hour).UTC()
	rec := func(id, channel, district string, sends int, rating string) followup.Record {
		r := followup.Record{EnvelopeID: id, Channel: channel, District: district, FinishedAt: &fin, CreatedAt: fin,
			Code: "code-" + id, Via: followup.ViaTicket, Sends: sends}
		if rating != "" {
			at, resolved := fin.Add(time.Hour), rating != followup.RatingDissatisfied
			r.AnsweredAt, r.Rating, r.Resolved = &at, rating, &resolved
			r.ReviewRequested = !resolved
		}
		return r
	}
	w4 := rec("w4", "web", "徐汇区", 0, "")
	w4.NoFollowUp, w4.Code, w4.Via = true, "", ""
	s2 := rec("s2", "sms", "", 0, "")
	s2.Failed, s2.Attempts = true, 3
	a1 := rec("a1", "app", "", 1, followup.RatingSatisfied)
	a1.FinishedAt, a1.Via = nil, followup.ViaChat
	return []followup.Record{
		rec("w1", "web", "黄浦区", 1, followup.RatingSatisfied),
		rec("w2", "web", "黄浦区", 2, followup.RatingDissatisfied),
		rec("w3", "web", "徐汇区", 1, ""),
		w4,
		rec("s1", "sms", "徐汇区", 1, followup.RatingBasicallySatisfied),
		s2,
		a1,
	}
}

// satRows reads the panel's table: each body row, then the total, as cell texts.
const satRows = `[...document.querySelectorAll('#sat-table tbody tr, #sat-table tfoot tr')].map(tr => [...tr.cells].map(c => c.textContent).join(' | '))`

// inShanghai makes the tab's clock local to the hotline, so that its
// "last 7 days" are the report's days.
func inShanghai(ctx context.Context, t *testing.T) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Shanghai"})
		return err
	})))
}

func TestSatisfactionPanel(t *testing.T) {
	var mode, asked atomic.Int32
	now := time.Now()
	d := newReportDesk(t, "a1:pw1:general:3,sup1:pw2:general:3:supervisor", reportRecords(now), &mode, &asked)

	sup := d.tab("supervisor", 1280, 1000)
	inShanghai(sup, t)
	downloads := t.TempDir()
	require.NoError(t, chromedp.Do(sup, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		c := chromedp.FromContext(ctx)
		_, err := cdp.Call(ctx, c.Browser, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, BrowserContextID: c.BrowserContextID, DownloadPath: downloads})
		return err
	})))
	d.login(sup, "sup1", "pw2", "en")
	d.waitJS(sup, "wall tab", `!document.getElementById('view-wall').hidden`)
	d.click(sup, "#view-wall")
	d.waitJS(sup, "the wall", `document.getElementById('wall').dataset.loaded === '1'`)
	require.False(t, evalJS[bool](d, sup, `document.getElementById('satisfaction').open`), "folded until asked for")
	require.Zero(t, asked.Load(), "the wall does not read the report unasked")

	// Opened from the keyboard: the last 7 days by default, per channel.
	require.NoError(t, chromedp.Do(sup, chromedp.Focus(chromedp.CSS("#satisfaction > summary")), chromedp.KeyEvent("\r")))
	today := now.In(treport.Shanghai())
	from, to := today.AddDate(0, 0, -6).Format(time.DateOnly), today.Format(time.DateOnly)
	byChannel := "group=channel&from=" + from + "&to=" + to
	d.waitJS(sup, "the report per channel", `document.getElementById('satisfaction').dataset.query === `+jsq(byChannel)+
		` && document.querySelectorAll('#sat-table tbody tr').length === 3`)
	require.Equal(t, from, evalJS[string](d, sup, `document.getElementById('sat-from').value`))
	require.Equal(t, to, evalJS[string](d, sup, `document.getElementById('sat-to').value`))
	require.Equal(t, []string{
		"App | 0 | 1 | — | 1 | 100.0% | 100.0% | 0",
		"SMS | 2 | 1 | 50.0% | 1 | 100.0% | 100.0% | 0",
		"Web | 4 | 4 | 133.3% | 2 | 66.7% | 50.0% | 1",
		"Total | 6 | 6 | 120.0% | 4 | 80.0% | 75.0% | 1",
	}, evalJS[[]string](d, sup, satRows))
	require.Equal(t, "Channel", d.text(sup, "#sat-col-group"))
	// Accessible: headers with scope, every control labelled, a caption.
	require.True(t, evalJS[bool](d, sup, `[...document.querySelectorAll('#sat-table thead th')].every(th => th.scope === 'col') &&
		[...document.querySelectorAll('#sat-table tbody th, #sat-table tfoot th')].every(th => th.scope === 'row') &&
		['sat-group', 'sat-from', 'sat-to'].every(id => document.getElementById(id).labels.length === 1 &&
			document.getElementById(id).labels[0].textContent.trim() !== '') &&
		document.getElementById('sat-caption').textContent === 'Satisfaction by Channel'`), "table headers, labels, caption")

	// The group selector (from the keyboard) changes the rows.
	require.NoError(t, chromedp.Do(sup, chromedp.Focus(chromedp.ID("sat-group")), chromedp.KeyEvent("d")))
	byDistrict := "group=district&from=" + from + "&to=" + to
	d.waitJS(sup, "the report per district", `document.getElementById('satisfaction').dataset.query === `+jsq(byDistrict))
	require.Equal(t, []string{
		"Unknown | 1 | 1 | 100.0% | 1 | 100.0% | 100.0% | 0",
		"徐汇区 | 3 | 2 | 100.0% | 1 | 50.0% | 100.0% | 0",
		"黄浦区 | 2 | 3 | 150.0% | 2 | 100.0% | 50.0% | 1",
		"Total | 6 | 6 | 120.0% | 4 | 80.0% | 75.0% | 1",
	}, evalJS[[]string](d, sup, satRows))
	require.Equal(t, "District", d.text(sup, "#sat-col-group"))

	// Download CSV: the same report, as a file named after the group and days.
	d.click(sup, "#sat-csv")
	name := "satisfaction_district_" + from + "_" + to + ".csv"
	d.waitJS(sup, "the download", `document.getElementById('sat-csv').dataset.saved === `+jsq(name))
	var csvBody string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(downloads, name))
		csvBody = string(b)
		return err == nil && strings.HasSuffix(csvBody, "\r\n")
	}, 10*time.Second, 50*time.Millisecond, "no %s in %s", name, downloads)
	require.True(t, strings.HasPrefix(csvBody, strings.Join(surveys.CSVHeader("district"), ",")+"\r\n"), csvBody)
	require.Contains(t, csvBody, "\r\ntotal,黄浦区,2,0,3,2,1.5000,2,1.0000,1,0,1,0.5000,1,1,0,0\r\n")
	require.True(t, strings.HasSuffix(csvBody, "\r\ntotal,all,6,1,6,5,1.2000,4,0.8000,2,1,1,0.7500,1,1,0,1\r\n"), csvBody)

	// A range that ends before it starts is refused in the page.
	require.NoError(t, chromedp.Do(sup, chromedp.SetValue(chromedp.ID("sat-from"), to), chromedp.SetValue(chromedp.ID("sat-to"), from)))
	d.click(sup, "#sat-show")
	d.waitJS(sup, "bad range", `document.getElementById('sat-error').textContent === 'The start date is after the end date'`)
	require.NoError(t, chromedp.Do(sup, chromedp.SetValue(chromedp.ID("sat-from"), from), chromedp.SetValue(chromedp.ID("sat-to"), to)))

	// In Chinese, by channel: the picture for the docs.
	d.click(sup, "#lang")
	require.NoError(t, chromedp.Do(sup, chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('sat-group'); s.value = 'channel'; s.dispatchEvent(new Event('change')); })()`)))
	d.waitJS(sup, "per channel again", `document.getElementById('satisfaction').dataset.query === `+jsq(byChannel)+
		` && document.getElementById('sat-table').tFoot.rows.length === 1`)
	require.Equal(t, "网页 | 4 | 4 | 133.3% | 2 | 66.7% | 50.0% | 1", evalJS[[]string](d, sup, satRows)[2])
	require.Equal(t, "渠道", d.text(sup, "#sat-col-group"))
	require.NoError(t, chromedp.Do(sup, chromedp.Evaluate[chromedp.Void](`document.getElementById('satisfaction').scrollIntoView()`)))
	d.shot(sup, "console-satisfaction.png")
	d.click(sup, "#lang")

	// Refusals and failures say what happened, and the supervisor stays signed in.
	errs := quietTab(d, "supervisor, refused")
	inShanghai(errs, t)
	d.login(errs, "sup1", "pw2", "en")
	mode.Store(reportForbidden)
	d.click(errs, "#view-wall")
	// Open the panel whatever state it was left in, then ask for the report:
	// a click on the summary would fold a panel that was open.
	require.NoError(t, chromedp.Do(errs, chromedp.Evaluate[chromedp.Void](
		`(() => { const p = document.getElementById('satisfaction'); if (!p.open) p.open = true; })()`)))
	d.click(errs, "#sat-show")
	d.waitJS(errs, "403", `document.getElementById('sat-error').textContent.includes('(403)')`)
	require.Equal(t, 0, evalJS[int](d, errs, `document.querySelectorAll('#sat-table tbody tr').length`))
	mode.Store(reportNoToken)
	d.click(errs, "#sat-show")
	d.waitJS(errs, "401", `document.getElementById('sat-error').textContent.includes('(401)')`)
	require.True(t, evalJS[bool](d, errs, `document.getElementById('login-view').hidden && !document.getElementById('wall').hidden`),
		"a 401 from the report does not sign the supervisor out")
	mode.Store(reportDrop)
	d.click(errs, "#sat-show")
	d.waitJS(errs, "network error", `document.getElementById('sat-error').textContent.startsWith('Network error')`)
	mode.Store(reportServe)
	d.click(errs, "#sat-show")
	d.waitJS(errs, "served again", `document.getElementById('sat-error').textContent === '' && document.querySelectorAll('#sat-table tbody tr').length === 3`)
}

// quietTab is desk.tab for a tab whose failed requests are the point: the
// browser's "Failed to load resource" lines are expected there; exceptions
// and every other error still fail the test.
func quietTab(d *desk, name string) context.Context {
	d.t.Helper()
	ctx, cancel := chromedp.NewContext(d.root, chromedp.WithNewBrowserContext())
	d.t.Cleanup(cancel)
	require.NoError(d.t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate("about:blank")))
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if (m.IsException() || m.Type == chromedp.ConsoleError) && !strings.Contains(m.Text, "Failed to load resource") &&
				!strings.Contains(m.Text, "net::ERR_") && !strings.Contains(m.Text, "WebSocket connection to") {
				d.logs.mu.Lock()
				d.logs.errs = append(d.logs.errs, fmt.Sprintf("%s: %s %s", name, m.String(), m.URL))
				d.logs.mu.Unlock()
			}
		}
	}()
	return ctx
}
