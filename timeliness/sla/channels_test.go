package sla_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/internal/clock"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

const (
	wxAppID  = "wx134c8103faa5a59e"
	wxToken  = "AAAAA"
	wxAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	openID   = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
	pSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	smsTok   = "sms-token-0123456789"
	smsSec   = "sms-secret-0123456789"
	phone    = "+8613812345678"
)

// A ticket event's reply reaches the citizen on every channel: web live chat
// (TestHandlingStopped…), WeChat, SMS, the partner that forwarded the request
// (a signed status webhook) and the web form (its status page).
func TestTicketReplyReachesEveryChannel(t *testing.T) {
	wx := wechatfake.New(wxAppID, "secret")
	defer wx.Close()
	smsAPI := smsfake.NewGeneric(t, smsSec, smsTok)
	defer smsAPI.Close()
	var mu sync.Mutex
	var hooks []map[string]any
	verifier := stdwebhook.Verifier{Secrets: []stdwebhook.Secret{mustSecret(t)}, Clock: clock.System}
	partnerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if verifier.Verify(r.Header, body) != nil {
			w.WriteHeader(401)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		mu.Lock()
		hooks = append(hooks, m)
		mu.Unlock()
	}))
	defer partnerSrv.Close()

	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw:general:5",
		"GATEWAY_CHANNELS_WECHAT_APP_ID="+wxAppID, "GATEWAY_CHANNELS_WECHAT_APP_SECRET=secret",
		"GATEWAY_CHANNELS_WECHAT_TOKEN="+wxToken, "GATEWAY_CHANNELS_WECHAT_ENCODING_AES_KEY="+wxAESKey,
		"GATEWAY_CHANNELS_WECHAT_API_BASE="+wx.URL(),
		"GATEWAY_CHANNELS_SMS_PROVIDER=generic", "GATEWAY_CHANNELS_SMS_TOKEN="+smsTok, "GATEWAY_CHANNELS_SMS_SECRET="+smsSec,
		"GATEWAY_CHANNELS_SMS_API_BASE="+smsAPI.URL(), "GATEWAY_CHANNELS_SMS_SIGN_NAME="+smsfake.SignatureName,
		"GATEWAY_CHANNELS_SUISHENBAN_SECRET="+pSecret, "GATEWAY_CHANNELS_SUISHENBAN_CALLBACK_URL="+partnerSrv.URL+"/hooks",
		"GATEWAY_WEBHOOKS_ALLOW_HOSTS=127.0.0.1")
	ctx := context.Background()

	// WeChat.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	q, body := wechatfake.EncryptPush(wxToken, wxAESKey, wxAppID, []byte(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[`+openID+
		`]]></FromUserName><CreateTime>`+ts+`</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[井盖丢了]]></Content><MsgId>777</MsgId></xml>`), ts, "1")
	resp, err := http.Post(g.Base+"/v1/channels/wechat?"+q.Encode(), "text/xml", strings.NewReader(string(body)))
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	resp.Body.Close()

	// SMS.
	cb, err := smsfake.Uplink("generic", smsfake.CallbackAuth{Secret: smsSec},
		smsformat.Inbound{ProviderID: "s1", Phone: phone, Text: "路灯坏了", SentAt: time.Now().Truncate(time.Second)})
	require.NoError(t, err)
	req, err := cb.Request(ctx, g.Base+"/v1/channels/sms/inbound")
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	resp.Body.Close()

	// Suishenban.
	pbody := []byte(`{"request_id":"SSB-1","user":{"id":"u1","name":"张三","phone":"13800000000","verified":true},"category":"help","content":"小区停水","submitted_at":"2026-11-27T08:00:00Z"}`)
	preq, _ := http.NewRequest(http.MethodPost, g.Base+"/v1/channels/suishenban/requests", strings.NewReader(string(pbody)))
	for k, v := range stdwebhook.Headers(mustSecret(t), "msg_1", time.Now(), pbody) {
		preq.Header[k] = v
	}
	preq.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(preq)
	require.NoError(t, err)
	require.Equal(t, 202, resp.StatusCode)
	resp.Body.Close()

	// Web form.
	var receipt struct {
		ID           string `json:"id"`
		CitizenToken string `json:"citizen_token"`
	}
	require.Equal(t, 202, g.PostJSON(t, "/v1/channels/web/requests", map[string]any{"text": "噪音"}, &receipt))

	// The ticket system answers each envelope with a reply.
	byChannel := map[string]string{}
	require.Eventually(t, func() bool {
		for _, r := range g.Consume(t, "intake.envelopes", 200*time.Millisecond) {
			byChannel[r.Value["channel"].(string)] = r.Value["id"].(string)
		}
		return len(byChannel) == 4
	}, 10*time.Second, 50*time.Millisecond)
	w := kafkago.Writer{Addr: kafkago.TCP(g.KafkaBrokers()...), Topic: "ticket.events", BatchTimeout: time.Millisecond}
	defer w.Close()
	at := time.Now().UTC().Format(time.RFC3339)
	for ch, id := range byChannel {
		v := `{"schema":"ticket-event/v1","envelope_id":"` + id + `","ticket_id":"T-` + ch + `","status":"dispatched","at":"` + at + `","reply":{"text":"已派单-` + ch + `"}}`
		require.NoError(t, w.WriteMessages(ctx, kafkago.Message{Key: []byte(id), Value: []byte(v)}))
	}

	require.Eventually(t, func() bool {
		for _, m := range wx.Sent() {
			if m.ToUser == openID && m.Text == "已派单-wechat_miniprogram" {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "WeChat")
	require.Eventually(t, func() bool {
		for _, m := range smsAPI.Sent() {
			if m.Phone == phone && strings.Contains(m.Text, "已派单-sms") {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "SMS")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooks {
			d, _ := h["data"].(map[string]any)
			if h["type"] == "request.status" && d["status"] == "dispatched" && d["reply"] == "已派单-suishenban" && d["request_id"] == "SSB-1" {
				return true
			}
		}
		return false
	}, 10*time.Second, 20*time.Millisecond, "partner webhook")
	require.Eventually(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, g.Base+"/v1/requests/"+receipt.ID, nil)
		req.Header.Set("Authorization", "Bearer "+receipt.CitizenToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return st["status"] == "dispatched" && st["reply"] == "已派单-web"
	}, 10*time.Second, 20*time.Millisecond, "web status")

	// The partner reads the status of what it forwarded, signing its GET;
	// nobody else does.
	get := func(id string, signed bool) int {
		req, _ := http.NewRequest(http.MethodGet, g.Base+"/v1/requests/"+id, nil)
		if signed {
			for k, v := range stdwebhook.Headers(mustSecret(t), "msg_get_"+id, time.Now(), nil) {
				req.Header[k] = v
			}
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get(byChannel["suishenban"], true))
	require.Equal(t, http.StatusNotFound, get(byChannel["web"], true), "not forwarded by this partner")
	require.Equal(t, http.StatusUnauthorized, get(byChannel["suishenban"], false))
}

func mustSecret(t *testing.T) stdwebhook.Secret {
	s, err := stdwebhook.ParseSecret(pSecret)
	require.NoError(t, err)
	return s
}
