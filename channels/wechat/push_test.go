package wechat_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/wechat"
	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

const (
	textXML = `<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[` + openid + `]]></FromUserName>` +
		`<CreateTime>1715943320</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[路灯坏了 <b>&amp;</b>]]></Content><MsgId>24576598145000123</MsgId></xml>`
	textJSON    = `{"ToUserName":"gh_97417a04a28d","FromUserName":"` + openid + `","CreateTime":1715943321,"MsgType":"text","Content":"还是不亮","MsgId":24576598145000124}`
	imageXML    = `<xml><ToUserName>gh</ToUserName><FromUserName>` + openid + `</FromUserName><CreateTime>1715943322</CreateTime><MsgType>image</MsgType><PicUrl><![CDATA[https://mmbiz.qpic.cn/pic]]></PicUrl><MediaId><![CDATA[MEDIA_1]]></MediaId><MsgId>24576598145000125</MsgId></xml>`
	pageJSON    = `{"ToUserName":"gh","FromUserName":"` + openid + `","CreateTime":1715943323,"MsgType":"miniprogrampage","MsgId":24576598145000126,"Title":"办事指南","AppId":"wxapp","PagePath":"pages/guide?id=7","ThumbUrl":"https://thumb","ThumbMediaId":"THUMB_1"}`
	enterJSON   = `{"ToUserName":"gh","FromUserName":"` + openid + `","CreateTime":1715943324,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"pages/report"}`
	voiceXML    = `<xml><ToUserName>gh</ToUserName><FromUserName>` + openid + `</FromUserName><CreateTime>1715943325</CreateTime><MsgType>voice</MsgType><MediaId>VOICE</MediaId><MsgId>24576598145000127</MsgId></xml>`
	kfCloseJSON = `{"ToUserName":"gh","FromUserName":"` + openid + `","CreateTime":1715943326,"MsgType":"event","Event":"kf_close_session"}`
)

func TestURLVerificationVector(t *testing.T) {
	vec := loadVectors(t).URLVerification
	require.Equal(t, token, vec.Token)
	v := newEnv(t, setup{})

	rr := v.do(t, http.MethodGet, values(vec.Query), nil)
	require.Equal(t, http.StatusOK, rr.Code)
	require.Equal(t, vec.Query["echostr"], rr.Body.String(), "body is the echostr exactly")

	bad := values(vec.Query)
	bad.Set("signature", "f464b24fc39322e44b38aa78f5edd27bd1441697")
	requireRefused(t, v.do(t, http.MethodGet, bad, nil), http.StatusUnauthorized, apierr.CodeUnauthorized)
	noEcho := values(vec.Query)
	noEcho.Del("echostr")
	requireRefused(t, v.do(t, http.MethodGet, noEcho, nil), http.StatusBadRequest, apierr.CodeBadRequest)
}

func TestPlaintextJSONVector(t *testing.T) {
	vec := loadVectors(t).PlaintextJSON
	sec, err := strconv.ParseInt(vec.Query["timestamp"], 10, 64)
	require.NoError(t, err)
	v := newEnv(t, setup{now: time.Unix(sec, 0)})

	rr := v.do(t, http.MethodPost, values(vec.Query), []byte(vec.Body))
	requireSuccess(t, rr)
	// debug_demo is not a type the gateway maps: recorded whole, acknowledged.
	require.Equal(t, []record{{normalize.ChannelWechat, openid, "evt:" + openid + ":1714037059", []byte(vec.Body)}}, v.rec.all())
	msgs, opened, _ := v.conv.snapshot()
	require.Empty(t, msgs)
	require.Empty(t, opened)
}

func TestSafeModeVector(t *testing.T) {
	vec := loadVectors(t).SafeMode
	require.Equal(t, aesKey, vec.EncodingAESKey)
	require.Equal(t, appID, vec.AppID)
	sec, err := strconv.ParseInt(vec.Query["timestamp"], 10, 64)
	require.NoError(t, err)
	v := newEnv(t, setup{safe: true, now: time.Unix(sec, 0)})

	body := []byte("<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[" + vec.Encrypt + "]]></Encrypt></xml>")
	requireSuccess(t, v.do(t, http.MethodPost, values(vec.Query), body))
	recs := v.rec.all()
	require.Len(t, recs, 1)
	require.Equal(t, "evt:"+openid+":1715943329", recs[0].DedupKey)
	require.Contains(t, string(recs[0].Raw), "debug_demo", "the decrypted inner message is recorded")
}

