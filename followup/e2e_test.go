package followup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

const (
	wxAppID    = "wx134c8103faa5a59e"
	wxToken    = "AAAAA"
	wxAESKey   = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	openID     = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
	pSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	smsTok     = "sms-token-0123456789"
	smsSec     = "sms-secret-0123456789"
	phone      = "+8613812345678"
	appSecret  = "app-secret-0123456789"
	baseURL    = "https://12345.example.cn"
	adminToken = "operator-token-0123456789"
	wait       = 10 * time.Second
)

var linkRE = regexp.MustCompile(regexp.QuoteMeta(baseURL) + `/s/([A-Za-z0-9_-]{22})`)

// world is a gateway with every channel on, against fakes that speak the
// providers' wire formats, and a partner that records its webhooks.
type world struct {
	t   *testing.T
	g   *lt.Gateway
	clk *clock.Fake
	wx  *wechatfake.Server
	sms *smsfake.Generic

	mu    sync.Mutex
	hooks []map[string]any
}

func newWorld(t *testing.T, env ...string) *world {
	// The clock starts at the real time: the channels check the providers'
	// signed timestamps against it. at moves it on.
	w := &world{t: t, clk: clock.NewFake(time.Now())}
	w.wx = wechatfake.New(wxAppID, "secret")
	t.Cleanup(w.wx.Close)
	w.sms = smsfake.NewGeneric(t, smsSec, smsTok, smsfake.WithClock(w.clk)) // the gateway signs with its clock
	t.Cleanup(w.sms.Close)
	secret, err := stdwebhook.ParseSecret(pSecret)
	require.NoError(t, err)
	verifier := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{secret}, Clock: w.clk} // the gateway signs with its clock
	partner := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if verifier.Verify(r.Header, body) != nil {
			rw.WriteHeader(401)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		w.mu.Lock()
		w.hooks = append(w.hooks, m)
		w.mu.Unlock()
	}))
	t.Cleanup(partner.Close)
	w.g = lt.StartWith(t, t.TempDir(), gateway.Options{Clock: w.clk}, append([]string{"GATEWAY_AGENTS=a1:pw:general:5,sup:pw:general:5:supervisor", "GATEWAY_AUTH_ADMIN_TOKEN=" + adminToken,
		"GATEWAY_SURVEY_BASE_URL=" + baseURL, "GATEWAY_SURVEY_QUIET_HOURS=21:00-08:00",
		"GATEWAY_CHANNELS_WECHAT_APP_ID=" + wxAppID, "GATEWAY_CHANNELS_WECHAT_APP_SECRET=secret",
		"GATEWAY_CHANNELS_WECHAT_TOKEN=" + wxToken, "GATEWAY_CHANNELS_WECHAT_ENCODING_AES_KEY=" + wxAESKey,
		"GATEWAY_CHANNELS_WECHAT_API_BASE=" + w.wx.URL(),
		"GATEWAY_CHANNELS_SMS_PROVIDER=generic", "GATEWAY_CHANNELS_SMS_TOKEN=" + smsTok, "GATEWAY_CHANNELS_SMS_SECRET=" + smsSec,
		"GATEWAY_CHANNELS_SMS_API_BASE=" + w.sms.URL(), "GATEWAY_CHANNELS_SMS_SIGN_NAME=" + smsfake.SignatureName,
		"GATEWAY_CHANNELS_SUISHENBAN_SECRET=" + pSecret, "GATEWAY_CHANNELS_SUISHENBAN_CALLBACK_URL=" + partner.URL + "/hooks",
		"GATEWAY_CHANNELS_APP_KEYS=k1:" + appSecret,
		"GATEWAY_WEBHOOKS_ALLOW_HOSTS=127.0.0.1"}, env...)...)
	return w
}

// at moves the clock forward to the next hh:00 in Shanghai.
func (w *world) at(hh int) {
	now := w.clk.Now().In(shanghai)
	next := time.Date(now.Year(), now.Month(), now.Day(), hh, 0, 0, 0, shanghai)
	if !next.After(now) {
		next = next.AddDate(0, 0, 1)
	}
	w.clk.Set(next)
	w.settle()
}

