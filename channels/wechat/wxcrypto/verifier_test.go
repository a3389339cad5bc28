package wxcrypto_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
	"github.com/hotline12345/gateway/internal/clock"
)

// rawEncrypt AES-256-CBC encrypts pt (already a multiple of 16 bytes) with the
// EncodingAESKey exactly as WeChat does, but with no layout or padding, so
// tests can build ciphertexts that WeChat never would.
func rawEncrypt(t *testing.T, encodingAESKey string, pt []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	require.NoError(t, err)
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(ct, pt)
	return base64.StdEncoding.EncodeToString(ct)
}

func TestVerifierOpenErrors(t *testing.T) {
	vec := loadVectors(t)
	plain, safe := vec.PlaintextJSON, vec.SafeMode
	c, err := wxcrypto.NewCipher(safe.EncodingAESKey, safe.AppID)
	require.NoError(t, err)
	otherApp, err := wxcrypto.NewCipher(safe.EncodingAESKey, "wx0000000000000000")
	require.NoError(t, err)

	// signedSafe returns the query and XML body of a safe-mode push whose
	// msg_signature is valid for enc.
	signedSafe := func(enc string) (url.Values, []byte) {
		q := values(safe.Query)
		q.Set("msg_signature", wxcrypto.Signature(safe.Token, q.Get("timestamp"), q.Get("nonce"), enc))
		return q, safeModeXML("gh_97417a04a28d", enc)
	}
	withQuery := func(m map[string]string, k, v string) url.Values {
		q := values(m)
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	badPad := func(last byte) string {
		pt := make([]byte, 64)
		copy(pt, "0123456789abcdef")
		pt[63] = last
		return rawEncrypt(t, safe.EncodingAESKey, pt)
	}
	// Valid padding of 16, leaving 16 bytes: less than random(16)+msg_len(4).
	shortLayout := rawEncrypt(t, safe.EncodingAESKey, append([]byte("0123456789abcdef"), bytes.Repeat([]byte{16}, 16)...))
	// A well-padded plaintext whose msg_len (0x7fffffff) exceeds the data.
	longLen := func() string {
		pt := make([]byte, 64)
		copy(pt[16:], []byte{0x7f, 0xff, 0xff, 0xff})
		for i := 32; i < 64; i++ {
			pt[i] = 32
		}
		return rawEncrypt(t, safe.EncodingAESKey, pt)
	}()
	wrongApp, err := otherApp.Encrypt([]byte("<xml><MsgType>text</MsgType><FromUserName>u</FromUserName></xml>"), "")
	require.NoError(t, err)
	notAPush, err := c.Encrypt([]byte("hello"), "")
	require.NoError(t, err)

	plainNow := at(t, plain.Query["timestamp"])
	safeNow := at(t, safe.Query["timestamp"])
	type tc struct {
		name    string
		cfg     wxcrypto.VerifierConfig
		query   url.Values
		body    []byte
		wantErr error
	}
	q1, b1 := signedSafe(badPad(0))
	q2, b2 := signedSafe(badPad(33))
	q3, b3 := signedSafe(badPad(5)) // pad value 5 but the bytes before it are not 5
	q4, b4 := signedSafe(wrongApp)
	q5, b5 := signedSafe(shortLayout)
	q6, b6 := signedSafe(longLen)
	q7, b7 := signedSafe("not base64!")
	q8, b8 := signedSafe(base64.StdEncoding.EncodeToString([]byte("short")))
	q9, b9 := signedSafe(notAPush)
	plainCfg := wxcrypto.VerifierConfig{Token: plain.Token, Clock: plainNow}
	safeCfg := wxcrypto.VerifierConfig{Token: safe.Token, Cipher: c, Clock: safeNow}
	cases := []tc{
		{"bad signature", plainCfg, withQuery(plain.Query, "signature", "899cf89e464efb63f54ddac96b0a0a235f53aa79"), []byte(plain.Body), wxcrypto.ErrBadSignature},
		{"missing signature", plainCfg, withQuery(plain.Query, "signature", ""), []byte(plain.Body), wxcrypto.ErrBadSignature},
		{"wrong token", wxcrypto.VerifierConfig{Token: "BBBBB", Clock: plainNow}, values(plain.Query), []byte(plain.Body), wxcrypto.ErrBadSignature},
		{"tampered nonce", plainCfg, withQuery(plain.Query, "nonce", "486452657"), []byte(plain.Body), wxcrypto.ErrBadSignature},
		{"stale timestamp", wxcrypto.VerifierConfig{Token: plain.Token, Clock: clock.NewFake(plainNow.Now().Add(5*time.Minute + time.Second))}, values(plain.Query), []byte(plain.Body), wxcrypto.ErrStale},
		{"future timestamp", wxcrypto.VerifierConfig{Token: plain.Token, Clock: clock.NewFake(plainNow.Now().Add(-5*time.Minute - time.Second))}, values(plain.Query), []byte(plain.Body), wxcrypto.ErrStale},
		{"real clock, old vector", wxcrypto.VerifierConfig{Token: plain.Token}, values(plain.Query), []byte(plain.Body), wxcrypto.ErrStale},
		{"timestamp not a number", plainCfg, url.Values{"timestamp": {"soon"}, "nonce": {"1"}, "signature": {wxcrypto.Signature(plain.Token, "soon", "1")}}, []byte(plain.Body), wxcrypto.ErrStale},
		{"malformed json", plainCfg, values(plain.Query), []byte(`{"MsgType":"text",`), wxcrypto.ErrMalformed},
		{"malformed xml", plainCfg, values(plain.Query), []byte(`<xml><MsgType>text</MsgType>`), wxcrypto.ErrMalformed},
		{"encryption required", wxcrypto.VerifierConfig{Token: safe.Token, Cipher: c, RequireEncrypted: true, Clock: plainNow}, values(plain.Query), []byte(plain.Body), wxcrypto.ErrEncryptionRequired},
		{"unknown encrypt_type", safeCfg, withQuery(safe.Query, "encrypt_type", "sm4"), safeModeXML("gh", safe.Encrypt), wxcrypto.ErrMalformed},
		{"aes without cipher", wxcrypto.VerifierConfig{Token: safe.Token, Clock: safeNow}, values(safe.Query), safeModeXML("gh", safe.Encrypt), wxcrypto.ErrNoCipher},
		{"bad msg_signature", safeCfg, withQuery(safe.Query, "msg_signature", "6c12a4205838198b8fa631b3220723bb07f1015d"), safeModeXML("gh", safe.Encrypt), wxcrypto.ErrBadSignature},
		{"plain signature is not msg_signature", safeCfg, withQuery(safe.Query, "msg_signature", safe.Query["signature"]), safeModeXML("gh", safe.Encrypt), wxcrypto.ErrBadSignature},
		{"tampered Encrypt", safeCfg, values(safe.Query), safeModeXML("gh", "A"+safe.Encrypt[1:]), wxcrypto.ErrBadSignature},
		{"stale safe mode", wxcrypto.VerifierConfig{Token: safe.Token, Cipher: c, Clock: clock.NewFake(safeNow.Now().Add(6 * time.Minute))}, values(safe.Query), safeModeXML("gh", safe.Encrypt), wxcrypto.ErrStale},
		{"missing Encrypt", safeCfg, values(safe.Query), []byte(`<xml><ToUserName>gh</ToUserName></xml>`), wxcrypto.ErrMalformed},
		{"wrong appid in cipher config", wxcrypto.VerifierConfig{Token: safe.Token, Cipher: otherApp, Clock: safeNow}, values(safe.Query), safeModeXML("gh", safe.Encrypt), wxcrypto.ErrAppIDMismatch},
		{"wrong appid in ciphertext", safeCfg, q4, b4, wxcrypto.ErrAppIDMismatch},
		{"padding zero", safeCfg, q1, b1, wxcrypto.ErrBadPadding},
		{"padding 33", safeCfg, q2, b2, wxcrypto.ErrBadPadding},
		// The library checks the pad byte's range only: msg_len 0 leaves
		// 39 zero bytes where the app ID should be.
		{"padding inconsistent", safeCfg, q3, b3, wxcrypto.ErrAppIDMismatch},
		{"no room for header", safeCfg, q5, b5, wxcrypto.ErrBadLength},
		{"msg_len too long", safeCfg, q6, b6, wxcrypto.ErrBadLength},
		{"Encrypt not base64", safeCfg, q7, b7, wxcrypto.ErrBadCiphertext},
		{"Encrypt not whole blocks", safeCfg, q8, b8, wxcrypto.ErrBadCiphertext},
		{"inner not a push", safeCfg, q9, b9, wxcrypto.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := wxcrypto.NewVerifier(tc.cfg)
			require.NoError(t, err)
			p, err := v.Open(tc.query, tc.body)
			require.ErrorIs(t, err, tc.wantErr)
			require.Nil(t, p)
		})
	}
}

