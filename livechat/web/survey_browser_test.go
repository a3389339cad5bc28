package web_test

// Browser tests of issue 20: when an agent closes a chat, the widget shows
// the follow-up survey in the chat (the hub's survey frame, made here by a
// CloseTx of the test's own) and posts the citizen's answer to
// POST /v1/surveys/{code} on its own origin, served here by a stand-in that
// records the bodies. UPDATE_SCREENSHOTS=1 writes widget-survey.png into
// docs/screenshots.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/livechat/web"
	"github.com/hotline12345/gateway/sessions"
)

// surveyAPI stands in for the follow-up service: its CloseTx gives every
// chat an agent closes a survey, and its POST /v1/surveys/:code records
// what the widget sends and answers with the status the test chose.
type surveyAPI struct {
	mu    sync.Mutex
	codes map[string]string // session id → survey code
	posts []surveyPost
	reply int // the status of the next answers
}

type surveyPost struct {
	Code, ContentType, Body string
}

func (s *surveyAPI) closeTx(_ *store.Tx, r *sessions.Session, by, _ string) (*livechat.SurveyData, error) {
	if by == "" {
		return nil, nil // closed by the citizen or the system: the survey comes later, as for any request
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	code := base64.RawURLEncoding.EncodeToString(b) // 22 characters
	s.mu.Lock()
	s.codes[r.ID] = code
	s.mu.Unlock()
	return &livechat.SurveyData{EnvelopeID: r.EnvelopeID, Number: r.Meta["number"], Code: code,
		URL: "https://12345.example.gov.cn/s/" + code, ExpiresAt: time.Now().Add(7 * 24 * time.Hour).UTC()}, nil
}

func (s *surveyAPI) answer(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.posts = append(s.posts, surveyPost{Code: c.Param("code"), ContentType: c.Request().Header.Get("Content-Type"), Body: string(body)})
	reply := s.reply
	s.mu.Unlock()
	switch reply {
	case http.StatusOK:
		return c.JSON(http.StatusOK, map[string]string{"state": "answered"})
	case http.StatusConflict:
		return apierr.New(apierr.CodeAnswered, "this survey has already been answered")
	case http.StatusGone:
		return apierr.New(apierr.CodeExpired, "this survey has expired")
	}
	return apierr.New(apierr.CodeUnavailable, "try again later")
}

func (s *surveyAPI) setReply(status int) {
	s.mu.Lock()
	s.reply = status
	s.mu.Unlock()
}

func (s *surveyAPI) code(sid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codes[sid]
}

func (s *surveyAPI) received() []surveyPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]surveyPost(nil), s.posts...)
}

// newSurveyDesk is newDesk with the hub's CloseTx set to api's and
// POST /v1/surveys/:code on the front server (the widget's origin).
func newSurveyDesk(t *testing.T, agents, lang string) (*desk, *surveyAPI) {
	t.Helper()
	chrome := chromePath(t)
	api := &surveyAPI{codes: map[string]string{}, reply: http.StatusOK}
	hub := lt.StartHub(t, agents, clock.System, "", func(c *livechat.Config) { c.CloseTx = api.closeTx })

	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	web.Mount(e)
	hub.Mount(e)
	var citizens atomic.Int64
	e.POST("/v1/citizen/sessions", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"token": hub.CitizenToken(fmt.Sprintf("web-citizen-%d", citizens.Add(1)))})
	})
	e.POST("/v1/surveys/:code", api.answer)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	d := newDeskOn(t, hub, srv.URL, chrome, lang)
	t.Cleanup(func() { forgive(d) }) // runs before newDeskOn's check of the logs
	return d, api
}

// closedWithSurvey: the citizen writes from the widget, the agent (from Go)
// accepts and closes the chat; the widget shows the survey card, its
// heading focused. It returns the survey's code.
func closedWithSurvey(d *desk, api *surveyAPI, widget context.Context, agent *lt.Client, text string) string {
	d.t.Helper()
	d.write(widget, text)
	sid := d.widgetSession(widget)
	for {
		if f := agent.Expect(livechat.TypeOffer, 5*time.Second); f.SessionID == sid {
			break
		}
	}
	agent.SendData(livechat.TypeAccept, sid, "", map[string]any{})
	d.waitJS(widget, "agent joined", `document.getElementById('status').dataset.state === 'active'`)
	require.True(d.t, evalJS[bool](d, widget, `document.getElementById('survey').hidden`), "no card before the close")
	agent.SendData(livechat.TypeClose, sid, "", map[string]any{})
	d.waitJS(widget, "the survey card", `document.getElementById('status').dataset.state === 'closed' &&
		!document.getElementById('survey').hidden && document.activeElement === document.getElementById('survey-title')`)
	code := api.code(sid)
	require.Len(d.t, code, 22)
	return code
}