func TestSafeModeTextPush(t *testing.T) {
	v := newEnv(t, setup{safe: true})
	q, body := v.encrypted(textXML)
	requireSuccess(t, v.do(t, http.MethodPost, q, body))

	msgs, _, envelopes := v.conv.snapshot()
	require.Equal(t, 1, envelopes)
	require.Equal(t, []channels.InboundMessage{{
		Channel:       normalize.ChannelWechat,
		ChannelUserID: openid,
		DedupKey:      "msg:24576598145000123",
		Text:          "路灯坏了 <b>&amp;</b>",
		At:            time.Unix(1715943320, 0).UTC(),
		Source:        &normalize.Source{NativeID: "24576598145000123", NativeType: "text"},
		Meta:          map[string]string{wechat.MetaMsgType: "text"},
	}}, msgs)

	// JSON outer envelope with a JSON inner message joins the same conversation.
	q, body = wechatfake.EncryptPushJSON(token, aesKey, appID, []byte(textJSON), v.ts(), "77")
	requireSuccess(t, v.do(t, http.MethodPost, q, body))
	msgs, _, envelopes = v.conv.snapshot()
	require.Len(t, msgs, 2)
	require.Equal(t, "还是不亮", msgs[1].Text)
	require.Equal(t, 1, envelopes, "only the conversation's first message makes an envelope")
}

func TestMessageMapping(t *testing.T) {
	cases := []struct {
		name  string
		inner string
		want  channels.InboundMessage
	}{
		{"image xml", imageXML, channels.InboundMessage{
			Channel: normalize.ChannelWechat, ChannelUserID: openid, DedupKey: "msg:24576598145000125",
			Attachments: []normalize.Attachment{{Type: "image", URL: "https://mmbiz.qpic.cn/pic", MediaID: "MEDIA_1"}},
			At:          time.Unix(1715943322, 0).UTC(),
			Source:      &normalize.Source{NativeID: "24576598145000125", NativeType: "image"},
			Meta:        map[string]string{wechat.MetaMsgType: "image"},
		}},
		// The envelope takes https links only: WeChat's CDN's http links are
		// upgraded, anything else is dropped and the media id stays.
		{"image over http from the wechat cdn", strings.Replace(imageXML, "https://mmbiz.qpic.cn/pic", "http://mmbiz.qpic.cn/pic", 1), channels.InboundMessage{
			Channel: normalize.ChannelWechat, ChannelUserID: openid, DedupKey: "msg:24576598145000125",
			Attachments: []normalize.Attachment{{Type: "image", URL: "https://mmbiz.qpic.cn/pic", MediaID: "MEDIA_1"}},
			At:          time.Unix(1715943322, 0).UTC(),
			Source:      &normalize.Source{NativeID: "24576598145000125", NativeType: "image"},
			Meta:        map[string]string{wechat.MetaMsgType: "image"},
		}},
		{"image with a javascript url", strings.Replace(imageXML, "https://mmbiz.qpic.cn/pic", "javascript:alert(1)", 1), channels.InboundMessage{
			Channel: normalize.ChannelWechat, ChannelUserID: openid, DedupKey: "msg:24576598145000125",
			Attachments: []normalize.Attachment{{Type: "image", MediaID: "MEDIA_1"}},
			At:          time.Unix(1715943322, 0).UTC(),
			Source:      &normalize.Source{NativeID: "24576598145000125", NativeType: "image"},
			Meta:        map[string]string{wechat.MetaMsgType: "image", wechat.MetaURLDropped: "true"},
		}},
		{"miniprogrampage json", pageJSON, channels.InboundMessage{
			Channel: normalize.ChannelWechat, ChannelUserID: openid, DedupKey: "msg:24576598145000126",
			Attachments: []normalize.Attachment{{Type: "miniprogram_page", Title: "办事指南", URL: "pages/guide?id=7", MediaID: "THUMB_1"}},
			At:          time.Unix(1715943323, 0).UTC(),
			Source:      &normalize.Source{NativeID: "24576598145000126", NativeType: "miniprogrampage"},
			Meta:        map[string]string{wechat.MetaMsgType: "miniprogrampage", wechat.MetaThumbURL: "https://thumb", wechat.MetaPageAppID: "wxapp"},
		}},
	}
	for _, tc := range cases {
		for _, mode := range []string{"plaintext", "safe"} {
			t.Run(tc.name+" "+mode, func(t *testing.T) {
				v := newEnv(t, setup{safe: mode == "safe"})
				q, body := v.plain(tc.inner)
				if mode == "safe" {
					q, body = v.encrypted(tc.inner)
				}
				requireSuccess(t, v.do(t, http.MethodPost, q, body))
				msgs, _, _ := v.conv.snapshot()
				require.Equal(t, []channels.InboundMessage{tc.want}, msgs)
			})
		}
	}
}

