package mask_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize/mask"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"+8613812345678", "+86138******78"},
		{"13812345678", "138******78"},
		{"123", "***"},
	} {
		require.Equal(t, tc.want, mask.Phone(tc.in))
	}
	require.Equal(t, "[3 chars]", mask.Text("你好啊"))
	s := mask.Scrub("call 13812345678 id 31010119900101123X")
	require.NotContains(t, s, "13812345678")
	require.NotContains(t, s, "19900101123")
}
