package wxcrypto_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
	"github.com/hotline12345/gateway/internal/clock"
)

// at returns a clock standing at the unix-seconds timestamp ts.
func at(t testing.TB, ts string) *clock.Fake {
	t.Helper()
	sec, err := strconv.ParseInt(ts, 10, 64)
	require.NoError(t, err)
	return clock.NewFake(time.Unix(sec, 0))
}

func TestVectorURLVerification(t *testing.T) {
	v := loadVectors(t).URLVerification
	q := v.Query
	require.Equal(t, q["signature"], wxcrypto.Signature(v.Token, q["timestamp"], q["nonce"]))
	require.True(t, wxcrypto.VerifyURL(v.Token, q["signature"], q["timestamp"], q["nonce"]))
	require.False(t, wxcrypto.VerifyURL(v.Token+"x", q["signature"], q["timestamp"], q["nonce"]))
	require.False(t, wxcrypto.VerifyURL(v.Token, "", q["timestamp"], q["nonce"]))
	require.False(t, wxcrypto.VerifyURL(v.Token, q["signature"], q["timestamp"], q["nonce"]+"1"))

	ver, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: v.Token})
	require.NoError(t, err)
	require.NoError(t, ver.VerifyURL(values(q)))
	bad := values(q)
	bad.Set("signature", "f464b24fc39322e44b38aa78f5edd27bd1441697")
	require.ErrorIs(t, ver.VerifyURL(bad), wxcrypto.ErrBadSignature)
}

func TestVectorPlaintextPushJSON(t *testing.T) {
	v := loadVectors(t).PlaintextJSON
	ver, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: v.Token, Clock: at(t, v.Query["timestamp"])})
	require.NoError(t, err)

	p, err := ver.Open(values(v.Query), []byte(v.Body))
	require.NoError(t, err)
	require.Equal(t, "gh_97417a04a28d", p.ToUserName)
	require.Equal(t, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", p.FromUserName)
	require.Equal(t, int64(1714037059), p.CreateTime)
	require.Equal(t, wxcrypto.MsgTypeEvent, p.MsgType)
	require.Equal(t, "debug_demo", p.Event)
	require.Equal(t, wxcrypto.FormatJSON, p.Format)
	require.False(t, p.Encrypted)
	require.False(t, p.Known(), "debug_demo is recorded and acknowledged, not mapped")
	require.Equal(t, []byte(v.Body), p.Raw)
	require.Equal(t, "evt:o9AgO5Kd5ggOC-bXrbNODIiE3bGY:1714037059", p.DedupKey())
}

func TestVectorSafeModeDecrypt(t *testing.T) {
	v := loadVectors(t).SafeMode
	c, err := wxcrypto.NewCipher(v.EncodingAESKey, v.AppID)
	require.NoError(t, err)

	d, err := c.DecryptFull(v.Encrypt)
	require.NoError(t, err)
	require.Equal(t, v.DecryptsTo.Random, d.Random)
	require.Len(t, d.Msg, v.DecryptsTo.MsgLen)
	require.Equal(t, v.DecryptsTo.AppID, d.AppID)

	msg, err := c.Decrypt(v.Encrypt)
	require.NoError(t, err)
	require.Equal(t, d.Msg, msg)
	p, f, err := wxcrypto.DecodePush(msg)
	require.NoError(t, err)
	require.Equal(t, wxcrypto.FormatXML, f)
	require.Equal(t, "event", p.MsgType)
	require.Equal(t, "debug_demo", p.Event)

	// The published signatures agree with our Signature.
	q := v.Query
	require.Equal(t, q["signature"], wxcrypto.Signature(v.Token, q["timestamp"], q["nonce"]))
	require.Equal(t, q["msg_signature"], wxcrypto.Signature(v.Token, q["timestamp"], q["nonce"], v.Encrypt))
}

func TestVectorSafeModeOpen(t *testing.T) {
	v := loadVectors(t).SafeMode
	c, err := wxcrypto.NewCipher(v.EncodingAESKey, v.AppID)
	require.NoError(t, err)
	ver, err := wxcrypto.NewVerifier(wxcrypto.VerifierConfig{Token: v.Token, Cipher: c, RequireEncrypted: true, Clock: at(t, v.Query["timestamp"])})
	require.NoError(t, err)

	for name, body := range map[string][]byte{
		"xml":  safeModeXML("gh_97417a04a28d", v.Encrypt),
		"json": safeModeJSON("gh_97417a04a28d", v.Encrypt),
	} {
		t.Run(name, func(t *testing.T) {
			p, err := ver.Open(values(v.Query), body)
			require.NoError(t, err)
			require.True(t, p.Encrypted)
			require.Equal(t, wxcrypto.FormatXML, p.Format, "inner message format")
			require.Equal(t, "gh_97417a04a28d", p.ToUserName)
			require.Equal(t, v.Query["openid"], p.FromUserName)
			require.Equal(t, int64(1715943329), p.CreateTime)
			require.Equal(t, "debug_demo", p.Event)
			require.Len(t, p.Raw, v.DecryptsTo.MsgLen)
		})
	}
}

func TestVectorEncryptedReply(t *testing.T) {
	v := loadVectors(t).SafeMode
	r := v.EncryptedReply
	c, err := wxcrypto.NewCipher(v.EncodingAESKey, v.AppID)
	require.NoError(t, err)

	enc, err := c.Encrypt([]byte(r.Plaintext), r.Random)
	require.NoError(t, err)
	require.Equal(t, r.Encrypt, enc)

	reply, err := wxcrypto.EncryptReply(v.Token, c, []byte(r.Plaintext), r.Random, r.Timestamp, r.Nonce)
	require.NoError(t, err)
	require.Equal(t, wxcrypto.Reply{Encrypt: r.Encrypt, MsgSignature: r.MsgSignature, TimeStamp: r.Timestamp, Nonce: r.Nonce}, reply)

	d, err := c.DecryptFull(r.Encrypt)
	require.NoError(t, err)
	require.Equal(t, r.Random, d.Random)
	require.Equal(t, r.Plaintext, string(d.Msg))

	// Both renderings carry the same Encrypt back through DecodeEncrypted.
	for _, f := range []wxcrypto.Format{wxcrypto.FormatXML, wxcrypto.FormatJSON} {
		b, err := reply.Marshal(f)
		require.NoError(t, err)
		got, _, gotF, err := wxcrypto.DecodeEncrypted(b)
		require.NoError(t, err, string(b))
		require.Equal(t, f, gotF)
		require.Equal(t, r.Encrypt, got)
	}
	js, err := reply.Marshal(wxcrypto.FormatJSON)
	require.NoError(t, err)
	require.Contains(t, string(js), `"TimeStamp":1713424427`)
	_, err = reply.Marshal(wxcrypto.FormatUnknown)
	require.Error(t, err)
}
