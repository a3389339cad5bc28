package smsapi_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/smsapi"
)

const sign = "12345热线" // 【12345热线】 is 9 characters

// reply150 is an agent's 150-character Chinese reply.
var reply150 = func() string {
	s := "您好！您反映的人民路与解放路交叉口路灯损坏问题，我们已转交市城市管理局路灯管理处处理，" +
		"预计三个工作日内完成维修。维修完成后工作人员将电话回访，请保持电话畅通。" +
		"如仍有疑问，可回复本短信或拨打12345热线咨询。感谢您对城市管理工作的支持与监督，祝您生活愉快，工作顺利，万事如意，阖家安康！" +
		"本次服务工单编号已同步至您的手机，您也可登录市政务服务网查询办理进度。"
	r := []rune(s)
	if len(r) < 150 {
		panic("reply150 too short")
	}
	return string(r[:150])
}()

func TestSegment(t *testing.T) {
	han := func(n int) string { return strings.Repeat("市", n) }
	tests := []struct {
		name      string
		text      string
		sign      string
		maxChars  int
		wantRunes []int // text runes per part
	}{
		{"empty", "", sign, 0, nil},
		{"short", "您好，已受理。", sign, 0, []int{7}},
		{"exactly 70 with sign", han(61), sign, 0, []int{61}},
		{"71 with sign", han(62), sign, 0, []int{58, 4}},
		{"150-character Chinese reply", reply150, sign, 0, []int{58, 67, 25}},
		{"sign given with brackets", reply150, "【" + sign + "】", 0, []int{58, 67, 25}},
		{"no sign, 70", han(70), "", 0, []int{70}},
		{"no sign, 71", han(71), "", 0, []int{67, 4}},
		{"no sign, 134", han(134), "", 0, []int{67, 67}},
		{"no sign, 135", han(135), "", 0, []int{67, 67, 1}},
		{"ascii counts the same", strings.Repeat("a", 71), "", 0, []int{67, 4}},
		{"cut at maxChars", han(600), sign, 500, []int{58, 67, 67, 67, 67, 67, 67, 40}},
		{"not cut at exactly maxChars", han(100), "", 100, []int{67, 33}},
		{"cut to one part", han(80), "", 10, []int{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := smsapi.Segment(tt.text, tt.sign, tt.maxChars)
			var got []int
			for _, p := range parts {
				got = append(got, utf8.RuneCountInString(p))
			}
			require.Equal(t, tt.wantRunes, got)
			require.Equal(t, len(tt.wantRunes), smsapi.PartCount(tt.text, tt.sign, tt.maxChars))
			joined := strings.Join(parts, "")
			if tt.maxChars > 0 && utf8.RuneCountInString(tt.text) > tt.maxChars {
				require.True(t, strings.HasSuffix(joined, "…"))
				require.Equal(t, tt.maxChars, utf8.RuneCountInString(joined))
				require.True(t, strings.HasPrefix(tt.text, strings.TrimSuffix(joined, "…")))
			} else {
				require.Equal(t, tt.text, joined)
			}
		})
	}
}

// The acceptance case, stated in carrier terms: with the signature counted
// in the first part, the 150-character reply leaves as 67 + 67 + 25.
func TestSegmentAcceptance150(t *testing.T) {
	require.Equal(t, 150, utf8.RuneCountInString(reply150))
	parts := smsapi.Segment(reply150, sign, smsapi.DefaultMaxChars)
	require.Len(t, parts, 3)
	withSign := []int{
		utf8.RuneCountInString(smsapi.Signature(sign) + parts[0]),
		utf8.RuneCountInString(parts[1]),
		utf8.RuneCountInString(parts[2]),
	}
	require.Equal(t, []int{67, 67, 25}, withSign)
}

func TestSegmentSurrogatePairs(t *testing.T) {
	// An emoji is two UCS-2 units and is never split across parts.
	text := strings.Repeat("a", 66) + "😀" + strings.Repeat("b", 10) // 78 units
	parts := smsapi.Segment(text, "", 0)
	require.Equal(t, []string{strings.Repeat("a", 66), "😀" + strings.Repeat("b", 10)}, parts)

	require.Len(t, smsapi.Segment(strings.Repeat("😀", 35), "", 0), 1) // 70 units
	require.Len(t, smsapi.Segment(strings.Repeat("😀", 36), "", 0), 2) // 72 units
}

func TestSegmentInvalidUTF8(t *testing.T) {
	parts := smsapi.Segment("ok\xff\xfe", "", 0)
	require.Equal(t, []string{"ok\uFFFD"}, parts)
}

func TestSignature(t *testing.T) {
	require.Equal(t, "【12345热线】", smsapi.Signature("12345热线"))
	require.Equal(t, "【12345热线】", smsapi.Signature("【12345热线】"))
	require.Equal(t, "", smsapi.Signature("  "))
}

func BenchmarkSegment150(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		smsapi.Segment(reply150, sign, smsapi.DefaultMaxChars)
	}
}
