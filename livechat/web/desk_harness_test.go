package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/auth/agentlogin"
	"github.com/hotline12345/gateway/auth/loginguard"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/livechat/web"
)

// desk is one live-chat hub (livechattest.StartHub, so that a test can tune
// livechat.Config) behind a front server that also serves the pages, the
// real agent login and anonymous citizen tokens, all on one origin as the
// gateway does; and one headless Chromium whose tabs each get their own
// cookies and storage.
type desk struct {
	t    *testing.T
	hub  *lt.Hub
	base string
	root context.Context // the browser's first tab
	logs *consoleLog
}

// newDesk starts the hub with the agents spec, the front server and
// Chromium; lang is the browser's language (navigator.language).
func newDesk(t *testing.T, agents, lang string, tune ...func(*livechat.Config)) *desk {
	t.Helper()
	chrome := chromePath(t)
	hub := lt.StartHub(t, agents, clock.System, "", tune...)

	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	web.Mount(e)
	hub.Mount(e) // the websockets (and what else the hub serves) on this origin
	guard := loginguard.New(configs.Default().Auth.Login, loginguard.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	agentlogin.New(guard, hub, hub.Tokens, time.Hour).Mount(e)
	var citizens atomic.Int64
	e.POST("/v1/citizen/sessions", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"token": hub.CitizenToken(fmt.Sprintf("web-citizen-%d", citizens.Add(1)))})
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	return newDeskOn(t, hub, srv.URL, chrome, lang)
}

// newDeskOn starts Chromium (lang: the browser's language) for the pages
// served at base: newDesk's front server, or a whole gateway's, whose hub
// is then nil (its people speak from Go through livechattest.Gateway).
func newDeskOn(t *testing.T, hub *lt.Hub, base, chrome, lang string) *desk {
	t.Helper()
	d := &desk{t: t, hub: hub, base: base, root: startChrome(t, chrome, lang), logs: &consoleLog{}}
	t.Cleanup(func() {
		if !t.Failed() {
			require.Empty(t, d.logs.all(), "the pages logged errors")
		}
	})
	return d
}

// startChrome starts headless Chromium with lang as the browser's language
// (navigator.language) and returns its first tab, alive for 45 s at most.
func startChrome(t *testing.T, chrome, lang string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("accept-lang", lang), chromedp.Flag("lang", lang),
		// Background tabs keep their timers: every tab here is "on screen" for its user.
		chromedp.Flag("disable-background-timer-throttling", true), chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	root, cancel := context.WithTimeout(bctx, 45*time.Second)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	require.NoError(t, chromedp.Do(root, chromedp.Navigate("about:blank")))
	return root
}

// tab opens a new tab with its own cookies and storage (another person).
func (d *desk) tab(name string, width, height int) context.Context {
	d.t.Helper()
	ctx, cancel := chromedp.NewContext(d.root, chromedp.WithNewBrowserContext())
	d.t.Cleanup(cancel)
	require.NoError(d.t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate("about:blank")))
	d.logs.follow(ctx, name)
	return ctx
}

// waitJS polls expr (a JavaScript boolean) in the tab until true, for at most 10 s.
func (d *desk) waitJS(ctx context.Context, what, expr string) {
	d.t.Helper()
	d.waitJSFor(ctx, 10*time.Second, what, expr)
}

