package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/livechat/web"
	"github.com/hotline12345/gateway/normalize"
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
		t.Fatal("chromium is required on CI for the browser acceptance test")
	}
	t.Skip("chromium not installed: browser acceptance test skipped")
	return ""
}

func artifactsDir(t *testing.T) string {
	if d := os.Getenv("ARTIFACTS_DIR"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// mountPages adds the pages unless the gateway already serves them.
func mountPages(e *echo.Echo) {
	for _, r := range e.Routes() {
		if r.Path == "/console/" {
			return
		}
	}
	web.Mount(e)
}

// consoleLog collects errors the pages log (exceptions, CSP violations,
// failed requests) so that the test fails on them.
type consoleLog struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleLog) follow(ctx context.Context, tab string) {
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// A websocket that cannot connect while the test cuts the network is expected.
			if (m.IsException() || m.Type == chromedp.ConsoleError) && !strings.Contains(m.Text, "WebSocket connection to") {
				c.mu.Lock()
				c.errs = append(c.errs, tab+": "+m.String()+" "+m.URL)
				c.mu.Unlock()
			}
		}
	}()
}

func (c *consoleLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// TestBrowserConversation drives a real conversation through both pages in
// headless Chromium: the agent signs in and becomes available, the citizen
// writes in Chinese from the widget, the agent accepts the offer, reads the
// message, replies, and the reply reaches the widget. Screenshots are saved
// to $ARTIFACTS_DIR (else a temp dir).
func TestBrowserConversation(t *testing.T) {
	chrome := chromePath(t)
	// A 50 s reply window: the console's countdown is red (< 60 s) at once.
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw1:general:3", "GATEWAY_SLA_NEXT_RESPONSE=50s", "GATEWAY_SLA_WARNING_LEAD_RESPONSE=10s")
	mountPages(g.Echo())
	dir := artifactsDir(t)
	gwAddr := strings.TrimPrefix(g.Base, "http://")
	consoleNet, widgetNet := newCutProxy(t, gwAddr), newCutProxy(t, gwAddr) // each tab's own "network"

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("accept-lang", "zh-CN,zh"), // navigator.language: the console starts in Chinese
		chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 40*time.Second)
	defer cancel()

	logs := &consoleLog{}
	console := ctx // the first tab
	require.NoError(t, chromedp.Do(console, chromedp.Navigate("about:blank")))
	logs.follow(console, "console")
	widget, cancelWidget := chromedp.NewContext(console, chromedp.WithNewBrowserContext()) // its own cookies and storage
	defer cancelWidget()
	require.NoError(t, chromedp.Do(widget, chromedp.EmulateViewport(420, 700), chromedp.Navigate("about:blank")))
	logs.follow(widget, "widget")

	waitJS := func(ctx context.Context, what, expr string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(10*time.Second)))
		if err != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#status, #conn').textContent + ' | ' +
				[...document.querySelectorAll('#transcript li.msg')].map(li => (li.dataset.seq || 'p') + ':' + li.textContent).join(' | ')`))
			t.Fatalf("waiting for %s: %v\n%s\npage: %s\npage errors: %v", what, err, expr, state, logs.all())
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return strings.TrimSpace(s)
	}
	// gapless: the transcript's seqs are 1..n, each once, in order.
	const gapless = `(() => { const s = [...document.querySelectorAll('#transcript li.msg[data-seq]')].map(li => Number(li.dataset.seq));
		return s.length > 0 && s.every((v, i) => v === i + 1); })()`
	// once: exactly one element matching sel (in the transcript) contains text.
	once := func(sel, text string) string {
		return `([...document.querySelectorAll('#transcript ` + sel + `')].filter(li => li.textContent.includes(` + strconv.Quote(text) + `)).length === 1)`
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		t.Logf("screenshot: %s", p)
	}

	// The agent signs in (the page is in Chinese by navigator.language) and is available at once.
	require.NoError(t, chromedp.Do(console, chromedp.Navigate(consoleNet.URL()+"/console/")))
	waitJS(console, "console ready", `document.body.dataset.ready === '1'`)
	require.Equal(t, "坐席登录", text(console, "#login h1"))
	require.Equal(t, "退出登录", text(console, "#logout"))
	shot(console, "console-login-zh.png")
	require.NoError(t, chromedp.Do(console,
		chromedp.SendKeys(chromedp.ID("login-id"), "a1"),
		chromedp.SendKeys(chromedp.ID("login-pw"), "pw1"),
		chromedp.Click(chromedp.ID("login-submit"))))
	waitJS(console, "agent connected", `document.getElementById('conn').dataset.state === 'up' && document.getElementById('presence').dataset.state === 'available' &&
		document.getElementById('presence-banner').hidden`)
	// The agent steps away: a banner says that nothing is offered meanwhile.
	require.NoError(t, chromedp.Do(console, chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('presence'); s.value = 'away'; s.dispatchEvent(new Event('change')); })()`)))
	waitJS(console, "away banner", `document.getElementById('presence').dataset.state === 'away' && !document.getElementById('presence-banner').hidden`)
	require.Equal(t, "您当前为“暂时离开”：不会有新会话分配给您。", text(console, "#presence-banner-text"))

	// The citizen opens the widget (nothing is queued until they write),
	// writes in Chinese and waits in the queue.
	const question = "我家楼下的路灯坏了，晚上很不安全"
	require.NoError(t, chromedp.Do(widget, chromedp.Navigate(widgetNet.URL()+"/widget/?lang=zh-CN")))
	waitJS(widget, "citizen welcomed", `document.getElementById('status').dataset.state === 'new'`)
	require.Equal(t, "请输入您的问题，发送后即为您安排工作人员", text(widget, "#status"))
	require.NoError(t, chromedp.Do(widget,
		chromedp.SendKeys(chromedp.ID("text"), question),
		chromedp.Click(chromedp.ID("send"))))
	waitJS(widget, "citizen message acknowledged",
		`[...document.querySelectorAll('#transcript li.msg.citizen[data-seq]')].some(li => li.textContent.includes(`+strconv.Quote(question)+`))`)
	waitJS(widget, "citizen queued", `document.getElementById('status').dataset.state === 'queued'`)
	require.Regexp(t, `^排队中：您是第 1 位`, text(widget, "#status"))
	shot(widget, "widget-queued-zh.png")

	// The agent becomes available and gets the offer, with the first words.
	require.NoError(t, chromedp.Do(console, chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('presence'); s.value = 'available'; s.dispatchEvent(new Event('change')); })()`)))
	waitJS(console, "presence confirmed by the server", `document.getElementById('presence').dataset.state === 'available'`)
	waitJS(console, "offer", `document.querySelector('#offers li.offer .accept') !== null`)
	require.Equal(t, question, text(console, "#offers li.offer .preview"))
	shot(console, "console-offer-zh.png")

	// The agent accepts; the citizen's text appears in the console.
	require.NoError(t, chromedp.Do(console, chromedp.Click(chromedp.CSS("#offers li.offer .accept"))))
	waitJS(console, "citizen text in the console",
		`[...document.querySelectorAll('#transcript li.msg.citizen')].some(li => li.textContent.includes(`+strconv.Quote(question)+`))`)
	waitJS(console, "reply countdown", `/^回复剩余 00:[45]\d$/.test(document.getElementById('chat-due').textContent) && !document.getElementById('chat-due').hidden`)
	waitJS(console, "countdown red under a minute", `document.getElementById('chat-due').classList.contains('urgent') && document.querySelector('#sessions .due-badge.urgent') !== null`)

	// An sla frame (sent as the timeliness service would) shows a banner.
	sid, err := chromedp.Run(console, chromedp.Evaluate[string](`document.querySelector('#sessions li.session').dataset.sid`))
	require.NoError(t, err)
	due := time.Now().Add(40 * time.Second).UTC()
	g.Hub().Alert(sid, "warning", "next_response", due)
	waitJS(console, "sla banner", `document.querySelector('#banners .banner.warn') !== null && !document.getElementById('sla').hidden`)
	require.Contains(t, text(console, "#sla"), "再次响应")
	shot(console, "console-due-zh.png")
	waitJS(widget, "widget shows an agent joined", `document.getElementById('status').dataset.state === 'active'`)

	// The agent types (the widget shows it) and replies; the reply reaches the widget.
	const reply = "您好，请问是哪个小区、几号楼？我们马上登记。"
	require.NoError(t, chromedp.Do(console, chromedp.SendKeys(chromedp.ID("reply"), reply)))
	waitJS(widget, "typing indicator", `!document.getElementById('typing').hidden`)
	require.NoError(t, chromedp.Do(console, chromedp.Click(chromedp.ID("send"))))
	waitJS(console, "reply acknowledged", `document.querySelector('#transcript li.msg.agent.mine[data-seq]') !== null && !document.querySelector('#transcript li.pending')`)
	waitJS(widget, "reply in the widget",
		`[...document.querySelectorAll('#transcript li.msg.agent')].some(li => li.textContent.includes(`+strconv.Quote(reply)+`))`)
	// The widget shows the reply, so it sends read; the console marks the reply read.
	waitJS(console, "read receipt", `document.querySelector('#transcript li.msg.agent .read') !== null`)
	waitJS(console, "countdown and response warning gone after the reply",
		`document.getElementById('chat-due').hidden && document.getElementById('sla').hidden && !document.querySelector('#banners .banner.warn')`)

	shot(console, "console-zh.png")
	shot(widget, "widget-zh.png")

	// The citizen's network drops (1006). Meanwhile the agent writes and the
	// citizen types a message. Back online, the widget resumes from its
	// last seq: the missed reply arrives once, the queued message goes out.
	const missed, offline = "请提供具体位置，我们派人处理。", "在阳光小区3号楼"
	widgetNet.setCut(true)
	waitJS(widget, "widget sees the drop", `document.getElementById('status').dataset.state === 'down'`)
	require.NoError(t, chromedp.Do(console, chromedp.SendKeys(chromedp.ID("reply"), missed), chromedp.Click(chromedp.ID("send"))))
	waitJS(console, "second reply stored", `document.querySelectorAll('#transcript li.msg.agent.mine[data-seq]').length === 2`)
	require.NoError(t, chromedp.Do(widget, chromedp.SendKeys(chromedp.ID("text"), offline), chromedp.Click(chromedp.ID("send"))))
	waitJS(widget, "message held while offline", `document.querySelector('#transcript li.msg.citizen.pending') !== null`)
	shot(widget, "widget-offline-zh.png")
	widgetNet.setCut(false)
	waitJS(widget, "resumed without loss or duplicates", gapless+` && document.getElementById('status').dataset.state === 'active' &&
		!document.querySelector('#transcript li.pending') && `+once("li.msg.agent", missed)+` && `+once("li.msg.citizen[data-seq]", offline))
	waitJS(console, "console got the message sent after the reconnect", once("li.msg.citizen", offline))

	// The agent's network drops; the citizen writes; the console resumes.
	const whileAway = "喂？还在吗？"
	consoleNet.setCut(true)
	waitJS(console, "console sees the drop", `document.getElementById('conn').dataset.state === 'down'`)
	require.NoError(t, chromedp.Do(widget, chromedp.SendKeys(chromedp.ID("text"), whileAway), chromedp.Click(chromedp.ID("send"))))
	waitJS(widget, "citizen message acknowledged", once("li.msg.citizen[data-seq]", whileAway))
	consoleNet.setCut(false)
	waitJS(console, "console resumed without loss or duplicates", gapless+` && document.getElementById('conn').dataset.state === 'up' && `+
		once("li.msg.citizen", whileAway)+` && `+once("li.msg.agent", missed))
	seqs := func(ctx context.Context) []int {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[...document.querySelectorAll('#transcript li.msg[data-seq]')].map(li => Number(li.dataset.seq))`))
		require.NoError(t, err)
		return v
	}
	require.Equal(t, seqs(widget), seqs(console), "both sides hold the same transcript")

	// Switch the console to English once.
	require.NoError(t, chromedp.Do(console, chromedp.Click(chromedp.ID("lang"))))
	waitJS(console, "English", `document.documentElement.lang === 'en'`)
	require.Equal(t, "Sign out", text(console, "#logout"))
	require.Equal(t, "Status", text(console, "#presence-wrap > span"))
	require.Equal(t, "End chat", text(console, "#close-session"))
	shot(console, "console-en.png")

	// An SMS with a part missing, as the SMS channel hands it over after its
	// wait for the parts: the console marks the message as incomplete.
	const partial = "路灯坏了，在人民路"
	res, err := g.Hub().CitizenMessage(context.Background(), channels.InboundMessage{Channel: normalize.ChannelSMS,
		ChannelUserID: "+8613800138000", Phone: "+8613800138000", DedupKey: "sms-partial-1", Text: partial,
		Meta: map[string]string{"incomplete": "true", "missing_parts": "2"}})
	require.NoError(t, err)
	require.True(t, res.NewSession)
	waitJS(console, "offer of the SMS conversation", `document.querySelector('#offers li.offer .accept') !== null`)
	require.NoError(t, chromedp.Do(console, chromedp.Click(chromedp.CSS("#offers li.offer .accept"))))
	smsRow := `#sessions li.session[data-sid="` + res.SessionID + `"]`
	waitJS(console, "SMS conversation listed", `document.querySelector('`+smsRow+`') !== null`)
	require.NoError(t, chromedp.Do(console, chromedp.Click(chromedp.CSS(smsRow))))
	waitJS(console, "SMS text in the console", once("li.msg.citizen", partial))
	require.Equal(t, "SMS incomplete: part 2 missing", text(console, "#transcript li.msg.citizen .partial"))
	shot(console, "console-sms-partial-en.png")

	// A rejected token (close 4001) sends the agent back to the login form.
	require.NoError(t, chromedp.Do(console,
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('hotline12345.agent', JSON.stringify({token: 'forged', agent: {id: 'a1'}}))`),
		chromedp.Reload()))
	waitJS(console, "login form after 4001", `document.body.dataset.ready === '1' && document.getElementById('login-msg').textContent !== '' &&
		!document.getElementById('login-view').hidden && document.getElementById('desk').hidden`)
	require.Equal(t, "Your sign-in has expired. Please sign in again.", text(console, "#login-msg"))

	// embed.js on another origin opens the widget in an iframe bubble.
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><body style="font-family:sans-serif;background:#fafafa"><h1>Example city website</h1>`+
			`<script src="%s/widget/embed.js" data-lang="zh-CN"></script></body></html>`, g.Base)
	}))
	defer host.Close()
	require.NoError(t, chromedp.Do(widget, chromedp.EmulateViewport(1024, 720), chromedp.Navigate(host.URL)))
	waitJS(widget, "bubble", `document.querySelector('[data-hotline12345=bubble]') !== null`)
	require.NoError(t, chromedp.Do(widget, chromedp.Click(chromedp.CSS("[data-hotline12345=bubble]"))))
	waitJS(widget, "iframe open", `(() => { const f = document.querySelector('iframe[data-hotline12345=frame]');
		return f && f.style.display === 'block' && f.src === `+strconv.Quote(g.Base+"/widget/?embed=1&lang=zh-CN")+`; })()`)
	waitJS(widget, "widget in the iframe connected", `document.querySelector('iframe[data-hotline12345=frame]').dataset.ready === '1'`)
	shot(widget, "embed.png")

	require.Empty(t, logs.all(), "the pages logged errors")
}