// choose clicks the label of a choice (the touch target), not the radio.
func choose(d *desk, ctx context.Context, name, value string) {
	d.t.Helper()
	d.click(ctx, `#survey label.choice:has(input[name="`+name+`"][value="`+value+`"])`)
	require.True(d.t, evalJS[bool](d, ctx, `document.querySelector('#survey input[name="`+name+`"][value="`+value+`"]').checked`))
}

// forgive drops the browser's own log lines about the answers the tests
// make the stand-in refuse ("Failed to load resource: … 409"): the widget
// shows those to the citizen.
func forgive(d *desk) {
	d.logs.mu.Lock()
	defer d.logs.mu.Unlock()
	kept := d.logs.errs[:0]
	for _, e := range d.logs.errs {
		refused := strings.Contains(e, "status of 409") || strings.Contains(e, "status of 410") || strings.Contains(e, "status of 503")
		if !refused || !strings.Contains(e, "/v1/surveys/") {
			kept = append(kept, e)
		}
	}
	d.logs.errs = kept
}

// TestWidgetSurveyAnswered: after the agent closes the chat the card
// appears after the close notice, in Chinese, with large touch targets and
// a link to the survey page. Submitting without choices posts nothing; an
// answer the server cannot take (503) keeps the input and says to retry;
// the retry posts the same exact JSON and thanks the citizen.
func TestWidgetSurveyAnswered(t *testing.T) {
	d, api := newSurveyDesk(t, "a1:pw1:general:3", "zh-CN,zh")
	agent := d.agentClient("a1", "available")
	widget := d.tab("citizen", 360, 720)
	d.openWidget(widget, "lang=zh-CN")
	code := closedWithSurvey(d, api, widget, agent, "小区门口的路灯坏了一个星期了")

	require.Equal(t, "工作人员已结束本次会话，感谢您的来信。", d.text(widget, "#ended-text"))
	require.True(t, evalJS[bool](d, widget, `!!(document.getElementById('ended-text').compareDocumentPosition(document.getElementById('survey')) & Node.DOCUMENT_POSITION_FOLLOWING)`),
		"the card comes after the close notice")
	require.Equal(t, "请评价本次服务", d.text(widget, "#survey-title"))
	require.Equal(t, []string{"您反映的问题解决了吗？", "您对本次服务满意吗？"},
		evalJS[[]string](d, widget, `[...document.querySelectorAll('#survey fieldset > legend')].map(l => l.textContent)`))
	require.Equal(t, []string{"是", "否", "满意", "基本满意", "不满意"},
		evalJS[[]string](d, widget, `[...document.querySelectorAll('#survey label.choice')].map(l => l.textContent.trim())`))
	require.Equal(t, "意见或建议（可选，最多 500 字）", d.text(widget, "#survey label.comment"))
	require.Equal(t, 500, evalJS[int](d, widget, `document.getElementById('survey-comment').maxLength`))
	require.True(t, evalJS[bool](d, widget, `[...document.querySelectorAll('#survey label.choice, #survey-submit')].every(e => e.getBoundingClientRect().height >= 44)`),
		"touch targets at least 44 px high")
	link := evalJS[map[string]string](d, widget, `(() => { const a = document.getElementById('survey-link');
		return {href: a.href, target: a.target, rel: a.rel, text: a.textContent, hidden: String(a.hidden)}; })()`)
	require.Equal(t, map[string]string{"href": "https://12345.example.gov.cn/s/" + code, "target": "_blank", "rel": "noopener",
		"text": "打开评价页面", "hidden": "false"}, link)

	// Nothing chosen: nothing is posted, the citizen is told what is missing.
	d.click(widget, "#survey-submit")
	d.waitJS(widget, "missing choices", `document.getElementById('survey-msg').dataset.note === 'missing'`)
	require.Equal(t, "请选择问题是否解决以及满意程度。", d.text(widget, "#survey-msg"))
	require.True(t, evalJS[bool](d, widget, `document.activeElement === document.querySelector('#survey input[name="resolved"]')`))
	require.Empty(t, api.received())

	// Filled in; the server is unavailable: the input stays, retry is offered.
	const comment = "处理得很快，但希望夜里也能修"
	choose(d, widget, "resolved", "yes")
	choose(d, widget, "rating", "basically_satisfied")
	require.NoError(t, chromedp.Do(widget, chromedp.SendKeys(chromedp.ID("survey-comment"), comment)))
	require.Empty(t, d.text(widget, "#survey-msg"), "a choice clears the note about missing ones")
	d.shot(widget, "widget-survey.png")
	api.setReply(http.StatusServiceUnavailable)
	d.click(widget, "#survey-submit")
	d.waitJS(widget, "retry", `document.getElementById('survey-msg').dataset.note === 'retry' && !document.getElementById('survey-submit').disabled`)
	require.Equal(t, "提交没有成功，请稍后再试，您填写的内容已保留。", d.text(widget, "#survey-msg"))
	require.True(t, evalJS[bool](d, widget, `!document.getElementById('survey-form').hidden &&
		document.querySelector('#survey input[value="yes"]').checked && document.querySelector('#survey input[value="basically_satisfied"]').checked &&
		document.getElementById('survey-comment').value === `+jsq(comment)))

	api.setReply(http.StatusOK)
	d.click(widget, "#survey-submit")
	d.waitJS(widget, "thanks", `document.getElementById('survey-msg').dataset.note === 'thanks'`)
	require.Equal(t, "感谢您的评价！", d.text(widget, "#survey-msg"))
	require.True(t, evalJS[bool](d, widget, `document.getElementById('survey-form').hidden && document.getElementById('survey-link').hidden &&
		document.activeElement === document.getElementById('survey-msg')`))
	want := surveyPost{Code: code, ContentType: "application/json",
		Body: `{"resolved":true,"rating":"basically_satisfied","comment":"` + comment + `"}`}
	require.Equal(t, []surveyPost{want, want}, api.received())

	// A new conversation has no card.
	d.click(widget, "#again")
	d.waitJS(widget, "new conversation", `document.getElementById('status').dataset.state === 'new' && document.getElementById('survey').hidden`)
}

