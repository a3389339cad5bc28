package wxcrypto_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
	"github.com/hotline12345/gateway/internal/clock"
)

// sentinels are the errors a caller may branch on; every failure must wrap one.
var sentinels = []error{
	wxcrypto.ErrBadSignature, wxcrypto.ErrStale, wxcrypto.ErrMalformed, wxcrypto.ErrTooLarge,
	wxcrypto.ErrBadCiphertext, wxcrypto.ErrBadPadding, wxcrypto.ErrBadLength,
	wxcrypto.ErrAppIDMismatch, wxcrypto.ErrEncryptionRequired, wxcrypto.ErrNoCipher,
}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func FuzzDecodePush(f *testing.F) {
	for _, s := range []string{textXML, imageJSON, miniprogramXML, enterSessionJSON, "", "<", "{", "<xml></xml>", `{"MsgType":1}`, "\xef\xbb\xbf<xml/>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, format, err := wxcrypto.DecodePush(body)
		if err != nil {
			if p != nil || !wrapsSentinel(err) {
				t.Fatalf("err %v with push %v", err, p)
			}
			return
		}
		if p.MsgType == "" || p.FromUserName == "" || p.Format != format || string(p.Raw) != string(body) {
			t.Fatalf("accepted an incomplete push: %+v", p)
		}
		_ = p.DedupKey()
		_, _, _, _ = wxcrypto.DecodeEncrypted(body)
	})
}

func FuzzCipherDecrypt(f *testing.F) {
	c, err := wxcrypto.NewCipher(testKey, "wx1234567890abcdef")
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := c.Encrypt([]byte(textXML), "0123456789abcdef")
	for _, s := range []string{seed, "", "AAAA", "not base64", seed[:len(seed)-4]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b64 string) {
		msg, err := c.Decrypt(b64)
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Whatever decrypts must survive a round trip.
		enc, err := c.Encrypt(msg, "")
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decrypt(enc)
		if err != nil || string(back) != string(msg) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzVerifierOpen(f *testing.F) {
	const token, appID, ts, nonce = "AAAAA", "wx1234567890abcdef", "1700000000", "42"
	c, err := wxcrypto.NewCipher(testKey, appID)
	if err != nil {
		f.Fatal(err)
	}
	v, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: token, Cipher: c, Clock: clock.NewFake(time.Unix(1700000000, 0))})
	if err != nil {
		f.Fatal(err)
	}
	plainQ := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wxcrypto.Signature(token, ts, nonce)}}
	f.Add(plainQ.Encode(), []byte(textXML))
	f.Add(plainQ.Encode(), []byte(enterSessionJSON))
	enc, _ := c.Encrypt([]byte(textXML), "")
	safeQ := url.Values{"timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"}, "msg_signature": {wxcrypto.Signature(token, ts, nonce, enc)}}
	f.Add(safeQ.Encode(), safeModeXML("gh", enc))
	f.Add(safeQ.Encode(), safeModeJSON("gh", enc))
	f.Add("encrypt_type=aes&timestamp=x", []byte("{}"))
	f.Add("%zz", []byte("<xml/>"))
	f.Fuzz(func(t *testing.T, rawQuery string, body []byte) {
		q, _ := url.ParseQuery(rawQuery)
		p, err := v.Open(q, body)
		if err != nil {
			if p != nil || !wrapsSentinel(err) {
				t.Fatalf("err %v with push %v", err, p)
			}
			return
		}
		if p.MsgType == "" || p.FromUserName == "" {
			t.Fatalf("accepted an incomplete push: %+v", p)
		}
	})
}
