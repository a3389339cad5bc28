package web_test

// Browser tests of issue 22 (agents' desk II) on the console: an offer
// raises the tab-title counter and a desktop notification; a citizen's photo
// opens full size through GET /v1/agents/media; a canned reply a supervisor
// saved is inserted with "/keyword" and its {number} filled; an internal
// note is shown as one and never reaches the citizen; the closed chat is
// found by its number in the History view, notes included.
// UPDATE_SCREENSHOTS=1 writes console-media-en.png, console-replies-zh.png
// and console-history-search-en.png into docs/screenshots.

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
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

// photoServer is a third party's https server holding a citizen's photo
// (40×30 PNG); the gateway reaches it with the server's client.
func photoServer(t *testing.T) *httptest.Server {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		for y := range 30 {
			img.Set(x, y, color.RGBA{R: uint8(200 - y*3), G: 120, B: uint8(x * 5), A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/photo.png" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// stubNotifications replaces the page's Notification with one that is
// granted and records what it shows, and makes the page look unfocused (the
// agent works in another window).
const stubNotifications = `(() => {
	window.__shown = [];
	window.Notification = class { constructor(title, o) { window.__shown.push({ title, body: (o || {}).body || '', tag: (o || {}).tag || '' }); }
		close() {} static get permission() { return 'granted'; } static requestPermission() { return Promise.resolve('granted'); } };
	document.hasFocus = () => false;
})()`

func TestDesk22OfferMediaRepliesNotesHistory(t *testing.T) {
	photos := photoServer(t)
	d := newDesk(t, "a1:pw1:general:3,sup1:pw2:general:3:supervisor", "zh-CN,zh",
		func(c *livechat.Config) { c.MediaClient = photos.Client() })

	// The supervisor saves the canned replies in the console's editor, then steps away.
	sup := d.tab("supervisor", 1280, 800)
	d.login(sup, "sup1", "pw2", "en")
	d.waitJS(sup, "the editor's button", `!document.getElementById('replies-open').hidden`)
	d.click(sup, "#replies-open")
	d.waitJS(sup, "the editor", `!document.getElementById('replies-editor').hidden`)
	require.Equal(t, "[]", evalJS[string](d, sup, `document.getElementById('replies-json').value`),
		"the editor opens with the stored set loaded (none yet), never before it")
	d.shot(sup, "console-replies-editor-en.png")
	const set = `[{"keyword":"ludeng","topic":"市政设施","zh":"您反映的路灯问题已登记，诉求编号 {number}，请记下以便查询。","en":"Your street light report is registered as {number}."},
	 {"keyword":"lvhua","topic":"市政设施","zh":"绿化问题已记录。","en":"The greenery issue is recorded."},
	 {"keyword":"xiexie","topic":"结束语","zh":"感谢您联系 12345。","en":"Thank you for contacting 12345."}]`
	require.NoError(t, chromedp.Do(sup, chromedp.SetValue(chromedp.ID("replies-json"), set), chromedp.Click(chromedp.ID("replies-save"))))
	d.waitJS(sup, "replies saved", `document.getElementById('replies-editor').hidden`)
	require.NoError(t, chromedp.Do(sup, chromedp.Evaluate[chromedp.Void](
		`(() => { const s = document.getElementById('presence'); s.value = 'away'; s.dispatchEvent(new Event('change')); })()`)))
	d.waitJS(sup, "supervisor away", `document.getElementById('presence').dataset.state === 'away'`)

	agent := d.tab("a1", 1280, 820)
	d.login(agent, "a1", "pw1", "")
	require.NoError(t, chromedp.Do(agent, chromedp.Evaluate[chromedp.Void](stubNotifications)))
	require.Equal(t, "12345 在线服务坐席台", evalJS[string](d, agent, `document.title`))

	// A citizen writes with a photo.
	cit := lt.MustDial(t, d.hub.Base, "/v1/ws/citizen", d.hub.CitizenToken("photo-citizen"))
	w := cit.Hello(map[string]any{"channel": "web", "language": "zh-CN"})
	sid := w.SessionID
	require.NotEmpty(t, sid)
	const question = "小区门口的路灯坏了，照片见附件"
	cit.SendData(livechat.TypeMessage, sid, "m-1", map[string]any{"text": question,
		"attachments": []map[string]any{{"type": "image", "url": photos.URL + "/photo.png", "mime": "image/png", "title": "路灯.png"}}})
	require.Equal(t, "m-1", cit.ExpectFrom("citizen", 5*time.Second).ID)

	// The offer: the tab title counts it and a notification names it.
	d.waitJS(agent, "offer", `document.querySelector('#offers li.offer[data-sid="`+sid+`"] .accept') !== null`)
	d.waitJS(agent, "tab title counter", `document.title === '(1) 12345 在线服务坐席台'`)
	d.waitJS(agent, "a notification", `window.__shown.length === 1`)
	require.True(t, evalJS[bool](d, agent, `window.__shown[0].title.startsWith('新会话') && window.__shown[0].body === `+jsq(question)),
		"notification: %v", evalJS[any](d, agent, `window.__shown`))

	// Accepted: the chat is named by its number; the photo is a thumbnail that opens full size.
	d.click(agent, `#offers li.offer[data-sid="`+sid+`"] .accept`)
	d.waitJS(agent, "the chat", `(document.getElementById('chat-title').dataset.number || '') !== ''`)
	// The agent is back in this window: the counter clears.
	require.NoError(t, chromedp.Do(agent, chromedp.Evaluate[chromedp.Void](`document.hasFocus = () => true; window.dispatchEvent(new Event('focus'))`)))
	d.waitJS(agent, "counter cleared", `document.title === '12345 在线服务坐席台'`)
	number := evalJS[string](d, agent, `document.getElementById('chat-title').dataset.number`)
	require.Regexp(t, `^\d{12,14}$`, number)
	require.Equal(t, "会话 "+number, d.text(agent, "#chat-title"))
	require.Equal(t, number, d.text(agent, `#sessions li.session[data-sid="`+sid+`"] .number`))
	thumb := `#transcript li.msg.citizen .thumb[data-loaded="1"] img`
	d.waitJS(agent, "the thumbnail", `document.querySelector('`+thumb+`') !== null && document.querySelector('`+thumb+`').naturalWidth === 40`)
	require.True(t, evalJS[bool](d, agent, `document.querySelector('`+thumb+`').src.startsWith('blob:')`), "shown from the gateway's bytes")
	require.False(t, evalJS[bool](d, agent, `document.body.innerHTML.includes(`+jsq(strings.TrimPrefix(photos.URL, "https://"))+`)`),
		"the third party's URL never reaches the page")
	d.click(agent, "#transcript li.msg.citizen .thumb")
	d.waitJS(agent, "full size", `!document.getElementById('viewer').hidden && document.getElementById('viewer-img').naturalWidth === 40 &&
		document.getElementById('viewer-img').naturalHeight === 30`)
	d.shot(agent, "console-media-zh.png")
	d.click(agent, "#viewer-close")
	d.waitJS(agent, "viewer closed", `document.getElementById('viewer').hidden`)

	// "/lu": the matching replies grouped by topic; Enter inserts the first with the number filled.
	require.NoError(t, chromedp.Do(agent, chromedp.SendKeys(chromedp.ID("reply"), "/lu")))
	d.waitJS(agent, "the replies menu", `!document.getElementById('reply-menu').hidden &&
		document.querySelectorAll('#reply-menu .reply-item').length === 1 && document.querySelector('#reply-menu .reply-item').dataset.keyword === 'ludeng'`)
	require.Equal(t, "市政设施", d.text(agent, "#reply-menu .reply-topic"))
	d.shot(agent, "console-replies-zh.png")
	// Enter as the page sees it (CDP's key events would add the newline the page's keydown prevents).
	require.NoError(t, chromedp.Do(agent, chromedp.Evaluate[chromedp.Void](
		`document.getElementById('reply').dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }))`)))
	filled := "您反映的路灯问题已登记，诉求编号 " + number + "，请记下以便查询。"
	d.waitJS(agent, "the reply inserted", `document.getElementById('reply').value === `+jsq(filled)+` && document.getElementById('reply-menu').hidden`)
	d.click(agent, "#send")
	got := cit.ExpectFrom("agent", 5*time.Second)
	require.Equal(t, filled, lt.Data(t, got)["text"])

	// An internal note: yellow, marked, echoed to the agent only.
	const note = "市民情绪稳定，已核实地址，明早派单"
	d.click(agent, "#mode-note")
	require.NoError(t, chromedp.Do(agent, chromedp.SendKeys(chromedp.ID("reply"), note), chromedp.Click(chromedp.ID("send"))))
	d.waitJS(agent, "the note", `[...document.querySelectorAll('#transcript li.msg.note[data-seq]')].some(li => li.textContent.includes(`+jsq(note)+`))`)
	require.Equal(t, "内部备注 · 市民不可见", d.text(agent, "#transcript li.msg.note .note-tag"))
	d.click(agent, "#mode-reply")
	require.NoError(t, chromedp.Do(agent, chromedp.SendKeys(chromedp.ID("reply"), "好的，我们明早处理"), chromedp.Click(chromedp.ID("send"))))
	for {
		f := cit.ExpectChat(5 * time.Second)
		text, _ := lt.Data(t, f)["text"].(string)
		require.NotContains(t, text, note, "the citizen was sent the note")
		require.NotEqual(t, "note", lt.Data(t, f)["from"])
		if text == "好的，我们明早处理" {
			break
		}
	}

	// The chat ends; the History view finds it by its number, read only, the note included.
	d.click(agent, "#close-session")
	d.click(agent, "#close-session")
	d.waitJS(agent, "closed", `!document.getElementById('chat-closed').hidden`)
	d.click(agent, "#lang")
	d.click(agent, "#view-history")
	require.NoError(t, chromedp.Do(agent, chromedp.SendKeys(chromedp.CSS(`#search input[name=number]`), number), chromedp.Click(chromedp.ID("search-submit"))))
	row := `#search-results tr.found[data-sid="` + sid + `"]`
	d.waitJS(agent, "found by number", `(document.getElementById('search-results').dataset.query || '').includes('number=`+number+`') &&
		document.querySelectorAll('#search-results tr.found').length === 1 && document.querySelector('`+row+`') !== null`)
	require.Equal(t, number, evalJS[string](d, agent, `document.querySelector('`+row+` .number').textContent`))
	d.click(agent, row)
	d.waitJS(agent, "the transcript", `document.getElementById('record').dataset.loaded === '1'`)
	require.Equal(t, "Chat "+number, d.text(agent, "#record-title"))
	require.Contains(t, d.text(agent, "#record-meta"), "read only")
	require.True(t, evalJS[bool](d, agent, `[...document.querySelectorAll('#record-transcript li.msg.citizen')].some(li => li.textContent.includes(`+jsq(question)+`)) &&
		[...document.querySelectorAll('#record-transcript li.msg.note')].some(li => li.textContent.includes(`+jsq(note)+`)) &&
		document.querySelector('#record-transcript textarea, #record-transcript button.link') === null`), "the read-only transcript with the note")
	d.waitJS(agent, "the photo in the record", `document.querySelector('#record-transcript .thumb[data-loaded="1"]') !== null`)
	d.shot(agent, "console-history-search-en.png")
}
