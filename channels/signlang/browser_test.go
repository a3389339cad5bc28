package signlang_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// chromePath finds Chromium: skipped locally without it, fatal on CI.
func chromePath(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "chromium", "headless-shell"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is required on CI for the browser test")
	}
	t.Skip("chromium not installed: browser test skipped")
	return ""
}

// nextWeekdayAt returns a Monday–Friday at least a day ahead, at hh:mm in
// Shanghai: in the future, so that no timeliness clock fires meanwhile.
func nextWeekdayAt(hh, mm int) time.Time {
	d := time.Now().In(shanghai).AddDate(0, 0, 1)
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), hh, mm, 0, 0, shanghai)
}

// The widget and the console in headless Chromium with fake camera and
// microphone: before opening hours the widget shows when the service opens
// and files a call-back request; once open, "Sign-language video" queues a
// video session, the console accepts it and makes the WebRTC offer through
// the gateway, and both video panes connect. No page logs an error.
func TestBrowserSignLanguageVideo(t *testing.T) {
	chrome := chromePath(t)
	clk := clock.NewFake(nextWeekdayAt(8, 30))
	g := lt.StartWith(t, t.TempDir(), gateway.Options{Clock: clk}, "GATEWAY_AGENTS=s1:pw1:sign_language:1,g1:pw:general:3")

	// A general agent takes the widget's text chat, so that the
	// sign-language agent stays free for the call.
	general := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "g1", "pw"))
	general.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	general.Expect(livechat.TypeWelcome, 5*time.Second)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var pageErrs []string
	follow := func(ctx context.Context, tab string) {
		go func() {
			for m, err := range chromedp.Console(ctx) {
				if err != nil {
					return
				}
				if m.IsException() || m.Type == chromedp.ConsoleError {
					mu.Lock()
					pageErrs = append(pageErrs, tab+": "+m.String())
					mu.Unlock()
				}
			}
		}()
	}
	console := ctx
	require.NoError(t, chromedp.Do(console, chromedp.Navigate("about:blank")))
	follow(console, "console")
	widget, cancelWidget := chromedp.NewContext(console, chromedp.WithNewBrowserContext())
	defer cancelWidget()
	require.NoError(t, chromedp.Do(widget, chromedp.EmulateViewport(420, 760), chromedp.Navigate("about:blank")))
	follow(widget, "widget")

	waitJS := func(ctx context.Context, what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			mu.Lock()
			defer mu.Unlock()
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('video-state') || {}).textContent`))
			t.Fatalf("waiting for %s: %v (video state %q, page errors %v)", what, err, state, pageErrs)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return strings.TrimSpace(s)
	}

	// The widget (in Chinese: its chat needs no language skill) opens with
	// its text chat; the citizen's first message opens the session, which
	// the general agent takes.
	const question = "请问手语视频服务几点开始？"
	require.NoError(t, chromedp.Do(widget, chromedp.Navigate(g.Base+"/widget/?lang=zh-CN")))
	waitJS(widget, "widget ready", `document.body.dataset.ready === '1' && document.getElementById('status').dataset.state === 'new'`)
	require.NoError(t, chromedp.Do(widget, chromedp.SendKeys(chromedp.ID("text"), question), chromedp.Click(chromedp.ID("send"))))
	off := general.Expect(livechat.TypeOffer, 5*time.Second)
	require.Equal(t, question, lt.Data(t, off)["preview"])
	general.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: off.SessionID})
	waitJS(widget, "text chat active", `document.getElementById('status').dataset.state === 'active'`)

	// Before 09:00: told when the service opens; a call-back request is filed.
	require.Equal(t, "视频手语", text(widget, "#video-btn"))
	require.NoError(t, chromedp.Do(widget, chromedp.Click(chromedp.ID("video-btn"))))
	waitJS(widget, "out-of-hours panel", `!document.getElementById('signlang').hidden`)
	require.Contains(t, text(widget, "#signlang-msg"), "下次开放："+clk.Now().Format("2006-01-02")+" 09:00")
	require.NoError(t, chromedp.Do(widget, chromedp.Click(chromedp.ID("signlang-callback"))))
	require.NoError(t, chromedp.Do(widget, chromedp.SendKeys(chromedp.ID("callback-phone"), "13800138000"),
		chromedp.SendKeys(chromedp.ID("callback-note"), "下午方便"), chromedp.Click(chromedp.CSS("#callback button[type=submit]"))))
	waitJS(widget, "call-back receipt", `!document.getElementById('callback-done').hidden`)
	require.Contains(t, text(widget, "#callback-done"), "已收到您的回拨请求")

	// The sign-language agent signs in and becomes available.
	require.NoError(t, chromedp.Do(console, chromedp.Navigate(g.Base+"/console/?lang=en")))
	waitJS(console, "console ready", `document.body.dataset.ready === '1'`)
	require.NoError(t, chromedp.Do(console, chromedp.SendKeys(chromedp.ID("login-id"), "s1"),
		chromedp.SendKeys(chromedp.ID("login-pw"), "pw1"), chromedp.Click(chromedp.ID("login-submit"))))
	waitJS(console, "agent connected", `document.getElementById('conn').dataset.state === 'up'`)
	require.NoError(t, chromedp.Do(console, chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('presence'); s.value = 'available'; s.dispatchEvent(new Event('change')); })()`)))
	waitJS(console, "available", `document.getElementById('presence').dataset.state === 'available'`)

	// 09:05: the video session opens and waits for the agent.
	clk.Set(clk.Now().Add(35 * time.Minute))
	require.NoError(t, chromedp.Do(widget, chromedp.Click(chromedp.ID("video-btn"))))
	waitJS(widget, "video pane", `!document.getElementById('video').hidden && document.getElementById('signlang').hidden`)
	waitJS(console, "video offer", `document.querySelector('#offers li.offer .chip.video') !== null`)
	require.NoError(t, chromedp.Do(console, chromedp.Click(chromedp.CSS("#offers li.offer .accept"))))
	waitJS(console, "console video pane", `!document.getElementById('video').hidden`)

	// Offer, answer and candidates cross the gateway; the media connects.
	waitJS(console, "console connected", `document.getElementById('video-state').textContent === 'Video connected'`)
	waitJS(widget, "widget connected", `document.getElementById('video-state').textContent === '视频已接通'`)
	waitJS(widget, "agent's picture in the widget", `document.getElementById('video-remote').srcObject !== null`)
	waitJS(console, "citizen's picture in the console", `document.getElementById('video-remote').srcObject !== null`)

	// The citizen hangs up: the session ends on both sides.
	require.NoError(t, chromedp.Do(widget, chromedp.Click(chromedp.ID("hangup"))))
	waitJS(widget, "ended", `document.getElementById('status').dataset.state === 'closed' && document.getElementById('video').hidden`)
	waitJS(console, "console sees the end", `!document.getElementById('chat-closed').hidden && document.getElementById('video').hidden`)

	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, pageErrs, "the pages logged errors")
}