func TestAttachmentLimits(t *testing.T) {
	v := newEnv(t, setup{})
	long := strings.Repeat("页", 600)
	inner := `{"FromUserName":"` + openid + `","CreateTime":1715943323,"MsgType":"miniprogrampage","MsgId":9,"Title":"` + long +
		`","PagePath":"pages/` + strings.Repeat("x", 3000) + `","ThumbMediaId":"T"}`
	q, body := v.plain(inner)
	requireSuccess(t, v.do(t, http.MethodPost, q, body))
	msgs, _, _ := v.conv.snapshot()
	require.Len(t, msgs, 1)
	a := msgs[0].Attachments[0]
	require.Equal(t, strings.Repeat("页", 500), a.Title, "title cut to the envelope's 500 characters")
	require.Empty(t, a.URL, "a URL over 2048 characters is dropped, not cut")
	require.Equal(t, "T", a.MediaID)
	require.Equal(t, "true", msgs[0].Meta[wechat.MetaClipped])
}

func TestEnterTempSession(t *testing.T) {
	v := newEnv(t, setup{safe: true})
	q, body := v.encrypted(enterJSON)
	requireSuccess(t, v.do(t, http.MethodPost, q, body))

	msgs, opened, envelopes := v.conv.snapshot()
	require.Empty(t, msgs)
	require.Zero(t, envelopes, "entering makes no envelope; the first message does")
	require.Equal(t, []channels.InboundMessage{{
		Channel: normalize.ChannelWechat, ChannelUserID: openid, DedupKey: "evt:" + openid + ":1715943324",
		At:     time.Unix(1715943324, 0).UTC(),
		Source: &normalize.Source{NativeID: "evt:" + openid + ":1715943324", NativeType: "event:user_enter_tempsession"},
		Meta:   map[string]string{wechat.MetaMsgType: "event", wechat.MetaEvent: "user_enter_tempsession", wechat.MetaSessionFrom: "pages/report"},
	}}, opened)

	// The next message joins the conversation the event opened.
	q, body = v.encrypted(textXML)
	requireSuccess(t, v.do(t, http.MethodPost, q, body))
	msgs, _, envelopes = v.conv.snapshot()
	require.Len(t, msgs, 1)
	require.Equal(t, 1, envelopes)
	require.Len(t, v.conv.sessions, 1)
}

func TestUnknownTypesRecorded(t *testing.T) {
	v := newEnv(t, setup{safe: true})
	for _, inner := range []string{voiceXML, kfCloseJSON} {
		q, body := v.encrypted(inner)
		requireSuccess(t, v.do(t, http.MethodPost, q, body))
	}
	require.Equal(t, []record{
		{normalize.ChannelWechat, openid, "msg:24576598145000127", []byte(voiceXML)},
		{normalize.ChannelWechat, openid, "evt:" + openid + ":1715943326", []byte(kfCloseJSON)},
	}, v.rec.all())
	msgs, opened, _ := v.conv.snapshot()
	require.Empty(t, msgs)
	require.Empty(t, opened)
}