func TestNewVerifierValidate(t *testing.T) {
	_, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{})
	require.ErrorContains(t, err, "channels.wechat.token")
	_, err = wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: "t", RequireEncrypted: true})
	require.ErrorContains(t, err, "encoding_aes_key")
}

func TestVerifierCustomMaxAge(t *testing.T) {
	v := loadVectors(t).PlaintextJSON
	now := at(t, v.Query["timestamp"])
	ver, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: v.Token, MaxAge: time.Minute, Clock: clock.NewFake(now.Now().Add(61 * time.Second))})
	require.NoError(t, err)
	_, err = ver.Open(values(v.Query), []byte(v.Body))
	require.ErrorIs(t, err, wxcrypto.ErrStale)

	ver, err = wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: v.Token, Clock: clock.NewFake(now.Now().Add(5 * time.Minute))})
	require.NoError(t, err)
	_, err = ver.Open(values(v.Query), []byte(v.Body))
	require.NoError(t, err, "exactly 5 minutes old is still accepted")

	q := values(v.Query)
	q.Set("encrypt_type", "raw")
	_, err = ver.Open(q, []byte(v.Body))
	require.NoError(t, err, "encrypt_type=raw is plaintext mode")
}

func BenchmarkVerifierOpenSafeMode(b *testing.B) {
	v := loadVectors(b).SafeMode
	c, err := wxcrypto.NewCipher(v.EncodingAESKey, v.AppID)
	require.NoError(b, err)
	ver, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: v.Token, Cipher: c, Clock: at(b, v.Query["timestamp"])})
	require.NoError(b, err)
	q, body := values(v.Query), safeModeXML("gh_97417a04a28d", v.Encrypt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ver.Open(q, body); err != nil {
			b.Fatal(err)
		}
	}
}
