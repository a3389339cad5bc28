package web_test

// Browser tests of issue 16 ("no citizen is ever stranded"): the console and
// the widget in headless Chromium against a real hub (newDesk). Each test
// waits on DOM conditions; the people a test does not watch speak the
// protocol from Go. UPDATE_SCREENSHOTS=1 writes the wall and desk pictures
// into docs/screenshots.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// hostPage serves a city website that embeds the widget with embed.js and
// no data-lang: the widget's language must follow the page's <html lang>.
func hostPage(t *testing.T, base, htmlLang string) string {
	t.Helper()
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="%s"><head><title>City</title></head><body style="font-family:sans-serif;background:#fafafa">`+
			`<h1>City of Example</h1><p>Public services</p><script src="%s/widget/embed.js"></script></body></html>`, htmlLang, base)
	}))
	t.Cleanup(host.Close)
	return host.URL
}

// frameNode is the widget's iframe on a host page, for queries inside it
// (the host and the gateway are the same site here, so one process).
func frameNode(d *desk, ctx context.Context) chromedp.QueryOption {
	d.t.Helper()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`iframe[data-hotline12345=frame]`)))
	require.NoError(d.t, err)
	require.Len(d.t, nodes, 1)
	return chromedp.FromNode(nodes[0])
}

// TestDeskEnglishCitizenReachesChineseAgent: on an English page the widget
// speaks English and its hello says "en" (the preferred skill lang:en); no
// agent on duty has it, so the Chinese-only agent gets the offer, with the
// citizen's words, within routing.language_wait (2 s). Before the citizen
// writes, nobody is offered anything.
func TestDeskEnglishCitizenReachesChineseAgent(t *testing.T) {
	const wait = 2 * time.Second
	d := newDesk(t, "a1:pw1:general:3,a2:pw2:general:3", "zh-CN,zh",
		func(c *livechat.Config) { c.LanguageWait = wait })
	console := d.tab("console", 1280, 800)
	d.login(console, "a1", "pw1", "")
	d.waitJS(console, "available right after login, no banner", `document.getElementById('presence').dataset.state === 'available' &&
		document.getElementById('presence-banner').hidden`)
	a2 := d.agentClient("a2", "away") // on duty, takes nothing now

	host := d.tab("host", 1024, 760)
	require.NoError(t, chromedp.Do(host, chromedp.Navigate(hostPage(t, d.base, "en"))))
	d.waitJS(host, "bubble in English", `document.querySelector('[data-hotline12345=bubble]') !== null &&
		document.querySelector('[data-hotline12345=bubble]').textContent === 'Chat'`)
	d.click(host, "[data-hotline12345=bubble]")
	d.waitJS(host, "iframe with the page's language", `(() => { const f = document.querySelector('iframe[data-hotline12345=frame]');
		return f && f.style.display === 'block' && f.src.endsWith('/widget/?embed=1&lang=en') && f.dataset.ready === '1'; })()`)
	in := frameNode(d, host)
	require.NoError(t, chromedp.Do(host, chromedp.WaitVisible(chromedp.CSS(`#status[data-state="new"]`), in)))
	status, err := chromedp.Run(host, chromedp.Text(chromedp.CSS("#status"), in))
	require.NoError(t, err)
	require.Equal(t, "Write your question to start", status)

	// The widget is open and welcomed: no offer anywhere yet.
	require.Zero(t, evalJS[int](d, console, `document.querySelectorAll('#offers li.offer').length`), "an offer before the first message")
	if f, ok := a2.Next(200 * time.Millisecond); ok {
		require.NotEqual(t, livechat.TypeOffer, f.Type, "an offer before the first message")
	}

	const question = "The street light outside building 3 has been broken for a week"
	require.NoError(t, chromedp.Do(host, chromedp.SendKeys(chromedp.CSS("#text"), question, in), chromedp.Click(chromedp.CSS("#send"), in)))
	sent := time.Now()
	require.NoError(t, chromedp.Do(host, chromedp.WaitVisible(chromedp.CSS(`#transcript li.msg.citizen[data-seq]`), in)))

	// The Chinese-only agent gets the offer within the language wait, with the first words.
	d.waitJSFor(console, wait, "offer to the Chinese-only agent within routing.language_wait", `document.querySelector('#offers li.offer .accept') !== null`)
	require.Less(t, time.Since(sent), wait)
	preview := d.text(console, "#offers li.offer .preview")
	require.True(t, len(preview) > 10 && strings.HasPrefix(question, strings.TrimSuffix(preview, "…")), "preview %q", preview)
	d.shot(console, "console-offer-en-citizen-zh.png")
	d.click(console, "#offers li.offer .accept")
	d.waitJS(console, "the citizen's words on the desk",
		`[...document.querySelectorAll('#transcript li.msg.citizen')].some(li => li.textContent.includes(`+jsq(question)+`))`)

	const reply = "Hello, we have logged it. Which street is building 3 on?"
	require.NoError(t, chromedp.Do(console, chromedp.SendKeys(chromedp.ID("reply"), reply), chromedp.Click(chromedp.ID("send"))))
	require.NoError(t, chromedp.Do(host, chromedp.WaitVisible(chromedp.CSS(`#status[data-state="active"]`), in),
		chromedp.WaitVisible(chromedp.CSS(`#transcript li.msg.agent`), in)))
	got, err := chromedp.Run(host, chromedp.Text(chromedp.CSS("#transcript li.msg.agent .bubble"), in))
	require.NoError(t, err)
	require.Equal(t, reply, got)
	status, err = chromedp.Run(host, chromedp.Text(chromedp.CSS("#status"), in))
	require.NoError(t, err)
	require.Equal(t, "An agent has joined the chat", status)
	d.shot(host, "widget-embed-en.png")
}