func TestDuplicatePushes(t *testing.T) {
	v := newEnv(t, setup{safe: true})
	for i := range 3 {
		// WeChat's retries carry a fresh nonce (and so a fresh signature).
		q, body := wechatfake.EncryptPush(token, aesKey, appID, []byte(textXML), v.ts(), strconv.Itoa(100+i))
		requireSuccess(t, v.do(t, http.MethodPost, q, body))
		q, body = v.encrypted(enterJSON)
		requireSuccess(t, v.do(t, http.MethodPost, q, body))
	}
	msgs, opened, envelopes := v.conv.snapshot()
	require.Len(t, msgs, 1, "one chat message")
	require.Len(t, opened, 1, "one open")
	require.Equal(t, 1, envelopes, "one envelope")
}

func TestNotDurableNotAcknowledged(t *testing.T) {
	v := newEnv(t, setup{})
	v.conv.fail = errors.New("store: disk full")
	q, body := v.plain(textJSON)
	requireRefused(t, v.do(t, http.MethodPost, q, body), http.StatusServiceUnavailable, apierr.CodeUnavailable)
	msgs, _, _ := v.conv.snapshot()
	require.Empty(t, msgs)

	v.conv.fail = apierr.New(apierr.CodeInvalid, "text too long")
	requireRefused(t, v.do(t, http.MethodPost, q, body), http.StatusBadRequest, apierr.CodeInvalid)

	// WeChat's retry succeeds.
	requireSuccess(t, v.do(t, http.MethodPost, q, body))
	msgs, _, _ = v.conv.snapshot()
	require.Len(t, msgs, 1)
}

