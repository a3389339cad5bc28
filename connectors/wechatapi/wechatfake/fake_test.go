package wechatfake_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/internal/clock"
)

const (
	token  = "AAAAA"
	aesKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	appID  = "wx134c8103faa5a59e"
)

// call does one request against the fake and returns errcode and the body.
func call(t *testing.T, method, u, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "WeChat answers 200 even for errors")
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	code, _ := m["errcode"].(float64)
	return int(code), m
}

func TestFakeWireFormat(t *testing.T) {
	s := wechatfake.New(appID, "secret")
	t.Cleanup(s.Close)
	tokenURL := func(app, sec string) string {
		return s.URL() + "/cgi-bin/token?" + url.Values{"grant_type": {"client_credential"}, "appid": {app}, "secret": {sec}}.Encode()
	}
	code, m := call(t, http.MethodGet, tokenURL(appID, "secret"), "")
	require.Zero(t, code)
	tok := m["access_token"].(string)
	require.EqualValues(t, 7200, m["expires_in"])

	code, _ = call(t, http.MethodGet, tokenURL("wxother", "secret"), "")
	require.Equal(t, wechatfake.CodeInvalidAppID, code)
	code, _ = call(t, http.MethodGet, tokenURL(appID, "nope"), "")
	require.Equal(t, wechatfake.CodeInvalidSecret, code)
	code, _ = call(t, http.MethodGet, s.URL()+"/cgi-bin/token?grant_type=x", "")
	require.Equal(t, wechatfake.CodeInvalidGrant, code)
	require.Equal(t, 1, s.TokensIssued())

	send := s.URL() + "/cgi-bin/message/custom/send?access_token="
	text := `{"touser":"oUSER","msgtype":"text","text":{"content":"hi"}}`
	cases := []struct {
		name, method, url, body string
		want                    int
	}{
		{"ok", http.MethodPost, send + tok, text, 0},
		{"get", http.MethodGet, send + tok, text, wechatfake.CodeRequirePOST},
		{"no token", http.MethodPost, send, text, wechatfake.CodeMissingToken},
		{"unknown token", http.MethodPost, send + "forged", text, wechatfake.CodeInvalidToken},
		{"empty body", http.MethodPost, send + tok, "", wechatfake.CodeEmptyPostData},
		{"not json", http.MethodPost, send + tok, "touser=x", wechatfake.CodeDataFormat},
		{"no touser", http.MethodPost, send + tok, `{"msgtype":"text","text":{"content":"hi"}}`, wechatfake.CodeInvalidOpenID},
		{"empty text", http.MethodPost, send + tok, `{"touser":"oUSER","msgtype":"text","text":{"content":""}}`, wechatfake.CodeEmptyContent},
		{"bad msgtype", http.MethodPost, send + tok, `{"touser":"oUSER","msgtype":"voice"}`, wechatfake.CodeInvalidMsgType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, m := call(t, tc.method, tc.url, tc.body)
			require.Equal(t, tc.want, code, m)
			require.NotEmpty(t, m["errmsg"])
		})
	}
	require.Len(t, s.Sent(), 1)
	require.Equal(t, wechatfake.SentMessage{ToUser: "oUSER", MsgType: "text", Text: "hi", Token: tok, Body: []byte(text)}, s.Sent()[0])

	s.FailNext("oUSER", wechatfake.CodeOutOfWindow)
	code, _ = call(t, http.MethodPost, send+tok, text)
	require.Equal(t, wechatfake.CodeOutOfWindow, code)
	code, _ = call(t, http.MethodPost, send+tok, text)
	require.Zero(t, code, "FailNext applies once")

	s.ExpireTokens()
	code, _ = call(t, http.MethodPost, send+tok, text)
	require.Equal(t, wechatfake.CodeTokenExpired, code)
	require.Len(t, s.Sent(), 2)
	s.Close()
	s.Close()
}

func TestEncryptPushOpensWithVerifier(t *testing.T) {
	const ts, nonce = "1715943329", "1590219412"
	inner := []byte(`<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1715943329</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[井盖丢了]]></Content><MsgId>42</MsgId></xml>`)
	c, err := wxcrypto.NewCipher(aesKey, appID)
	require.NoError(t, err)
	v, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: token, Cipher: c, Clock: clock.NewFake(time.Unix(1715943329, 0))})
	require.NoError(t, err)

	for name, build := range map[string]func(string, string, string, []byte, string, string) (url.Values, []byte){
		"xml": wechatfake.EncryptPush, "json": wechatfake.EncryptPushJSON,
	} {
		t.Run(name, func(t *testing.T) {
			q, body := build(token, aesKey, appID, inner, ts, nonce)
			require.Equal(t, "aes", q.Get("encrypt_type"))
			require.Equal(t, "oUSER", q.Get("openid"))
			_, toUser, _, err := wxcrypto.DecodeEncrypted(body)
			require.NoError(t, err)
			require.Equal(t, "gh_97417a04a28d", toUser)
			p, err := v.Open(q, body)
			require.NoError(t, err)
			require.Equal(t, "井盖丢了", p.Content)
			require.Equal(t, "msg:42", p.DedupKey())
			require.True(t, p.Encrypted)
		})
	}

	q := wechatfake.SignPlain(token, ts, nonce)
	p, err := v.Open(q, inner)
	require.NoError(t, err)
	require.False(t, p.Encrypted)
	require.True(t, wxcrypto.VerifyURL(token, q.Get("signature"), ts, nonce))

	require.Panics(t, func() { wechatfake.EncryptPush(token, "short", appID, inner, ts, nonce) })
}