func (d *desk) waitJSFor(ctx context.Context, timeout time.Duration, what, expr string) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		// Right after a navigation the poll may still hold the old document's
		// execution context: poll again in the new one.
		if err == nil || !strings.Contains(err.Error(), "Cannot find context with specified id") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const q = (s) => document.querySelector(s);
			return [q('#status, #conn') && q('#status, #conn').textContent, q('#alerts') && q('#alerts').textContent,
				q('#banners') && q('#banners').textContent, q('#offers') && q('#offers').textContent,
				q('#sessions') && q('#sessions').textContent, q('#ended') && q('#ended').textContent].filter(Boolean).join(' | '); })()`))
		d.t.Fatalf("waiting for %s: %v\n%s\npage: %s\npage errors: %v", what, err, expr, state, d.logs.all())
	}
}

// eval evaluates a JavaScript expression in the tab.
func evalJS[T any](d *desk, ctx context.Context, expr string) T {
	d.t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(d.t, err, expr)
	return v
}

func (d *desk) text(ctx context.Context, sel string) string {
	d.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	require.NoError(d.t, err, sel)
	return strings.TrimSpace(s)
}

func (d *desk) click(ctx context.Context, sel string) {
	d.t.Helper()
	require.NoError(d.t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))), sel)
}

// login signs an agent in through the console's form (lang: the console's
// ?lang=, "" for the browser's) and waits for the welcome.
func (d *desk) login(ctx context.Context, id, password, lang string) {
	d.t.Helper()
	u := d.base + "/console/"
	if lang != "" {
		u += "?lang=" + lang
	}
	require.NoError(d.t, chromedp.Do(ctx, chromedp.Navigate(u)))
	d.waitJS(ctx, "console ready", `document.body.dataset.ready === '1'`)
	require.NoError(d.t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("login-id"), id),
		chromedp.SendKeys(chromedp.ID("login-pw"), password),
		chromedp.Click(chromedp.ID("login-submit"))))
	d.waitJS(ctx, id+" connected", `document.getElementById('conn').dataset.state === 'up'`)
}

// openWidget opens the widget page (query without "?") and waits until the
// server welcomed it.
func (d *desk) openWidget(ctx context.Context, query string) {
	d.t.Helper()
	require.NoError(d.t, chromedp.Do(ctx, chromedp.Navigate(d.base+"/widget/?"+query)))
	d.waitJS(ctx, "widget welcomed", `document.body.dataset.ready === '1' && !['connecting', 'down'].includes(document.getElementById('status').dataset.state)`)
}

// write sends text from the widget and waits for its echo (the seq).
func (d *desk) write(ctx context.Context, text string) {
	d.t.Helper()
	require.NoError(d.t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("text"), text), chromedp.Click(chromedp.ID("send"))))
	d.waitJS(ctx, "citizen message acknowledged",
		`[...document.querySelectorAll('#transcript li.msg.citizen[data-seq]')].some(li => li.textContent.includes(`+strconv.Quote(text)+`))`)
}

// widgetSession is the widget's session id (the status line carries it).
func (d *desk) widgetSession(ctx context.Context) string {
	d.t.Helper()
	sid := evalJS[string](d, ctx, `document.getElementById('status').dataset.sid || ''`)
	require.NotEmpty(d.t, sid)
	return sid
}

// shot saves a screenshot: into docs/screenshots when UPDATE_SCREENSHOTS=1
// (the pictures the docs show), else into $ARTIFACTS_DIR or a temp dir.
func (d *desk) shot(ctx context.Context, name string) {
	d.t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(d.t, err)
	dir := ""
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
		require.NoError(d.t, os.MkdirAll(dir, 0o755))
	} else {
		dir = artifactsDir(d.t)
	}
	p := filepath.Join(dir, name)
	require.NoError(d.t, os.WriteFile(p, b, 0o644))
	d.t.Logf("screenshot: %s", p)
}

// agentClient is an agent speaking the protocol from Go, for the people a
// test does not watch in a browser.
func (d *desk) agentClient(id string, presence string) *lt.Client {
	d.t.Helper()
	c := lt.MustDial(d.t, d.hub.Base, "/v1/ws/agent", d.hub.AgentToken(id))
	c.SendData(livechat.TypeHello, "", "", map[string]any{"presence": presence})
	c.Expect(livechat.TypeWelcome, 5*time.Second)
	return c
}

// citizenClient opens a web conversation from Go and writes its first
// message; it returns the client and the session id.
func (d *desk) citizenClient(sub, text string) (*lt.Client, string) {
	d.t.Helper()
	c := lt.MustDial(d.t, d.hub.Base, "/v1/ws/citizen", d.hub.CitizenToken(sub))
	c.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web", "language": "zh-CN"})
	w := c.Expect(livechat.TypeWelcome, 5*time.Second)
	sid := w.SessionID
	if sid == "" {
		sid, _ = lt.Data(d.t, w)["session_id"].(string)
	}
	require.NotEmpty(d.t, sid)
	c.SendData(livechat.TypeMessage, sid, sub+"-1", map[string]any{"text": text})
	for {
		f := c.Expect(livechat.TypeMessage, 5*time.Second)
		if f.ID == sub+"-1" && f.Seq > 0 {
			break
		}
	}
	return c, sid
}

// jsq quotes s for JavaScript.
func jsq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
