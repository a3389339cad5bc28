package page_test

// The survey page in headless Chromium at a phone's width (360 px), in
// Chinese and English, with and without JavaScript: the citizen fills the
// form, the in-memory Surveys receives the exact answer, and the page thanks
// them: in place through the JSON endpoint when the script runs, through the
// plain form post when it does not. UPDATE_SCREENSHOTS=1 writes
// docs/screenshots/survey-{zh,en}[-nojs].png.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/followup/page"
)

// chromePath finds Chromium: skipped locally without it, fatal on CI.
func chromePath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is required on CI for the browser tests")
	}
	t.Skip("chromium not installed: browser test skipped")
	return ""
}

// site serves the pages with the in-memory Surveys and records the POSTs
// the browser makes ("/v1/surveys/… application/json").
type site struct {
	t     *testing.T
	s     *surveys
	base  string
	root  context.Context
	mu    sync.Mutex
	posts []string
	n     int
}

func newSite(t *testing.T) *site {
	t.Helper()
	chrome := chromePath(t)
	st := &site{t: t, s: newSurveys()}
	e := newEcho(st.s, page.Options{})
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if r := c.Request(); r.Method == http.MethodPost {
				st.mu.Lock()
				st.posts = append(st.posts, r.URL.RequestURI()+" "+r.Header.Get("Content-Type"))
				st.mu.Unlock()
			}
			return next(c)
		}
	})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	st.base = srv.URL

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("accept-lang", "zh-CN,zh"), chromedp.Flag("lang", "zh-CN"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	root, cancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	require.NoError(t, chromedp.Do(root, chromedp.Navigate("about:blank")))
	st.root = root
	return st
}

// open adds a survey in state and returns its code.
func (st *site) open(state string) string {
	st.mu.Lock()
	st.n++
	code := fmt.Sprintf("Browser%015d", st.n)
	st.mu.Unlock()
	st.s.add(code, state)
	return code
}

func (st *site) takePosts() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.posts
	st.posts = nil
	return p
}

// tab opens a phone-sized tab with its own storage; script=false turns
// JavaScript off before anything loads. Page errors (exceptions, CSP
// violations) fail the test.
func (st *site) tab(t *testing.T, script bool) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(st.root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		scripts(script)))
	var mu sync.Mutex
	var errs []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The network's lines are answers the test asserts (a 400, a 409).
			if m.IsException() || m.Type == chromedp.ConsoleError && m.Source != "network" {
				mu.Lock()
				errs = append(errs, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		require.Empty(t, errs, "the page logged errors")
	})
	return ctx
}

// scripts turns the page's JavaScript on or off (for the next document;
// the DevTools protocol's own evaluation works either way).
func scripts(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on})
		return err
	})
}

// navigate loads path and returns the document's HTTP status.
func navigate(t *testing.T, ctx context.Context, url string) int64 {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	require.NoError(t, err, url)
	return res.Status
}

// follow runs an action that loads a new document (a link, a form post)
// and returns its HTTP status.
func follow(t *testing.T, ctx context.Context, a chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	res, err := chromedp.RunResponse(ctx, a)
	require.NoError(t, err)
	return res.Status
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, expr)
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(evalJS[string](t, ctx, `document.querySelector(`+jsq(sel)+`).textContent`))
}

func jsq(s string) string { return fmt.Sprintf("%q", s) }

// waitJS polls a JavaScript condition (the page's script is running).
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(10*time.Second)))
	require.NoError(t, err, "waiting for %s: %s", what, expr)
}

// choose clicks the radio of name with value, and types the comment if any.
func choose(t *testing.T, ctx context.Context, name, value string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`input[name=`+name+`][value=`+value+`]`))))
}

// shot saves a full-page screenshot: into docs/screenshots when
// UPDATE_SCREENSHOTS=1 (the pictures the docs show), else into
// $ARTIFACTS_DIR or a temp dir.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	dir := os.Getenv("ARTIFACTS_DIR")
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
	} else if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	t.Logf("screenshot: %s", p)
}

