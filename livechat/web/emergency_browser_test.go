package web_test

// Browser tests of issue 21 (triage at intake) on the agents' side: an
// emergency chat jumps the queue and alerts the supervisor wall; the chat
// panel lists the citizen's earlier requests about the same matter.
// UPDATE_SCREENSHOTS=1 writes console-emergency-wall-en.png and
// console-history-zh.png into docs/screenshots.

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

// fireRule stands in for triage's emergency rules: the hub only needs to be told.
func fireRule(text string) (normalize.Emergency, bool) {
	if strings.Contains(text, "着火") || strings.Contains(strings.ToLower(text), "fire") {
		return normalize.Emergency{Category: "fire", Rules: []string{"fire.burning"}}, true
	}
	return normalize.Emergency{}, false
}

// TestDeskEmergencyJumpsTheQueue: agent a1 is full (capacity 1, one active
// chat) and the supervisor on duty takes no chats; citizen A writes an
// ordinary message, then citizen B writes of a fire. The supervisor's
// (English) console shows a red emergency banner naming the fire, with take
// over and "show on the wall"; the wall lists B's chat first with an
// emergency badge; B's widget tells B to call 110 / 119 / 120; a1 is not
// alerted (a supervisor is on duty). When a1 closes their chat, a1 is
// offered B's chat, not A's, although A has waited longer; once a1 has it,
// the supervisor's banner says so.
func TestDeskEmergencyJumpsTheQueue(t *testing.T) {
	d := newDesk(t, "a1:pw1:general:1,sup1:pw2:general:3:supervisor", "en-US,en",
		func(c *livechat.Config) { c.Emergency = fireRule })
	d.hub.TriageWith(fireRule)
	agent := d.tab("a1", 1280, 800)
	d.login(agent, "a1", "pw1", "")

	// a1's one slot is taken.
	_, busy := d.citizenClient("c0", "The rubbish bins on Elm Street have not been emptied")
	d.waitJS(agent, "offer", `document.querySelector('#offers li.offer[data-sid="`+busy+`"] .accept') !== null`)
	d.click(agent, `#offers li.offer[data-sid="`+busy+`"] .accept`)
	d.waitJS(agent, "a1's chat", `document.querySelector('#sessions li.session[data-sid="`+busy+`"].current') !== null`)

	// The supervisor is on duty but takes no chats.
	sup := d.tab("supervisor", 1366, 860)
	d.login(sup, "sup1", "pw2", "")
	require.NoError(t, chromedp.Do(sup, chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('presence'); s.value = 'away'; s.dispatchEvent(new Event('change')); })()`)))
	d.waitJS(sup, "supervisor away", `document.getElementById('presence').dataset.state === 'away'`)

	// Citizen A first, with an ordinary request; then citizen B, with a fire.
	_, sidA := d.citizenClient("cA", "The street light outside building 3 is broken")
	widget := d.tab("citizen B", 420, 760)
	d.openWidget(widget, "lang=en")
	const fire = "There is a fire in the stairwell of building 5, the smoke is getting thick"
	d.write(widget, fire)
	sidB := d.widgetSession(widget)

	// The supervisor's banner: unmistakable, in the supervisor's language.
	alert := `#alerts li.alert.emergency[data-sid="` + sidB + `"]`
	d.waitJS(sup, "the emergency banner", `document.querySelector('`+alert+`') !== null`)
	require.Equal(t, "Emergency", d.text(sup, alert+" strong"))
	require.Equal(t, "Fire", d.text(sup, alert+" .alert-category"))
	text := d.text(sup, alert+" .alert-text")
	require.Regexp(t, `chat \d{12,14} reports`, text, "named by its request number")
	require.Contains(t, text, "Waiting in the queue")
	require.Contains(t, text, "110 / 119 / 120")
	require.NotContains(t, text, "No supervisor")
	require.True(t, evalJS[bool](d, sup, `document.querySelector('`+alert+` button.takeover') !== null &&
		document.querySelector('`+alert+` button.to-wall').textContent === 'Show on the wall' &&
		document.querySelector('#alerts li.alert:first-child').dataset.sid === `+jsq(sidB)), "take over and show on the wall, on top")
	require.True(t, evalJS[bool](d, agent, `document.querySelector('#alerts li.alert') === null`),
		"a1 is not alerted while a supervisor is on duty")

	// The citizen is told where to call, in the conversation.
	d.waitJS(widget, "the 110/119/120 notice", `[...document.querySelectorAll('#transcript li.msg.system')].some(li =>
		li.textContent.includes('110') && li.textContent.includes('119') && li.textContent.includes('120'))`)

	// The wall, from the banner: B first with the badge, A after it.
	d.click(sup, alert+" button.to-wall")
	first := `document.querySelector('#wall-chats tr.wall-chat')`
	d.waitJS(sup, "wall with the emergency first", `!document.getElementById('wall').hidden && document.getElementById('wall').dataset.loaded === '1' &&
		document.querySelectorAll('#wall-chats tr.wall-chat').length === 3 && `+first+`.dataset.sid === `+jsq(sidB)+` &&
		`+first+`.dataset.emergency === 'fire'`)
	require.Equal(t, "Emergency · Fire", d.text(sup, `#wall-chats tr.wall-chat[data-sid="`+sidB+`"] .chip.emergency`))
	require.True(t, evalJS[bool](d, sup, `document.querySelector('#wall-chats tr.wall-chat[data-sid="`+sidB+`"]').classList.contains('focus')`),
		"the chat the banner named is highlighted")
	require.Equal(t, "queued", evalJS[string](d, sup, first+`.dataset.state`))
	require.Equal(t, "queued", evalJS[string](d, sup, `document.querySelector('#wall-chats tr.wall-chat[data-sid="`+sidA+`"]').dataset.state`))
	require.Zero(t, evalJS[int](d, sup, `document.querySelectorAll('#wall-chats tr.wall-chat[data-sid="`+sidA+`"] .chip.emergency').length`))
	d.shot(sup, "console-emergency-wall-en.png")

	// a1 ends their chat: B's chat is offered, not A's, marked as an emergency.
	d.click(agent, "#close-session")
	d.waitJS(agent, "close armed", `document.getElementById('close-session').textContent !== 'End chat'`)
	d.click(agent, "#close-session")
	d.waitJS(agent, "B's chat offered to a1", `document.querySelector('#offers li.offer[data-sid="`+sidB+`"] .accept') !== null`)
	require.Equal(t, 1, evalJS[int](d, agent, `document.querySelectorAll('#offers li.offer').length`), "only B's chat is offered")
	require.True(t, evalJS[bool](d, agent, `document.querySelector('#offers li.offer.emergency[data-sid="`+sidB+`"] .chip.emergency') !== null`),
		"the offer is marked as an emergency")
	d.click(agent, `#offers li.offer[data-sid="`+sidB+`"] .accept`)
	row := `#sessions li.session.emergency[data-sid="` + sidB + `"]`
	d.waitJS(agent, "B's chat on a1's desk", `document.querySelector('`+row+`') !== null`)
	d.click(agent, row)
	d.waitJS(agent, "B's words on a1's desk", `document.querySelector('`+row+`.current') !== null &&
		[...document.querySelectorAll('#transcript li.msg.citizen')].some(li => li.textContent.includes(`+jsq(fire)+`))`)
	d.waitJS(widget, "an agent joined B", `document.getElementById('status').dataset.state === 'active'`)
	d.waitJS(sup, "the banner follows the chat (from the wall)", `document.querySelector('`+alert+` .alert-text').textContent.includes('With agent a1.')`)
	require.True(t, evalJS[bool](d, widget, `document.getElementById('error').hidden`), "the widget showed an error: %s", d.text(widget, "#error"))
}

