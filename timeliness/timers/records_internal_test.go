package timers

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseValue(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		due  int64
		err  bool
	}{
		{name: "plain", in: binary.BigEndian.AppendUint64(nil, 42), due: 42},
		{name: "short", in: []byte{1, 2, 3}, err: true},
		{name: "long", in: append(binary.BigEndian.AppendUint64(nil, 42), 1), err: true},
		{name: "empty", in: []byte{}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			due, err := parseValue(tc.in)
			if tc.err {
				require.ErrorIs(t, err, errCorrupt)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.due, due)
		})
	}
}

// FuzzParseRecordKey: stored keys come from disk; a damaged file must give
// an error, never a panic, and whatever decodes must encode back identically.
func FuzzParseRecordKey(f *testing.F) {
	f.Add(recordKey(Key{ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Kind: KindFirstResponse}))
	f.Add(recordKey(Key{ID: "x", Kind: "k"}))
	f.Add(recordKey(Key{ID: "with\x00nul", Kind: "k"}))
	f.Add([]byte("short"))
	f.Add([]byte("\x00id"))
	f.Add([]byte("id\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := parseRecordKey(b); err != nil {
			require.ErrorIs(t, err, errCorrupt)
		} else {
			require.Equal(t, b, recordKey(k))
		}
	})
}