// TestWidgetSurveyRefused: an answer to a survey already answered (409
// survey_answered) or expired (410 survey_expired) says so; the form goes.
// The first citizen reads English.
func TestWidgetSurveyRefused(t *testing.T) {
	d, api := newSurveyDesk(t, "a1:pw1:general:3", "zh-CN,zh")
	agent := d.agentClient("a1", "available")
	for _, c := range []struct {
		lang, text, resolved, rating string
		status                       int
		note, msg, title             string
		body                         string
	}{
		{"en", "The street light outside building 3 is broken", "yes", "satisfied", http.StatusConflict,
			"answered", "This survey has already been answered. Thank you.", "Rate this conversation",
			`{"resolved":true,"rating":"satisfied","comment":""}`},
		{"zh-CN", "垃圾桶三天没人清理了", "no", "dissatisfied", http.StatusGone,
			"expired", "这份评价已过期。", "请评价本次服务",
			`{"resolved":false,"rating":"dissatisfied","comment":""}`},
	} {
		widget := d.tab("citizen "+c.lang, 360, 720)
		d.openWidget(widget, "lang="+c.lang)
		code := closedWithSurvey(d, api, widget, agent, c.text)
		require.Equal(t, c.title, d.text(widget, "#survey-title"))
		choose(d, widget, "resolved", c.resolved)
		choose(d, widget, "rating", c.rating)
		before := len(api.received())
		api.setReply(c.status)
		d.click(widget, "#survey-submit")
		d.waitJS(widget, c.note, `document.getElementById('survey-msg').dataset.note === `+jsq(c.note))
		require.Equal(t, c.msg, d.text(widget, "#survey-msg"))
		require.True(t, evalJS[bool](d, widget, `document.getElementById('survey-form').hidden && document.getElementById('survey-link').hidden`))
		posts := api.received()[before:]
		require.Equal(t, []surveyPost{{Code: code, ContentType: "application/json", Body: c.body}}, posts)
	}
}