func TestBrowserSurvey(t *testing.T) {
	st := newSite(t)
	tests := []struct {
		lang    string // "zh" by the browser's language, "en" by the switch link
		script  bool
		h1      string
		thanks  string
		comment string
		errMsg  string // the rating's error message
	}{
		{"zh", true, "服务满意度回访", "感谢您的评价！", "路灯已经修好了，谢谢！", "请选择您的满意程度。"},
		{"en", true, "Satisfaction survey", "Thank you for your feedback!", "The street light works again. Thanks!",
			"Please choose how satisfied you are."},
		{"zh", false, "服务满意度回访", "感谢您的评价！", "路灯已经修好了，谢谢！", "请选择您的满意程度。"},
		{"en", false, "Satisfaction survey", "Thank you for your feedback!", "The street light works again. Thanks!",
			"Please choose how satisfied you are."},
	}
	for _, tc := range tests {
		name := "survey-" + tc.lang
		if !tc.script {
			name += "-nojs"
		}
		t.Run(name, func(t *testing.T) {
			ctx := st.tab(t, tc.script)
			code := st.open(followup.StateSent)
			require.EqualValues(t, 200, navigate(t, ctx, st.base+"/s/"+code))
			require.Equal(t, "zh-CN", evalJS[string](t, ctx, `document.documentElement.lang`))
			if tc.lang == "en" {
				require.EqualValues(t, 200, follow(t, ctx, chromedp.Click(chromedp.CSS("a.lang"))))
			}
			require.Equal(t, map[string]string{"zh": "zh-CN", "en": "en"}[tc.lang], evalJS[string](t, ctx, `document.documentElement.lang`))
			require.Equal(t, tc.h1, text(t, ctx, "h1"))
			require.Equal(t, number, text(t, ctx, ".number strong"))
			small := evalJS[[]string](t, ctx, `[...document.querySelectorAll('label.choice, button, a, textarea')]
				.filter(el => { const r = el.getBoundingClientRect(); return r.width < 44 || r.height < 44; }).map(el => el.outerHTML)`)
			require.Empty(t, small, "touch targets under 44 px")
			const mark = `window.__sameDocument = true`
			if tc.script {
				require.True(t, evalJS[bool](t, ctx, mark))
			}

			// The rating is left out: the answer comes back with its error
			// next to the rating, what was entered kept.
			choose(t, ctx, "resolved", "no")
			require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("comment"), tc.comment)))
			submit := chromedp.Click(chromedp.CSS("button[type=submit]"))
			if tc.script {
				require.NoError(t, chromedp.Do(ctx, submit))
				waitJS(t, ctx, "the rating's error", `document.getElementById('rating-error').textContent !== ''`)
				require.Equal(t, "rating", evalJS[string](t, ctx, `document.activeElement.name`), "focus on the first field in error")
			} else {
				require.EqualValues(t, 400, follow(t, ctx, submit))
				require.NotEmpty(t, text(t, ctx, "#summary"))
			}
			require.Equal(t, tc.errMsg, text(t, ctx, "#rating-error"))
			require.Empty(t, text(t, ctx, "#resolved-error"))
			require.True(t, evalJS[bool](t, ctx, `document.querySelector('input[name=resolved][value=no]').checked`))
			require.Equal(t, tc.comment, evalJS[string](t, ctx, `document.getElementById('comment').value`))
			if !tc.script {
				shot(t, ctx, name+".png") // the form as the server gives it back
			}

			choose(t, ctx, "rating", "basically_satisfied")
			if tc.script {
				require.Empty(t, text(t, ctx, "#rating-error"), "a changed field loses its error")
				shot(t, ctx, name+".png") // the filled form
				require.NoError(t, chromedp.Do(ctx, submit))
				waitJS(t, ctx, "thanks in place", `!document.getElementById('thanks').hidden && document.getElementById('survey').hidden`)
				require.True(t, evalJS[bool](t, ctx, `window.__sameDocument === true`), "the page navigated")
				require.Equal(t, "thanks", evalJS[string](t, ctx, `document.activeElement.id`), "focus on the thanks")
				require.Equal(t, tc.thanks, text(t, ctx, "#thanks h2"))
			} else {
				require.EqualValues(t, 200, follow(t, ctx, submit))
				require.Equal(t, tc.thanks, text(t, ctx, "#thanks h1"))
			}
			require.True(t, evalJS[bool](t, ctx, `location.pathname === `+jsq("/s/"+code)))

			got, ok := st.s.answer(code)
			require.True(t, ok)
			require.Equal(t, followup.Answer{Resolved: ptr(false), Rating: followup.RatingBasicallySatisfied, Comment: tc.comment}, got)
			want := "/v1/surveys/" + code + " application/json"
			if !tc.script {
				want = "/s/" + code + "?lang=" + tc.lang + " application/x-www-form-urlencoded"
			}
			require.Equal(t, []string{want, want}, st.takePosts())
		})
	}
}