// settle lets every survey timer due now fire and its send be recorded.
func (w *world) settle() {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(w.t, w.g.FollowUp().Sync(ctx))
}

func (w *world) advance(d time.Duration) {
	w.clk.Advance(d)
	w.settle()
}

// ticket publishes a ticket event, as the ticket system does, and waits
// until the gateway applied it.
func (w *world) ticket(id, status string, extra string) {
	ctx := context.Background()
	kw := kafkago.Writer{Addr: kafkago.TCP(w.g.KafkaBrokers()...), Topic: "ticket.events", BatchTimeout: time.Millisecond}
	defer kw.Close()
	v := `{"schema":"ticket-event/v1","envelope_id":"` + id + `","status":"` + status + `","at":"` +
		w.clk.Now().UTC().Format(time.RFC3339) + `","handling_unit":"黄浦区市容绿化局"` + extra + `}`
	require.NoError(w.t, kw.WriteMessages(ctx, kafkago.Message{Key: []byte(id), Value: []byte(v)}))
	require.Eventually(w.t, func() bool {
		r, err := w.g.Intake().Request(id)
		return err == nil && r.Status == status
	}, wait, 10*time.Millisecond)
	// The follow-up is applied right after the status, by the same consumer.
	require.Eventually(w.t, func() bool {
		_, ok := w.g.FollowUp().ForRequest(id)
		return ok
	}, wait, 10*time.Millisecond)
	w.settle()
}