func TestRefusals(t *testing.T) {
	type req struct {
		q    map[string][]string
		body []byte
	}
	cases := []struct {
		name   string
		setup  setup
		build  func(v *env) req
		status int
		code   apierr.Code
	}{
		{"bad signature", setup{}, func(v *env) req {
			q, b := v.plain(textJSON)
			q.Set("signature", "899cf89e464efb63f54ddac96b0a0a235f53aa78")
			return req{q, b}
		}, http.StatusUnauthorized, apierr.CodeUnauthorized},
		{"missing signature", setup{}, func(v *env) req {
			q, b := v.plain(textJSON)
			q.Del("signature")
			return req{q, b}
		}, http.StatusUnauthorized, apierr.CodeUnauthorized},
		{"bad msg_signature", setup{safe: true}, func(v *env) req {
			q, b := v.encrypted(textXML)
			q.Set("msg_signature", "6c12a4205838198b8fa631b3220723bb07f1015c")
			return req{q, b}
		}, http.StatusUnauthorized, apierr.CodeUnauthorized},
		{"wrong appid", setup{safe: true}, func(v *env) req {
			q, b := wechatfake.EncryptPush(token, aesKey, "wx0000000000000000", []byte(textXML), v.ts(), "1")
			return req{q, b}
		}, http.StatusUnauthorized, apierr.CodeUnauthorized},
		{"plaintext where safe mode is configured", setup{safe: true}, func(v *env) req {
			q, b := v.plain(textJSON)
			return req{q, b}
		}, http.StatusUnauthorized, apierr.CodeUnauthorized},
		{"stale timestamp", setup{}, func(v *env) req {
			ts := strconv.FormatInt(v.now.Add(-5*time.Minute-time.Second).Unix(), 10)
			return req{wechatfake.SignPlain(token, ts, "1"), []byte(textJSON)}
		}, http.StatusUnauthorized, apierr.CodeStale},
		{"stale timestamp, safe mode", setup{safe: true}, func(v *env) req {
			ts := strconv.FormatInt(v.now.Add(-time.Hour).Unix(), 10)
			q, b := wechatfake.EncryptPush(token, aesKey, appID, []byte(textXML), ts, "1")
			return req{q, b}
		}, http.StatusUnauthorized, apierr.CodeStale},
		{"missing timestamp", setup{}, func(v *env) req {
			return req{wechatfake.SignPlain(token, "", "1"), []byte(textJSON)}
		}, http.StatusUnauthorized, apierr.CodeStale},
		{"malformed xml", setup{}, func(v *env) req {
			q, b := v.plain(`<xml><MsgType>text</MsgType><FromUserName>o</FromUserName>`)
			return req{q, b}
		}, http.StatusBadRequest, apierr.CodeBadRequest},
		{"malformed json", setup{}, func(v *env) req {
			q, b := v.plain(`{"MsgType":"text","FromUserName":`)
			return req{q, b}
		}, http.StatusBadRequest, apierr.CodeBadRequest},
		{"neither json nor xml", setup{}, func(v *env) req {
			q, b := v.plain(`MsgType=text`)
			return req{q, b}
		}, http.StatusBadRequest, apierr.CodeBadRequest},
		{"empty body", setup{}, func(v *env) req {
			q, b := v.plain(``)
			return req{q, b}
		}, http.StatusBadRequest, apierr.CodeBadRequest},
		{"malformed inner message", setup{safe: true}, func(v *env) req {
			q, b := v.encrypted(`<xml><MsgType>text</MsgType>`)
			return req{q, b}
		}, http.StatusBadRequest, apierr.CodeBadRequest},
		{"malformed outer envelope", setup{safe: true}, func(v *env) req {
			q, _ := v.encrypted(textXML)
			return req{q, []byte(`<xml><Encrypt>`)}
		}, http.StatusBadRequest, apierr.CodeBadRequest},
		{"encrypted push without a key", setup{}, func(v *env) req {
			q, b := v.encrypted(textXML)
			return req{q, b}
		}, http.StatusBadRequest, apierr.CodeBadRequest},
		{"oversize body", setup{}, func(v *env) req {
			q, _ := v.plain("")
			return req{q, []byte(`{"MsgType":"text","Content":"` + strings.Repeat("a", wxcrypto.MaxPushBytes) + `"}`)}
		}, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge},
		{"oversize for Deps.MaxBody", setup{maxBody: 256}, func(v *env) req {
			q, _ := v.plain("")
			return req{q, []byte(`{"FromUserName":"o","MsgType":"text","Content":"` + strings.Repeat("a", 256) + `"}`)}
		}, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, tc.setup)
			r := tc.build(v)
			requireRefused(t, v.do(t, http.MethodPost, r.q, r.body), tc.status, tc.code)
			msgs, opened, envelopes := v.conv.snapshot()
			require.Empty(t, msgs)
			require.Empty(t, opened)
			require.Zero(t, envelopes)
			require.Empty(t, v.rec.all())
		})
	}
}

func TestNewValidates(t *testing.T) {
	conv := newFakeConv()
	good := configs.Wechat{AppID: appID, AppSecret: secret, Token: token}
	cases := []struct {
		name string
		cfg  func(c *configs.Wechat)
		want string
	}{
		{"no token", func(c *configs.Wechat) { c.Token = "" }, "channels.wechat.token"},
		{"no app id", func(c *configs.Wechat) { c.AppID = "" }, "app_id"},
		{"no secret", func(c *configs.Wechat) { c.AppSecret = "" }, "channels.wechat.app_secret"},
		{"bad aes key", func(c *configs.Wechat) { c.EncodingAESKey = "short" }, "encoding_aes_key"},
		{"bad api base", func(c *configs.Wechat) { c.APIBase = "ftp://x" }, "channels.wechat.api_base"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.cfg(&cfg)
			_, err := wechat.New(channels.Deps{}, cfg, conv, wechat.Options{})
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := wechat.New(channels.Deps{}, good, nil, wechat.Options{})
	require.Error(t, err)
	ch, err := wechat.New(channels.Deps{}, good, conv, wechat.Options{})
	require.NoError(t, err)
	require.Equal(t, normalize.ChannelWechat, ch.Name())
	require.Empty(t, conv.deliverers, "New has no side effects: the gateway registers the deliverer")
}
