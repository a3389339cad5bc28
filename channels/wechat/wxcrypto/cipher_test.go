package wxcrypto_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
)

const testKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

func TestNewCipherErrors(t *testing.T) {
	cases := []struct{ name, key, appID string }{
		{"empty app id", testKey, ""},
		{"short key", testKey[:42], "wx1"},
		{"long key", testKey + "H", "wx1"},
		{"not base64", strings.Repeat("!", 43), "wx1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := wxcrypto.NewCipher(tc.key, tc.appID)
			require.ErrorIs(t, err, wxcrypto.ErrBadKey)
			require.Nil(t, c)
		})
	}
}

func TestCipherRoundTrip(t *testing.T) {
	c, err := wxcrypto.NewCipher(testKey, "wx1234567890abcdef")
	require.NoError(t, err)
	require.Equal(t, "wx1234567890abcdef", c.AppID())
	// Lengths around the 32-byte pad boundary (16+4+18 = 38 bytes of overhead).
	for _, n := range []int{0, 1, 25, 26, 27, 57, 58, 59, 4096} {
		msg := []byte(strings.Repeat("x", n))
		enc, err := c.Encrypt(msg, "")
		require.NoError(t, err)
		d, err := c.DecryptFull(enc)
		require.NoError(t, err, "n=%d", n)
		require.Equal(t, msg, append([]byte{}, d.Msg...))
		require.Len(t, d.Random, wxcrypto.RandomLen)
		// Appending to the returned message must not clobber anything shared.
		require.Equal(t, n, cap(d.Msg))
	}
	a, err := c.Encrypt([]byte("same"), "")
	require.NoError(t, err)
	b, err := c.Encrypt([]byte("same"), "")
	require.NoError(t, err)
	require.NotEqual(t, a, b, "a fresh random prefix per message")

	_, err = c.Encrypt([]byte("x"), "short")
	require.Error(t, err)
}

func BenchmarkCipher(b *testing.B) {
	c, err := wxcrypto.NewCipher(testKey, "wx1234567890abcdef")
	require.NoError(b, err)
	msg := []byte(textXML)
	enc, err := c.Encrypt(msg, "")
	require.NoError(b, err)
	b.Run("encrypt", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			_, _ = c.Encrypt(msg, "0123456789abcdef")
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, err := c.Decrypt(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
