package livechat

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+8613912345678": "139****5678",
		"13912345678":    "139****5678",
		"+85291234567":   "852****4567",
		"12345":          "****",
		"":               "",
	} {
		require.Equal(t, want, maskPhone(in), in)
	}
}
