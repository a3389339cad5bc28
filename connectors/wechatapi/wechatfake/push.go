package wechatfake

import (
	"encoding/json"
	"encoding/xml"
	"net/url"

	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
)

// SignPlain returns the query WeChat sends with a plaintext-mode push (or a
// URL verification, after adding echostr): signature, timestamp, nonce.
func SignPlain(token, timestamp, nonce string) url.Values {
	return url.Values{
		"signature": {wxcrypto.Signature(token, timestamp, nonce)},
		"timestamp": {timestamp},
		"nonce":     {nonce},
	}
}

// EncryptPush builds a safe-mode push as WeChat posts it: the query
// (signature, timestamp, nonce, openid, encrypt_type=aes, msg_signature) and
// the outer XML <xml><ToUserName/><Encrypt/></xml>. inner is the plaintext
// message (XML or JSON); ToUserName and openid are taken from it when it
// decodes. It panics on an invalid aesKey or empty appID: it is a test helper
// and those are programming errors.
func EncryptPush(token, aesKey, appID string, inner []byte, timestamp, nonce string) (url.Values, []byte) {
	q, enc, toUser := encryptPush(token, aesKey, appID, inner, timestamp, nonce)
	body, err := xml.Marshal(struct {
		XMLName    xml.Name `xml:"xml"`
		ToUserName cdata
		Encrypt    cdata
	}{ToUserName: cdata{toUser}, Encrypt: cdata{enc}})
	if err != nil {
		panic(err)
	}
	return q, body
}

// EncryptPushJSON is EncryptPush with the JSON outer envelope
// {"ToUserName": …, "Encrypt": …}, as sent when the console's data format is JSON.
func EncryptPushJSON(token, aesKey, appID string, inner []byte, timestamp, nonce string) (url.Values, []byte) {
	q, enc, toUser := encryptPush(token, aesKey, appID, inner, timestamp, nonce)
	body, err := json.Marshal(map[string]string{"ToUserName": toUser, "Encrypt": enc})
	if err != nil {
		panic(err)
	}
	return q, body
}

type cdata struct {
	V string `xml:",cdata"`
}

func encryptPush(token, aesKey, appID string, inner []byte, timestamp, nonce string) (q url.Values, enc, toUser string) {
	c, err := wxcrypto.NewCipher(aesKey, appID)
	if err != nil {
		panic("wechatfake: " + err.Error())
	}
	enc, err = c.Encrypt(inner, "")
	if err != nil {
		panic("wechatfake: " + err.Error())
	}
	q = SignPlain(token, timestamp, nonce)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", wxcrypto.Signature(token, timestamp, nonce, enc))
	if p, _, err := wxcrypto.DecodePush(inner); err == nil {
		toUser = p.ToUserName
		q.Set("openid", p.FromUserName)
	}
	return q, enc, toUser
}