// TestWidgetFollowsHostLang: a Chinese page gets a Chinese widget even in an
// English browser; the toggle still switches.
func TestWidgetFollowsHostLang(t *testing.T) {
	d := newDesk(t, "a1:pw1:general:3", "en-US,en")
	d.agentClient("a1", "available")
	host := d.tab("host", 1024, 760)
	require.NoError(t, chromedp.Do(host, chromedp.Navigate(hostPage(t, d.base, "zh-CN"))))
	d.waitJS(host, "bubble in Chinese", `document.querySelector('[data-hotline12345=bubble]') !== null &&
		document.querySelector('[data-hotline12345=bubble]').textContent === '咨询'`)
	d.click(host, "[data-hotline12345=bubble]")
	d.waitJS(host, "iframe with the page's language", `(() => { const f = document.querySelector('iframe[data-hotline12345=frame]');
		return f && f.src.endsWith('/widget/?embed=1&lang=zh-CN') && f.dataset.ready === '1'; })()`)
	in := frameNode(d, host)
	require.NoError(t, chromedp.Do(host, chromedp.WaitVisible(chromedp.CSS(`#status[data-state="new"]`), in)))
	status, err := chromedp.Run(host, chromedp.Text(chromedp.CSS("#status"), in))
	require.NoError(t, err)
	require.Equal(t, "请输入您的问题，发送后即为您安排工作人员", status)
	require.NoError(t, chromedp.Do(host, chromedp.Click(chromedp.CSS("#lang"), in),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="en"] #status[data-state="new"]`), in)))
	status, err = chromedp.Run(host, chromedp.Text(chromedp.CSS("#status"), in))
	require.NoError(t, err)
	require.Equal(t, "Write your question to start", status)
}

// TestDeskBreachSupervisorTakesOver: a breach while a supervisor is on duty
// is flagged to the supervisor (not to the agent), the chat stays with its
// agent, the wall shows it at the top; the supervisor takes it over from the
// wall, gets the transcript on their desk, and the agent sees that it was
// taken over. The agent's console is Chinese, the supervisor's English.
func TestDeskBreachSupervisorTakesOver(t *testing.T) {
	d := newDesk(t, "a1:pw1:general:3,sup1:pw2:general:5:supervisor,a2:pw3:general:1", "zh-CN,zh")
	agent := d.tab("agent", 1280, 800)
	d.login(agent, "a1", "pw1", "")
	require.True(t, evalJS[bool](d, agent, `document.getElementById('view-wall').hidden`), "an agent has no wall")

	widget := d.tab("widget", 420, 700)
	d.openWidget(widget, "lang=zh-CN")
	d.waitJS(widget, "new, no queue position", `document.getElementById('status').dataset.state === 'new'`)
	require.Equal(t, "请输入您的问题，发送后即为您安排工作人员", d.text(widget, "#status"))
	require.Zero(t, evalJS[int](d, agent, `document.querySelectorAll('#offers li.offer').length`), "an offer before the first message")

	const question = "小区门口的井盖丢了，很危险"
	d.write(widget, question)
	d.waitJS(agent, "offer with the first words", `document.querySelector('#offers li.offer .accept') !== null`)
	require.Equal(t, question, d.text(agent, "#offers li.offer .preview"))
	d.click(agent, "#offers li.offer .accept")
	sid := d.widgetSession(widget)
	row := `#sessions li.session[data-sid="` + sid + `"]`
	d.waitJS(agent, "chat on the agent's desk", `document.querySelector('`+row+`') !== null`)
	d.waitJS(widget, "agent joined", `document.getElementById('status').dataset.state === 'active'`)

	// A second agent with a chat, so that the wall has more than one row.
	a2 := d.agentClient("a2", "available")
	_, sid2 := d.citizenClient("c2", "噪音扰民，晚上十一点还在施工")
	offer := a2.Expect(livechat.TypeOffer, 5*time.Second)
	require.Equal(t, sid2, offer.SessionID)
	a2.SendData(livechat.TypeAccept, sid2, "", map[string]any{})
	a2.Expect(livechat.TypeSession, 5*time.Second)

	sup := d.tab("supervisor", 1366, 820)
	d.login(sup, "sup1", "pw2", "en")
	d.waitJS(sup, "wall tab for a supervisor", `!document.getElementById('view-wall').hidden`)

	// The timeliness service's breach: sla frame, then escalation.
	due := time.Now().Add(-5 * time.Second)
	d.hub.Alert(sid, "breached", "first_response", due)
	d.hub.Escalate(context.Background(), sid)
	alert := `#alerts li.alert[data-sid="` + sid + `"]`
	d.waitJS(sup, "the supervisor is alerted", `document.querySelector('`+alert+`') !== null`)
	require.Contains(t, d.text(sup, alert+" .alert-text"), "agent a1")
	require.Contains(t, d.text(sup, alert+" .alert-text"), "first response")
	require.NotContains(t, d.text(sup, alert+" .alert-text"), "No supervisor")
	require.True(t, evalJS[bool](d, sup, `document.querySelector('`+alert+` button.takeover') !== null && document.querySelector('#sessions li.session') === null`),
		"the supervisor can take it over from the alert; it is not on their desk")
	require.True(t, evalJS[bool](d, agent, `document.querySelector('`+row+`') !== null && document.querySelector('#alerts li.alert') === null`),
		"the chat stays with its agent, who is not the one alerted while a supervisor is on duty")

	// The wall: queues, agents, the escalated chat first.
	d.click(sup, "#view-wall")
	chat := `#wall-chats tr.wall-chat[data-sid="` + sid + `"]`
	d.waitJS(sup, "wall loaded", `document.getElementById('wall').dataset.loaded === '1' && document.querySelector('`+chat+`.escalated') !== null &&
		document.querySelectorAll('#wall-chats tr.wall-chat').length === 2 && document.querySelectorAll('#wall-agents tr.agent').length === 3`)
	require.Equal(t, sid, evalJS[string](d, sup, `document.querySelector('#wall-chats tr.wall-chat').dataset.sid`), "the escalated chat is first")
	require.Equal(t, "a1", evalJS[string](d, sup, `document.querySelector('`+chat+`').dataset.agent`))
	require.Contains(t, d.text(sup, chat+" td.wall-due"), "Overdue")
	require.Equal(t, "1 / 1", d.text(sup, `#wall-agents tr.agent[data-agent="a2"] td.num`))
	d.shot(sup, "console-wall-en.png")

	// Reassigning it to a2, who is full, is refused: the supervisor is told why, the chat stays with a1.
	// (the choice is kept across the wall's refreshes once made)
	require.NoError(t, chromedp.Do(sup, chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('`+chat+` select.reassign-to');
		s.value = 'a2'; s.dispatchEvent(new Event('change')); })()`), chromedp.Click(chromedp.CSS(chat+" button.reassign"))))
	d.waitJS(sup, "reassignment refused", `[...document.querySelectorAll('#banners .banner.error')].some(b =>
		b.textContent.includes('Reassignment refused: agent a2 is not available or has no free slot'))`)
	require.True(t, evalJS[bool](d, agent, `document.querySelector('`+row+`') !== null`), "the chat stays with a1")

	// Take over from the wall: the chat and its transcript move to the supervisor's desk.
	d.click(sup, chat+" button.takeover")
	d.waitJS(sup, "the chat on the supervisor's desk", `!document.getElementById('desk').hidden &&
		document.querySelector('#sessions li.session[data-sid="`+sid+`"].current') !== null &&
		[...document.querySelectorAll('#transcript li.msg.citizen')].some(li => li.textContent.includes(`+jsq(question)+`)) &&
		document.querySelector('`+alert+`') === null`)
	d.waitJS(agent, "the agent sees it was taken over", `document.querySelector('`+row+`') === null &&
		[...document.querySelectorAll('#banners .banner')].some(b => b.textContent.includes('已由班长 sup1 接管'))`)
	d.shot(agent, "console-taken-over-zh.png")

	const reply = "您好，我是值班长，已通知市政马上处理井盖。"
	require.NoError(t, chromedp.Do(sup, chromedp.SendKeys(chromedp.ID("reply"), reply), chromedp.Click(chromedp.ID("send"))))
	d.waitJS(widget, "the supervisor's reply reaches the citizen",
		`[...document.querySelectorAll('#transcript li.msg.agent')].some(li => li.textContent.includes(`+jsq(reply)+`))`)
	d.waitJS(sup, "reply acknowledged", `document.querySelector('#transcript li.msg.agent.mine[data-seq]') !== null && !document.querySelector('#transcript li.pending')`)
	d.shot(sup, "console-desk-en.png")
	require.True(t, evalJS[bool](d, widget, `document.getElementById('error').hidden`), "the widget showed an error: %s", d.text(widget, "#error"))
}

// TestDeskBreachWithoutSupervisor: with no supervisor on duty every
// available agent's console shows the alert; the chat stays with its agent.
func TestDeskBreachWithoutSupervisor(t *testing.T) {
	d := newDesk(t, "a1:pw1:general:3,a2:pw2:general:3,sup1:pw3:general:3:supervisor", "zh-CN,zh")
	c1 := d.tab("a1", 1280, 800)
	d.login(c1, "a1", "pw1", "")
	_, sid := d.citizenClient("c1", "路面塌陷，车辆无法通行")
	d.waitJS(c1, "offer", `document.querySelector('#offers li.offer .accept') !== null`)
	d.click(c1, "#offers li.offer .accept")
	row := `#sessions li.session[data-sid="` + sid + `"]`
	d.waitJS(c1, "chat on a1's desk", `document.querySelector('`+row+`') !== null`)
	c2 := d.tab("a2", 1280, 800)
	d.login(c2, "a2", "pw2", "en") // sup1 is configured but not logged in

	d.hub.Alert(sid, "breached", "first_response", time.Now().Add(-time.Second))
	d.hub.Escalate(context.Background(), sid)
	alert := `#alerts li.alert[data-sid="` + sid + `"]`
	d.waitJS(c1, "a1 alerted", `document.querySelector('`+alert+`') !== null`)
	d.waitJS(c2, "a2 alerted", `document.querySelector('`+alert+`') !== null`)
	require.Contains(t, d.text(c1, alert+" .alert-text"), "您的会话")
	require.Contains(t, d.text(c1, alert+" .alert-text"), "当前没有班长在岗")
	require.Contains(t, d.text(c2, alert+" .alert-text"), "agent a1")
	require.Contains(t, d.text(c2, alert+" .alert-text"), "No supervisor is on duty")
	require.True(t, evalJS[bool](d, c1, `document.querySelector('`+row+`') !== null`), "the chat stays with a1")
	require.True(t, evalJS[bool](d, c2, `document.querySelector('#sessions li.session') === null && document.querySelector('`+alert+` button.takeover') === null`),
		"a2 is told, but has no take-over button")
	d.shot(c2, "console-alert-no-supervisor-en.png")

	// The alert's "open" takes a1 to the chat.
	d.click(c1, alert+" button.open")
	d.waitJS(c1, "chat opened", `document.querySelector('`+row+`.current') !== null`)
}

// TestDeskLeaveMessage: with nobody on duty the widget says so before and
// after the citizen writes, never shows a wait, and offers to leave the
// question as a message; the server confirms with the request's reference.
func TestDeskLeaveMessage(t *testing.T) {
	for _, tc := range []struct {
		lang, before, after, button, wrote, done string
	}{
		{lang: "zh-CN", before: "现在没有工作人员在线", after: "现在没有可以接待您的工作人员", button: "留言",
			wrote: "我想反映小区垃圾清运不及时", done: "您的留言已记录（编号 "},
		{lang: "en", before: "No agent is online right now", after: "No agent is available to chat with you right now", button: "Leave it as a message",
			wrote: "Rubbish has not been collected in our street for a week", done: "Your message has been recorded (reference "},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			d := newDesk(t, "a1:pw1:general:3", "zh-CN,zh") // a1 is not logged in
			w := d.tab("widget", 420, 700)
			d.openWidget(w, "lang="+tc.lang)
			d.waitJS(w, "told before writing", `document.getElementById('status').dataset.state === 'new' && document.getElementById('status').dataset.noAgents === '1'`)
			require.Contains(t, d.text(w, "#status"), tc.before)
			require.True(t, evalJS[bool](d, w, `document.getElementById('leave').hidden`), "nothing to leave before a message")

			d.write(w, tc.wrote)
			d.waitJS(w, "queued with nobody to answer", `document.getElementById('status').dataset.state === 'queued' &&
				document.getElementById('status').dataset.noAgents === '1' && !document.getElementById('leave').hidden`)
			status := d.text(w, "#status")
			require.Contains(t, status, tc.after)
			for _, fake := range []string{"分钟", "minute", "第 1 位", "number 1", "预计", "Estimated"} {
				require.NotContains(t, status, fake, "no fake wait")
			}
			require.Equal(t, tc.button, d.text(w, "#leave-btn"))
			d.shot(w, "widget-no-agents-"+tc.lang+".png")

			sid := d.widgetSession(w)
			d.click(w, "#leave-btn")
			d.waitJS(w, "confirmation", `document.getElementById('status').dataset.state === 'closed' &&
				document.getElementById('ended').dataset.reason === 'left_message' && !document.getElementById('ended').hidden`)
			info, ok := d.hub.SessionInfo(sid)
			require.True(t, ok)
			require.NotEmpty(t, info.EnvelopeID)
			require.Regexp(t, `^\d{12}$`, info.Meta["number"])
			done := d.text(w, "#ended-text")
			require.Contains(t, done, tc.done+info.Meta["number"], "the reference is the request number, read out on the phone")
			require.Contains(t, done, "24")
			require.True(t, evalJS[bool](d, w, `document.getElementById('composer').hidden && document.getElementById('leave').hidden`))
			require.True(t, evalJS[bool](d, w, `document.getElementById('error').hidden`), "the widget showed an error: %s", d.text(w, "#error"))
			d.shot(w, "widget-left-message-"+tc.lang+".png")
		})
	}
}

