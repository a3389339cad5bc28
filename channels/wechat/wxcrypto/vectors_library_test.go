package wxcrypto_test

import (
	"testing"

	"github.com/silenceper/wechat/v2/util"
	"github.com/stretchr/testify/require"
)

// TestVectorsLibrary runs the published vectors through silenceper/wechat's
// util directly: Cipher and Signature delegate to it, so it must agree with
// WeChat on its own.
func TestVectorsLibrary(t *testing.T) {
	v := loadVectors(t)
	u := v.URLVerification
	s := v.SafeMode
	r := s.EncryptedReply
	p := v.PlaintextJSON
	cases := []struct {
		name      string
		want, got string
	}{
		{"url verification signature", u.Query["signature"], util.Signature(u.Token, u.Query["timestamp"], u.Query["nonce"])},
		{"plaintext push signature", p.Query["signature"], util.Signature(p.Token, p.Query["timestamp"], p.Query["nonce"])},
		{"safe mode signature", s.Query["signature"], util.Signature(s.Token, s.Query["timestamp"], s.Query["nonce"])},
		{"safe mode msg_signature", s.Query["msg_signature"], util.Signature(s.Token, s.Query["timestamp"], s.Query["nonce"], s.Encrypt)},
		{"reply msg_signature", r.MsgSignature, util.Signature(s.Token, r.Timestamp, r.Nonce, r.Encrypt)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, tc.got) })
	}

	t.Run("decrypt push", func(t *testing.T) {
		random, msg, err := util.DecryptMsg(s.AppID, s.Encrypt, s.EncodingAESKey)
		require.NoError(t, err)
		require.Equal(t, s.DecryptsTo.Random, string(random))
		require.Len(t, msg, s.DecryptsTo.MsgLen)
	})
	t.Run("encrypt reply", func(t *testing.T) {
		enc, err := util.EncryptMsg([]byte(r.Random), []byte(r.Plaintext), s.AppID, s.EncodingAESKey)
		require.NoError(t, err)
		require.Equal(t, r.Encrypt, string(enc))
	})
	t.Run("decrypt reply", func(t *testing.T) {
		random, msg, err := util.DecryptMsg(s.AppID, r.Encrypt, s.EncodingAESKey)
		require.NoError(t, err)
		require.Equal(t, r.Random, string(random))
		require.Equal(t, r.Plaintext, string(msg))
	})
	t.Run("wrong app id refused", func(t *testing.T) {
		_, _, err := util.DecryptMsg("wx0000000000000000", s.Encrypt, s.EncodingAESKey)
		require.Error(t, err)
	})
}