// TestConsoleHistoryZh: on a whole gateway (triage links the requests), a
// citizen wrote about a broken street light on the web form, the ticket
// system answered it, and the citizen then opens a chat about the same
// light. The agent's (Chinese) console shows the earlier request above the
// chat: channel, date, status and the reply.
func TestConsoleHistoryZh(t *testing.T) {
	chrome := chromePath(t)
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw1:general:3")
	mountPages(g.Echo())
	d := newDeskOn(t, nil, g.Base, chrome, "zh-CN,zh")

	token := g.CitizenToken(t)
	var first struct{ ID string }
	require.Equal(t, http.StatusAccepted, g.PostJSON(t, "/v1/channels/web/requests",
		map[string]any{"text": "人民路和西藏路路口的路灯坏了一个星期了，晚上很黑，请尽快修理"}, &first, "Authorization", "Bearer "+token))
	require.NotEmpty(t, first.ID)

	// The ticket system dispatches it with a reply.
	const reply = "已派单至黄浦区市政养护所，预计三个工作日内修复。"
	w := kafkago.Writer{Addr: kafkago.TCP(g.KafkaBrokers()...), Topic: "ticket.events", BatchTimeout: time.Millisecond}
	defer w.Close()
	ev := `{"schema":"ticket-event/v1","envelope_id":"` + first.ID + `","ticket_id":"T-1","status":"dispatched","at":"` +
		time.Now().UTC().Format(time.RFC3339) + `","reply":{"text":"` + reply + `"}}`
	require.NoError(t, w.WriteMessages(context.Background(), kafkago.Message{Key: []byte(first.ID), Value: []byte(ev)}))
	require.Eventually(t, func() bool {
		req, err := http.NewRequest(http.MethodGet, g.Base+"/v1/requests/"+first.ID, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var st struct{ Status, Reply string }
		return res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&st) == nil && st.Status == "dispatched" && st.Reply == reply
	}, 10*time.Second, 20*time.Millisecond, "the reply reached the request")

	console := d.tab("a1", 1280, 800)
	d.login(console, "a1", "pw1", "")
	cit := g.MustDial(t, "/v1/ws/citizen", token)
	sid := cit.OpenSession(nil, "人民路西藏路路口那盏路灯还是坏的，已经一个多星期了，晚上很黑")
	d.waitJS(console, "offer", `document.querySelector('#offers li.offer[data-sid="`+sid+`"] .accept') !== null`)
	require.True(t, evalJS[bool](d, console, `document.getElementById('history').hidden`), "no history before the chat is accepted")
	d.click(console, `#offers li.offer[data-sid="`+sid+`"] .accept`)

	item := `#history li.history-item[data-id="` + first.ID + `"]`
	d.waitJS(console, "the earlier request above the chat", `!document.getElementById('history').hidden && document.querySelector('`+item+`') !== null`)
	require.Equal(t, "此前相关诉求（1）", d.text(console, "#history-title"))
	require.Equal(t, "网页", d.text(console, item+" .chip"))
	require.Equal(t, "已派单", d.text(console, item+" .history-status"))
	require.Regexp(t, `^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$`, d.text(console, item+" .history-date"))
	require.Equal(t, time.Now().Format("2006-01-02"), d.text(console, item+" .history-date")[:10])
	require.Equal(t, "答复："+reply, d.text(console, item+" .history-reply"))
	d.shot(console, "console-history-zh.png")

	// In English too, after the toggle.
	d.click(console, "#lang")
	d.waitJS(console, "English", `document.getElementById('history-title').textContent === 'Earlier requests about this (1)'`)
	require.Equal(t, "Dispatched", d.text(console, item+" .history-status"))
}
