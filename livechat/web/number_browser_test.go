package web_test

// Browser test of issue 22 on a whole gateway: one request number on the
// widget's automatic receipt, in the console and on the envelope in Kafka;
// the citizen panel beside the chat lists the citizen's earlier request
// (another channel's form) with its number; an internal note never reaches
// the widget. UPDATE_SCREENSHOTS=1 writes console-note-zh.png and
// console-citizen-panel-zh.png into docs/screenshots.

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

func TestConsoleOneNumberAndCitizenPanel(t *testing.T) {
	chrome := chromePath(t)
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw1:general:3")
	mountPages(g.Echo())
	d := newDeskOn(t, nil, g.Base, chrome, "zh-CN,zh")
	console := d.tab("a1", 1366, 820)
	d.login(console, "a1", "pw1", "")

	// A citizen in the widget: the receipt in the chat quotes the number.
	widget := d.tab("citizen", 420, 760)
	d.openWidget(widget, "lang=zh-CN")
	const question = "人民路 25 号门口的窨井盖松动了，车开过去响得很厉害"
	d.write(widget, question)
	sid := d.widgetSession(widget)
	d.waitJS(widget, "the receipt", `[...document.querySelectorAll('#transcript li.msg.system')].some(li => /\d{12,14}/.test(li.textContent))`)
	receipt := evalJS[string](d, widget, `[...document.querySelectorAll('#transcript li.msg.system')].find(li => /\d{12,14}/.test(li.textContent)).textContent`)
	number := regexp.MustCompile(`\d{12,14}`).FindString(receipt)
	require.NotEmpty(t, number, receipt)

	// The console names the chat by the same number, from the offer on.
	d.waitJS(console, "offer", `document.querySelector('#offers li.offer[data-sid="`+sid+`"] .accept') !== null`)
	d.click(console, `#offers li.offer[data-sid="`+sid+`"] .accept`)
	d.waitJS(console, "the chat", `document.getElementById('chat-title').dataset.number === `+jsq(number))
	require.Equal(t, "会话 "+number, d.text(console, "#chat-title"))
	require.Equal(t, number, evalJS[string](d, console, `document.querySelector('#sessions li.session[data-sid="`+sid+`"] .number').textContent`))
	require.False(t, evalJS[bool](d, console, `document.getElementById('desk').textContent.includes('#' + `+jsq(sid[len(sid)-6:])+`)`),
		"no session-id fragment on the desk")

	// The envelope in Kafka carries it too.
	var found bool
	require.Eventually(t, func() bool {
		for _, r := range g.Consume(t, "intake.envelopes", 200*time.Millisecond) {
			if r.Value["number"] == number {
				found = true
			}
		}
		return found
	}, 10*time.Second, 100*time.Millisecond, "the envelope with number %s", number)

	// A note on the widget's chat: the agent sees it, the widget never does.
	const note = "疑似燃气管线附近，已提醒派单时注明"
	d.click(console, "#mode-note")
	d.waitJS(console, "note mode", `document.getElementById('composer').classList.contains('note-mode')`)
	d.click(console, "#reply")
	require.NoError(t, chromedp.Do(console, chromedp.SendKeys(chromedp.ID("reply"), note), chromedp.Click(chromedp.ID("send"))))
	d.waitJS(console, "the note", `[...document.querySelectorAll('#transcript li.msg.note[data-seq]')].some(li => li.textContent.includes(`+jsq(note)+`))`)
	d.click(console, "#mode-reply")
	const answer = "已收到，我们尽快安排处理"
	require.NoError(t, chromedp.Do(console, chromedp.SendKeys(chromedp.ID("reply"), answer), chromedp.Click(chromedp.ID("send"))))
	d.waitJS(widget, "the reply in the widget", `document.getElementById('transcript').textContent.includes(`+jsq(answer)+`)`)
	require.False(t, evalJS[bool](d, widget, `document.body.textContent.includes(`+jsq(note)+`)`), "the widget showed the note")
	d.shot(console, "console-note-zh.png")

	// Another citizen wrote on the web form earlier, then opens a chat: the
	// panel beside it lists that request by its number.
	token := g.CitizenToken(t)
	var first struct{ ID, Number string }
	require.Equal(t, http.StatusAccepted, g.PostJSON(t, "/v1/channels/web/requests",
		map[string]any{"text": "幸福小区 3 号楼电梯停运两天了，老人上下楼很困难"}, &first, "Authorization", "Bearer "+token))
	require.Regexp(t, `^\d{12,14}$`, first.Number)
	cit := g.MustDial(t, "/v1/ws/citizen", token)
	sid2 := cit.OpenSession(nil, "电梯还是没修好，请问什么时候能修")
	d.waitJS(console, "second offer", `document.querySelector('#offers li.offer[data-sid="`+sid2+`"] .accept') !== null`)
	d.click(console, `#offers li.offer[data-sid="`+sid2+`"] .accept`)
	d.waitJS(console, "second chat on the desk", `document.querySelector('#sessions li.session[data-sid="`+sid2+`"]') !== null`)
	d.click(console, `#sessions li.session[data-sid="`+sid2+`"]`)
	item := `#citizen li.citizen-request[data-number="` + first.Number + `"]`
	d.waitJS(console, "the earlier request in the panel", `!document.getElementById('citizen').hidden &&
		document.getElementById('citizen').dataset.sid === `+jsq(sid2)+` && document.querySelector('`+item+`') !== null`)
	require.Equal(t, first.Number, d.text(console, item+" .req-number"))
	require.Equal(t, "网页", d.text(console, item+" .chip"))
	require.NotEmpty(t, d.text(console, item+" .req-status"))
	require.Equal(t, "网页", d.text(console, "#citizen-facts .channel dd"))
	d.shot(console, "console-citizen-panel-zh.png")
}
