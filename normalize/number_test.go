package normalize_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize"
)

func TestNumberDayIsChinaStandardTime(t *testing.T) {
	// 16:30 UTC on 11 June is 00:30 on 12 June in Beijing.
	require.Equal(t, "260612", normalize.NumberDay(time.Date(2026, 6, 11, 16, 30, 0, 0, time.UTC)))
	require.Equal(t, "260611", normalize.NumberDay(time.Date(2026, 6, 11, 15, 59, 59, 0, time.UTC)))
}

func TestFormatNumber(t *testing.T) {
	for _, c := range []struct {
		seq  uint64
		want string
	}{
		{1, "260612000018"},
		{17, "260612000174"},
		{99_999, "260612999995"},
		{100_000, "2606121000006"},
		{normalize.MaxNumberSeq, "26061299999997"},
	} {
		t.Run(fmt.Sprint(c.seq), func(t *testing.T) {
			n, err := normalize.FormatNumber("260612", c.seq)
			require.NoError(t, err)
			require.Equal(t, c.want, n)
			day, seq, err := normalize.ParseNumber(n)
			require.NoError(t, err)
			require.Equal(t, "260612", day)
			require.Equal(t, c.seq, seq)
		})
	}
	for _, seq := range []uint64{0, normalize.MaxNumberSeq + 1} {
		_, err := normalize.FormatNumber("260612", seq)
		require.ErrorIs(t, err, normalize.ErrBadNumber)
	}
	_, err := normalize.FormatNumber("2606", 1)
	require.ErrorIs(t, err, normalize.ErrBadNumber)
}

// Any single mistyped digit, and swapped neighbours other than 0 and 9, are
// caught by the check digit.
func TestParseNumberCatchesTypos(t *testing.T) {
	n, err := normalize.FormatNumber("260612", 4711)
	require.NoError(t, err)
	for i := range len(n) {
		for d := byte('0'); d <= '9'; d++ {
			if n[i] == d {
				continue
			}
			typo := n[:i] + string(d) + n[i+1:]
			_, _, err := normalize.ParseNumber(typo)
			require.ErrorIs(t, err, normalize.ErrBadNumber, typo)
		}
		if i+1 < len(n) && n[i] != n[i+1] && !(n[i] == '0' && n[i+1] == '9' || n[i] == '9' && n[i+1] == '0') {
			swapped := n[:i] + string(n[i+1]) + string(n[i]) + n[i+2:]
			_, _, err := normalize.ParseNumber(swapped)
			require.ErrorIs(t, err, normalize.ErrBadNumber, swapped)
		}
	}
	for _, bad := range []string{"", "12345", "26061200001a", "260612-00001", "260612000000" + "0", "123456789012345",
		"2606120000010"} { // zero sequence; a six-digit sequence under 100,000
		_, _, err := normalize.ParseNumber(bad)
		require.ErrorIs(t, err, normalize.ErrBadNumber, bad)
	}
}
