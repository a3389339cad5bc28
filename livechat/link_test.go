package livechat

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// A link frame is read back as it was written; anything else a peer sends
// is an error, never a panic.
func FuzzParseLinkFrame(f *testing.F) {
	opening, _ := json.Marshal(linkOpening{Path: "/v1/ws/citizen", Query: "token=x", IP: "10.0.0.1"})
	f.Add(appendLinkFrame(nil, linkOpen, 1, opening))
	f.Add(appendLinkFrame(nil, linkText, 1<<40, []byte(`{"type":"hello"}`)))
	f.Add(appendLinkFrame(nil, linkClose, 7, []byte{0x03, 0xe9}))
	f.Add([]byte{'t', 0x80})
	f.Add([]byte{'x', 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, id, payload, err := parseLinkFrame(b)
		if err != nil {
			return
		}
		require.NotZero(t, id)
		require.True(t, bytes.HasSuffix(b, payload))
		again, id2, payload2, err := parseLinkFrame(appendLinkFrame(nil, kind, id, payload))
		require.NoError(t, err)
		require.Equal(t, kind, again)
		require.Equal(t, id, id2)
		require.Equal(t, payload, payload2)
	})
}

func TestParseLinkFrame(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"text", appendLinkFrame(nil, linkText, 3, []byte("{}")), true},
		{"accept, no payload", appendLinkFrame(nil, linkAccept, 3, nil), true},
		{"empty", nil, false},
		{"kind only", []byte{'t'}, false},
		{"unknown kind", appendLinkFrame(nil, 'z', 3, nil), false},
		{"id 0", appendLinkFrame(nil, linkText, 0, nil), false},
		{"id cut short", []byte{'t', 0x80, 0x80}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := parseLinkFrame(tc.in)
			require.Equal(t, tc.ok, err == nil, "%v", err)
		})
	}
}