// TestDeskTransferToFullAgentRefused: an agent configured to start away
// sees the banner (not "no waiting chats") and becomes available from it;
// a transfer to an agent at capacity is refused with a clear message and the
// chat stays with the sender.
func TestDeskTransferToFullAgentRefused(t *testing.T) {
	d := newDesk(t, "a1:pw1:general:3,a2:pw2:general:1", "zh-CN,zh",
		func(c *livechat.Config) { c.InitialPresence = "away" })
	con := d.tab("a1", 1280, 800)
	d.login(con, "a1", "pw1", "en")
	d.waitJS(con, "away banner", `!document.getElementById('presence-banner').hidden && document.getElementById('presence').dataset.state === 'away'`)
	require.Equal(t, "You are away: no chats will be offered to you.", d.text(con, "#presence-banner-text"))
	require.Equal(t, "You are not available: no chats are offered to you", d.text(con, "#offers-empty"))

	// a2 takes one chat and is full (max 1) while a1 is away.
	a2 := d.agentClient("a2", "available")
	_, sid1 := d.citizenClient("c1", "第一位市民的问题")
	require.Equal(t, sid1, a2.Expect(livechat.TypeOffer, 5*time.Second).SessionID)
	a2.SendData(livechat.TypeAccept, sid1, "", map[string]any{})
	a2.Expect(livechat.TypeSession, 5*time.Second)
	require.Zero(t, evalJS[int](d, con, `document.querySelectorAll('#offers li.offer').length`), "nothing offered to an away agent")

	d.click(con, "#go-available")
	d.waitJS(con, "available, banner gone", `document.getElementById('presence').dataset.state === 'available' && document.getElementById('presence-banner').hidden`)
	citizen, sid2 := d.citizenClient("c2", "第二位市民的问题")
	d.waitJS(con, "offer", `document.querySelector('#offers li.offer .accept') !== null`)
	d.click(con, "#offers li.offer .accept")
	row := `#sessions li.session[data-sid="` + sid2 + `"]`
	d.waitJS(con, "chat on a1's desk", `document.querySelector('`+row+`.current') !== null`)

	require.NoError(t, chromedp.Do(con, chromedp.SetValue(chromedp.ID("transfer-kind"), "to_agent"),
		chromedp.SendKeys(chromedp.ID("transfer-to"), "a2"), chromedp.Click(chromedp.CSS("#transfer button[type=submit]"))))
	d.waitJS(con, "refusal shown", `!document.getElementById('transfer-msg').hidden &&
		[...document.querySelectorAll('#banners .banner.error')].some(b => b.textContent.includes('a2'))`)
	msg := d.text(con, "#transfer-msg")
	number := evalJS[string](d, con, `document.getElementById('chat-title').dataset.number`)
	require.Regexp(t, `^\d{12,14}$`, number, "the chat is named by its request number")
	require.Equal(t, "Transfer refused: agent a2 is not available or has no free slot. Chat "+number+" stays with you.", msg)
	require.True(t, evalJS[bool](d, con, `document.querySelector('`+row+`') !== null && !document.getElementById('composer').hidden`), "the chat stays")
	d.shot(con, "console-transfer-refused-en.png")

	// Still a1's: a reply reaches the citizen.
	require.NoError(t, chromedp.Do(con, chromedp.SendKeys(chromedp.ID("reply"), "我来继续处理"), chromedp.Click(chromedp.ID("send"))))
	got := citizen.ExpectFrom("agent", 5*time.Second)
	require.Equal(t, "a1", lt.Data(t, got)["agent_id"])
	require.True(t, strings.Contains(lt.Data(t, got)["text"].(string), "继续处理"))
}