// answer posts a survey answer as an app or the widget does.
func (w *world) answer(code string, resolved bool, rating, comment string) (int, string) {
	b, _ := json.Marshal(map[string]any{"resolved": resolved, "rating": rating, "comment": comment})
	resp, err := http.Post(w.g.Base+"/v1/surveys/"+code, "application/json", bytes.NewReader(b))
	require.NoError(w.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// surveyEvents returns the survey.* and review.requested events on Kafka
// as "type envelope".
func (w *world) surveyEvents() []string {
	var out []string
	for _, r := range w.g.Consume(w.t, "intake.events", 300*time.Millisecond) {
		typ, _ := r.Value["type"].(string)
		if strings.HasPrefix(typ, "survey.") || typ == "review.requested" {
			lt.Validate(w.t, "event", r.Raw)
			out = append(out, typ+" "+r.Value["envelope_id"].(string))
		}
	}
	return out
}

// envelopes waits for n envelopes on Kafka and returns their ids by channel.
func (w *world) envelopes(n int) map[string]string {
	out := map[string]string{}
	require.Eventually(w.t, func() bool {
		for _, r := range w.g.Consume(w.t, "intake.envelopes", 200*time.Millisecond) {
			out[r.Value["channel"].(string)] = r.Value["id"].(string)
		}
		return len(out) >= n
	}, wait, 50*time.Millisecond)
	return out
}

func (w *world) wechatMessage(text string) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	q, body := wechatfake.EncryptPush(wxToken, wxAESKey, wxAppID, []byte(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[`+openID+
		`]]></FromUserName><CreateTime>`+ts+`</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[`+text+`]]></Content><MsgId>777</MsgId></xml>`), ts, "1")
	resp, err := http.Post(w.g.Base+"/v1/channels/wechat?"+q.Encode(), "text/xml", bytes.NewReader(body))
	require.NoError(w.t, err)
	require.Equal(w.t, 200, resp.StatusCode)
	resp.Body.Close()
}

func (w *world) smsMessage(text string) {
	cb, err := smsfake.Uplink("generic", smsfake.CallbackAuth{Secret: smsSec},
		smsformat.Inbound{ProviderID: "s1", Phone: phone, Text: text, SentAt: time.Now().Truncate(time.Second)})
	require.NoError(w.t, err)
	req, err := cb.Request(context.Background(), w.g.Base+"/v1/channels/sms/inbound")
	require.NoError(w.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	require.Equal(w.t, 200, resp.StatusCode)
	resp.Body.Close()
}

func (w *world) partnerRequest() {
	secret, _ := stdwebhook.ParseSecret(pSecret)
	body := []byte(`{"request_id":"SSB-1","user":{"id":"u1","name":"张三","phone":"13800000000","verified":true},"category":"help","content":"小区停水","district":"徐汇区","submitted_at":"2026-11-27T08:00:00Z"}`)
	req, _ := http.NewRequest(http.MethodPost, w.g.Base+"/v1/channels/suishenban/requests", bytes.NewReader(body))
	for k, v := range stdwebhook.Headers(secret, "msg_1", time.Now(), body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	require.Equal(w.t, 202, resp.StatusCode)
	resp.Body.Close()
}

// appRequest files a request from the app; it returns the envelope id.
func (w *world) appRequest() string {
	body := []byte(`{"text":"公交站牌坏了","user":{"id":"app-user-1"}}`)
	var out struct{ ID string }
	require.Equal(w.t, 202, w.appDo(http.MethodPost, "/v1/channels/app/requests", body, &out))
	return out.ID
}

// appDo sends a request signed as the app's backend.
func (w *world) appDo(method, path string, body []byte, out any) int {
	ts := strconv.FormatInt(w.clk.Now().Unix(), 10)
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	req, _ := http.NewRequest(method, w.g.Base+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-App-Key", "k1")
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Nonce", nonce)
	req.Header.Set("X-Signature", app.Sign(appSecret, method, path, ts, nonce, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(w.t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

type statusSurvey struct {
	Survey *struct {
		URL, Code, State string
	} `json:"survey"`
}

// Every channel: ticket event → survey delivered on the request's own
// channel → answered → survey.answered on Kafka with its envelope id.
func TestSurveyOnEveryChannel(t *testing.T) {
	w := newWorld(t)
	w.wechatMessage("井盖丢了")
	w.smsMessage("路灯坏了")
	w.partnerRequest()
	var web struct {
		ID           string `json:"id"`
		CitizenToken string `json:"citizen_token"`
	}
	require.Equal(t, 202, w.g.PostJSON(t, "/v1/channels/web/requests", map[string]any{"text": "噪音扰民"}, &web))
	appID := w.appRequest()
	ids := w.envelopes(5)
	w.at(10) // not in the quiet hours
	for _, ch := range []string{"wechat_miniprogram", "sms", "suishenban", "web", "app"} {
		w.ticket(ids[ch], "resolved", "")
	}

	codes := map[string]string{}
	// WeChat: a customer-service message with the link.
	for _, m := range w.wx.Sent() {
		if m.ToUser == openID && linkRE.MatchString(m.Text) {
			codes["wechat_miniprogram"] = linkRE.FindStringSubmatch(m.Text)[1]
		}
	}
	// SMS: the link within one segment.
	for _, m := range w.sms.Sent() {
		if m.Phone == phone && linkRE.MatchString(m.Text) {
			require.LessOrEqual(t, len([]rune(m.Text)), 70, "one SMS segment: %q", m.Text)
			codes["sms"] = linkRE.FindStringSubmatch(m.Text)[1]
		}
	}
	// The partner: a request.survey webhook carrying the link.
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, h := range w.hooks {
			d, _ := h["data"].(map[string]any)
			if h["type"] == "request.survey" && d["request_id"] == "SSB-1" && d["id"] == ids["suishenban"] {
				codes["suishenban"] = linkRE.FindStringSubmatch(d["url"].(string))[1]
				return true
			}
		}
		return false
	}, wait, 20*time.Millisecond, "partner webhook")
	// The web form and the app: on the status answer.
	req, _ := http.NewRequest(http.MethodGet, w.g.Base+"/v1/requests/"+web.ID, nil)
	req.Header.Set("Authorization", "Bearer "+web.CitizenToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var st statusSurvey
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	require.NotNil(t, st.Survey)
	require.Equal(t, "sent", st.Survey.State)
	require.Equal(t, baseURL+"/s/"+st.Survey.Code, st.Survey.URL)
	codes["web"] = st.Survey.Code
	var ast statusSurvey
	require.Equal(t, 200, w.appDo(http.MethodGet, "/v1/requests/"+appID, nil, &ast))
	require.NotNil(t, ast.Survey)
	codes["app"] = ast.Survey.Code
	require.Len(t, codes, 5, "a survey on every channel: %v", codes)

	for ch, code := range codes {
		status, body := w.answer(code, ch != "sms", "satisfied", "谢谢")
		require.Equal(t, 200, status, "%s: %s", ch, body)
		status, body = w.answer(code, true, "satisfied", "")
		require.Equal(t, 409, status, ch)
		require.Contains(t, body, `"survey_answered"`)
	}
	events := w.surveyEvents()
	for ch, id := range ids {
		require.Contains(t, events, "survey.sent "+id, ch)
		require.Contains(t, events, "survey.answered "+id, ch)
	}
	require.Equal(t, []string{"review.requested " + ids["sms"]}, filter(events, "review.requested"),
		"a first request rated not resolved is looked at again")
	var ast2 statusSurvey
	require.Equal(t, 200, w.appDo(http.MethodGet, "/v1/requests/"+appID, nil, &ast2))
	require.Equal(t, "answered", ast2.Survey.State)
}

func filter(events []string, prefix string) []string {
	var out []string
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// A live chat closed by its agent gets the rating in the chat itself; the
// ticket system's later "resolved" sends no second survey.
func TestChatClosedByAgentRatesInTheChat(t *testing.T) {
	w := newWorld(t)
	a := w.g.MustDial(t, "/v1/ws/agent", w.g.AgentToken(t, "a1", "pw"))
	a.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	a.Expect(livechat.TypeWelcome, wait)
	cit := w.g.MustDial(t, "/v1/ws/citizen", w.g.CitizenToken(t))
	sid := cit.OpenSession(map[string]any{"channel": "web"}, "楼道灯坏了")
	a.Expect(livechat.TypeOffer, wait)
	a.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a.Expect(livechat.TypeSession, wait)
	a.Send(livechat.Frame{Type: livechat.TypeClose, SessionID: sid})
	f := cit.Expect(livechat.TypeSurvey, wait)
	var d livechat.SurveyData
	require.NoError(t, json.Unmarshal(f.Data, &d))
	require.Equal(t, baseURL+"/s/"+d.Code, d.URL)
	cit.Expect(livechat.TypeClose, wait)

	w.ticket(d.EnvelopeID, "resolved", "")
	status, body := w.answer(d.Code, true, "basically_satisfied", "")
	require.Equal(t, 200, status, body)
	require.Equal(t, []string{"survey.sent " + d.EnvelopeID, "survey.answered " + d.EnvelopeID}, w.surveyEvents())
}

// no_follow_up sends nothing; an expired code is refused; quiet hours hold
// an SMS survey until the morning.
func TestNoFollowUpExpiryAndQuietHours(t *testing.T) {
	w := newWorld(t)
	w.smsMessage("路灯坏了")
	var web struct {
		ID           string `json:"id"`
		CitizenToken string `json:"citizen_token"`
	}
	require.Equal(t, 202, w.g.PostJSON(t, "/v1/channels/web/requests", map[string]any{"text": "噪音扰民"}, &web))
	var quiet struct{ ID string }
	require.Equal(t, 202, w.g.PostJSON(t, "/v1/channels/web/requests", map[string]any{"text": "涉及个人隐私的事项"}, &quiet))
	ids := w.envelopes(2)
	w.at(22)
	w.ticket(quiet.ID, "closed", `,"no_follow_up":true`)
	w.ticket(ids["sms"], "resolved", "")
	w.ticket(web.ID, "resolved", "")

	hasLink := func() bool {
		for _, m := range w.sms.Sent() {
			if linkRE.MatchString(m.Text) {
				return true
			}
		}
		return false
	}
	require.False(t, hasLink(), "no SMS survey at 22:00")
	w.advance(9*time.Hour + 59*time.Minute) // 07:59
	require.False(t, hasLink())
	w.advance(time.Minute) // 08:00
	require.True(t, hasLink(), "sent when the quiet hours end")

	r, ok := w.g.FollowUp().ForRequest(web.ID)
	require.True(t, ok)
	w.advance(7*24*time.Hour + time.Minute)
	status, body := w.answer(r.Code, true, "satisfied", "")
	require.Equal(t, 410, status)
	require.Contains(t, body, `"survey_expired"`)

	events := w.surveyEvents()
	require.Empty(t, filter(events, "survey.sent "+quiet.ID), "no_follow_up sends nothing")
	require.Contains(t, events, "survey.expired "+web.ID)
	nf, ok := w.g.FollowUp().ForRequest(quiet.ID)
	require.True(t, ok)
	require.True(t, nf.NoFollowUp)
	require.Empty(t, nf.Code)
}

// The report through the gateway: the operator and supervisors read it,
// other agents do not; its figures follow what happened.
func TestReportThroughTheGateway(t *testing.T) {
	w := newWorld(t)
	var ids []string
	for _, text := range []string{"噪音扰民", "路灯不亮", "垃圾未清运"} {
		var out struct{ ID string }
		require.Equal(t, 202, w.g.PostJSON(t, "/v1/channels/web/requests", map[string]any{"text": text,
			"location": map[string]string{"district": "徐汇区"}}, &out))
		ids = append(ids, out.ID)
	}
	w.ticket(ids[0], "resolved", "")
	w.ticket(ids[1], "closed", "")
	w.ticket(ids[2], "resolved", `,"no_follow_up":true`)
	r, ok := w.g.FollowUp().ForRequest(ids[0])
	require.True(t, ok)
	status, body := w.answer(r.Code, false, "dissatisfied", "")
	require.Equal(t, 200, status, body)

	get := func(token, query string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, w.g.Base+"/v1/surveys/report?"+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"operator", adminToken, 200},
		{"supervisor", w.g.AgentToken(t, "sup", "pw"), 200},
		{"agent", w.g.AgentToken(t, "a1", "pw"), 403},
		{"nobody", "", 401},
		{"wrong token", "not-the-operator-token", 401},
	} {
		resp, b := get(tc.token, "group=district")
		require.Equal(t, tc.status, resp.StatusCode, "%s: %s", tc.name, b)
		if tc.status != 200 {
			continue
		}
		var rep struct {
			Total map[string]any `json:"total"`
			Rows  []map[string]any
		}
		require.NoError(t, json.Unmarshal(b, &rep))
		require.Equal(t, map[string]any{"finished": 3.0, "no_follow_up": 1.0, "surveys_sent": 2.0, "answered": 1.0,
			"dissatisfied": 1.0, "satisfaction_rate": 0.0, "initiation_rate": 1.0, "reviews_requested": 1.0},
			pick(rep.Total, "finished", "no_follow_up", "surveys_sent", "answered", "dissatisfied", "satisfaction_rate", "initiation_rate", "reviews_requested"))
		require.Equal(t, "徐汇区", rep.Rows[0]["group"])
	}
	resp, b := get(adminToken, "group=channel&format=csv")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/csv")
	require.Contains(t, string(b), "web,3,1,2")
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

// A ticket finished while its citizen is still in the chat: the survey
// comes as a frame in the chat, as well as on the status answer.
func TestTicketFinishedDuringTheChat(t *testing.T) {
	w := newWorld(t)
	cit := w.g.MustDial(t, "/v1/ws/citizen", w.g.CitizenToken(t))
	sid := cit.OpenSession(map[string]any{"channel": "web"}, "楼道灯坏了")
	info, ok := w.g.Hub().SessionInfo(sid)
	require.True(t, ok)
	w.ticket(info.EnvelopeID, "resolved", "")
	f := cit.Expect(livechat.TypeSurvey, wait)
	var d livechat.SurveyData
	require.NoError(t, json.Unmarshal(f.Data, &d))
	require.Equal(t, info.EnvelopeID, d.EnvelopeID)
	require.Equal(t, baseURL+"/s/"+d.Code, d.URL)
	status, body := w.answer(d.Code, true, "satisfied", "")
	require.Equal(t, 200, status, body)
}
