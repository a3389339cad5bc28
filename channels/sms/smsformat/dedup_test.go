package smsformat_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

func TestDedupKey(t *testing.T) {
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	base := smsformat.Inbound{Phone: "+8613800138000", Text: "路灯坏了", SentAt: at}

	t.Run("provider id wins", func(t *testing.T) {
		in := base
		in.ProviderID = "1234567"
		require.Equal(t, "aliyun:id:1234567", smsformat.DedupKey("aliyun", in))
		in.Text = "other text"
		require.Equal(t, "aliyun:id:1234567", smsformat.DedupKey("aliyun", in))
		require.Equal(t, "generic:id:1234567", smsformat.DedupKey("generic", in))
	})

	t.Run("very long id is hashed", func(t *testing.T) {
		in := base
		in.ProviderID = strings.Repeat("x", 500)
		k := smsformat.DedupKey("generic", in)
		require.True(t, strings.HasPrefix(k, "generic:idh:"))
		require.Len(t, k, len("generic:idh:")+64)
	})

	t.Run("hash of phone, time and text", func(t *testing.T) {
		k := smsformat.DedupKey("tencent", base)
		require.True(t, strings.HasPrefix(k, "tencent:h:"))
		require.NotContains(t, k, "13800138000", "keys must not carry the number in clear")

		same := base
		same.SentAt = at.In(time.FixedZone("CST", 8*3600)) // same instant, other zone
		require.Equal(t, k, smsformat.DedupKey("tencent", same))

		variants := map[string]smsformat.Inbound{}
		v := base
		v.Phone = "+8613900139000"
		variants["phone"] = v
		v = base
		v.SentAt = at.Add(time.Second)
		variants["time"] = v
		v = base
		v.Text = "路灯坏了。"
		variants["text"] = v
		v = base
		v.Part = &smsformat.Part{Ref: "1", Total: 2, Seq: 1}
		variants["part"] = v
		v = base
		v.SentAt = time.Time{}
		variants["no time"] = v
		seen := map[string]string{k: "base"}
		for name, in := range variants {
			key := smsformat.DedupKey("tencent", in)
			prev, dup := seen[key]
			require.False(t, dup, "%s collides with %s", name, prev)
			seen[key] = name
		}
	})

	t.Run("field boundaries are unambiguous", func(t *testing.T) {
		a := smsformat.Inbound{Phone: "+861380013800", Text: "0x"}
		b := smsformat.Inbound{Phone: "+8613800138000", Text: "x"}
		require.NotEqual(t, smsformat.DedupKey("generic", a), smsformat.DedupKey("generic", b))
	})

	t.Run("decoded retries share a key", func(t *testing.T) {
		first, err := smsformat.DecodeInbound("tencent", []byte(tencentUp))
		require.NoError(t, err)
		retry, err := smsformat.DecodeInbound("tencent", []byte(tencentUp))
		require.NoError(t, err)
		require.Equal(t, smsformat.DedupKey("tencent", first[0]), smsformat.DedupKey("tencent", retry[0]))
	})
}
