package smsapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/smsapi"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
)

// u16 counts characters as the providers do (UTF-16 units).
func u16(s string) int { return len(utf16.Encode([]rune(s))) }

// replyOf is a reply of n characters made of sentences, as an agent writes.
func replyOf(n int) string {
	const sentence = "您反映的问题已转交相关部门处理，请保持电话畅通。"
	var b strings.Builder
	for u16(b.String()) < n {
		b.WriteString(sentence)
	}
	return string([]rune(b.String())[:n])
}

func TestSplitSends(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		room   int
		labels []string // the numbers the pieces start with; nil: one piece, no number
		max    []int    // piece lengths, if exact
	}{
		{name: "fits", text: replyOf(491), room: 491},
		{name: "no limit", text: replyOf(3000), room: 0},
		{name: "600 in 491", text: replyOf(600), room: 491, labels: []string{"(1/2)", "(2/2)"}},
		{name: "1500 in 491", text: replyOf(1500), room: 491, labels: []string{"(1/4)", "(2/4)", "(3/4)", "(4/4)"}},
		{name: "twelve pieces widen the number", text: strings.Repeat("市", 12*40), room: 47,
			labels: []string{"(1/12)", "(2/12)", "(3/12)", "(4/12)", "(5/12)", "(6/12)", "(7/12)", "(8/12)", "(9/12)", "(10/12)", "(11/12)", "(12/12)"}},
		{name: "hard cut without punctuation", text: strings.Repeat("a", 30), room: 20, labels: []string{"(1/2)", "(2/2)"}, max: []int{20, 20}},
		{name: "emoji is never split", text: strings.Repeat("😀", 11), room: 20, labels: []string{"(1/2)", "(2/2)"}, max: []int{19, 13}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pieces := smsapi.SplitSends(tt.text, tt.room)
			if tt.labels == nil {
				require.Equal(t, []string{tt.text}, pieces)
				return
			}
			require.Len(t, pieces, len(tt.labels))
			var joined strings.Builder
			for i, p := range pieces {
				require.True(t, strings.HasPrefix(p, tt.labels[i]), p)
				require.LessOrEqual(t, u16(p), tt.room)
				if tt.max != nil {
					require.Equal(t, tt.max[i], u16(p))
				}
				joined.WriteString(smsapi.StripNumber(p))
			}
			require.Equal(t, tt.text, joined.String(), "nothing cut, nothing repeated")
		})
	}
	require.Nil(t, smsapi.SplitSends("", 100))
	require.Nil(t, smsapi.SplitSends(strings.Repeat("a", 30), 5), "no room beside the number")
}

// Pieces end after a sentence mark when one is near the end.
func TestSplitSendsBreaksAtSentences(t *testing.T) {
	text := strings.Repeat("一二三四五六七八九。", 10) // 100 characters, a full stop every 10
	pieces := smsapi.SplitSends(text, 45)
	require.Len(t, pieces, 3)
	for _, p := range pieces[:2] {
		require.True(t, strings.HasSuffix(p, "。"), p)
	}
}

func FuzzSplitSends(f *testing.F) {
	f.Add(replyOf(600), 491)
	f.Add("😀a😀。b", 8)
	f.Add("\xff\xfe", 10)
	f.Fuzz(func(t *testing.T, text string, room int) {
		if room > 2000 || room < -1 {
			return
		}
		pieces := smsapi.SplitSends(text, room)
		// Nothing to send; or a room under the senders' least (20, checked
		// when they are built), where even 9 numbered pieces may not fit.
		if text == "" || (room > 0 && room < 20 && u16(text) > room) {
			return
		}
		require.NotEmpty(t, pieces)
		var joined strings.Builder
		for i, p := range pieces {
			if len(pieces) > 1 {
				require.True(t, strings.HasPrefix(p, "("+strconv.Itoa(i+1)+"/"+strconv.Itoa(len(pieces))+")"), p)
				if u16(smsapi.StripNumber(p)) > 2 { // one emoji may exceed a tiny room
					require.LessOrEqual(t, u16(p), room)
				}
			}
			joined.WriteString(smsapi.StripNumber(p))
		}
		if len(pieces) > 1 {
			require.Equal(t, text, joined.String())
		}
	})
}

// Acceptance: with each provider's real limits (500 characters per send,
// 【signature】 and the template's fixed text included; a variable cap), a
// 600- and a 1,500-character reply leave as ordered, numbered sends that each
// fit, and the citizen's phone shows all of the reply. Before, the reply was
// cut to 500 characters and refused (509 with the signature).
func TestLongReplyFitsProviderLimits(t *testing.T) {
	const template = "12345热线回复：${content}" // 7 characters of fixed text
	tests := []struct {
		name      string
		provider  string
		n         int
		fixed     int
		varCap    int
		wantSends int
	}{
		{"aliyun 600", "aliyun", 600, 0, 0, 2},
		{"aliyun 1500", "aliyun", 1500, 0, 0, 4},
		{"aliyun 600 with template text", "aliyun", 600, 7, 0, 2},
		{"aliyun 1500 with a variable cap", "aliyun", 1500, 7, 300, 6},
		{"tencent 600", "tencent", 600, 0, 0, 2},
		{"tencent 1500", "tencent", 1500, 0, 0, 4},
		{"tencent 1500 with template text", "tencent", 1500, 7, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []smsfake.Option{smsfake.WithClock(clk)}
			if tt.fixed > 0 {
				tmpl := template
				if tt.provider == "tencent" {
					tmpl = strings.Replace(template, "${content}", "{1}", 1)
				}
				opts = append(opts, smsfake.WithTemplate(tmpl))
			}
			if tt.varCap > 0 {
				opts = append(opts, smsfake.WithVariableCap(tt.varCap))
			}
			o := smsapi.Options{SignName: sign, Clock: clk, TemplateFixedChars: tt.fixed, MaxVariableChars: tt.varCap}
			s, fake := newLimited(t, tt.provider, o, opts...)
			reply := replyOf(tt.n)
			res, err := s.Send(context.Background(), citizen, reply)
			require.NoError(t, err)
			require.Equal(t, tt.wantSends, res.Sends)
			require.Len(t, res.MessageIDs, tt.wantSends)
			require.False(t, res.Cut)
			require.Zero(t, res.LengthRefusals)
			require.Zero(t, fake.LengthRefusals())

			inbox := fake.Inbox(citizen)
			require.Len(t, inbox, tt.wantSends)
			var joined strings.Builder
			for i, sent := range fake.Sent() {
				require.LessOrEqual(t, u16(inbox[i]), smsfake.ContentLimit, "send %d fits", i+1)
				if tt.varCap > 0 {
					require.LessOrEqual(t, u16(sent.Text), tt.varCap)
				}
				require.True(t, strings.HasPrefix(sent.Text, "("+strconv.Itoa(i+1)+"/"+strconv.Itoa(tt.wantSends)+")"), "in order")
				require.Equal(t, res.MessageIDs[i], sent.ID)
				joined.WriteString(smsapi.StripNumber(sent.Text))
			}
			require.Equal(t, reply, joined.String(), "the whole reply, nothing cut")
		})
	}
}

// A length refusal (a limit the sender was not told of) is counted, and the
// reply is split smaller when nothing has been sent yet; when even that is
// refused, the error matches ErrTooLong and is permanent.
func TestLengthRefusal(t *testing.T) {
	for _, provider := range []string{"aliyun", "tencent"} {
		t.Run(provider, func(t *testing.T) {
			// The template has 40 characters of fixed text the sender does not know.
			tmpl := strings.Repeat("字", 40) + map[string]string{"aliyun": "${content}", "tencent": "{1}"}[provider]
			s, fake := newLimited(t, provider, smsapi.Options{SignName: sign, Clock: clk}, smsfake.WithClock(clk), smsfake.WithTemplate(tmpl))
			reply := replyOf(600)
			res, err := s.Send(context.Background(), citizen, reply)
			require.NoError(t, err)
			require.Equal(t, 1, res.LengthRefusals)
			require.Equal(t, 1, fake.LengthRefusals())
			require.Equal(t, 2, res.Sends)
			var joined strings.Builder
			for _, c := range fake.Inbox(citizen) {
				require.LessOrEqual(t, u16(c), smsfake.ContentLimit)
			}
			for _, sent := range fake.Sent() {
				joined.WriteString(smsapi.StripNumber(sent.Text))
			}
			require.Equal(t, reply, joined.String())

			// A provider that refuses everything: three tries, then ErrTooLong.
			s, fake = newLimited(t, provider, smsapi.Options{SignName: sign, Clock: clk}, smsfake.WithClock(clk), smsfake.WithContentLimit(15))
			res, err = s.Send(context.Background(), citizen, reply)
			requireKind(t, err, smsapi.ErrTooLong, true)
			require.ErrorIs(t, err, smsapi.ErrRejected)
			require.Equal(t, 3, res.LengthRefusals)
			require.Equal(t, 3, fake.LengthRefusals())
			require.Empty(t, res.MessageIDs)
		})
	}
}

func TestLengthCodes(t *testing.T) {
	tests := []struct{ provider, code string }{
		{"aliyun", smsfake.AliyunLengthCode},
		{"tencent", smsfake.TencentContentLengthCode},
		{"tencent", smsfake.TencentParamLengthCode},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s, fake := newLimited(t, tt.provider, smsapi.Options{SignName: sign, Clock: clk}, smsfake.WithClock(clk))
			fake.FailNext(http.StatusOK, tt.code)
			fake.FailNext(http.StatusOK, tt.code)
			fake.FailNext(http.StatusOK, tt.code)
			_, err := s.Send(context.Background(), citizen, "hi")
			requireKind(t, err, smsapi.ErrTooLong, true)
			require.Contains(t, err.Error(), "refused for length")
		})
	}
}

// Limits that leave no room for the reply are refused at construction.
func TestLimitsLeaveRoom(t *testing.T) {
	_, err := smsapi.NewAliyun(smsapi.AliyunConfig{Options: smsapi.Options{SignName: sign, TemplateFixedChars: 480},
		AccessKeyID: "id", AccessKeySecret: "s", TemplateCode: "SMS_1"})
	require.ErrorContains(t, err, "leave 11 characters per send")
	_, err = smsapi.NewTencent(smsapi.TencentConfig{Options: smsapi.Options{SignName: sign, MaxVariableChars: 10},
		SecretID: "id", SecretKey: "k", SmsSdkAppID: "1400000000", TemplateID: "1"})
	require.ErrorContains(t, err, "leave 10 characters per send")
}

// limitedFake is a provider fake with its length rules.
type limitedFake interface {
	Sent() []smsfake.Sent
	Inbox(phone string) []string
	LengthRefusals() int
	FailNext(status int, code string)
}

func newLimited(t *testing.T, provider string, o smsapi.Options, opts ...smsfake.Option) (smsapi.Sender, limitedFake) {
	t.Helper()
	if provider == "aliyun" {
		fake := smsfake.NewAliyun(t, "LTAI-test", "aliyun-secret", opts...)
		o.APIBase = fake.URL()
		s, err := smsapi.NewAliyun(smsapi.AliyunConfig{Options: o, AccessKeyID: "LTAI-test", AccessKeySecret: "aliyun-secret", TemplateCode: "SMS_1"})
		require.NoError(t, err)
		return s, fake
	}
	fake := smsfake.NewTencent(t, "AKID-test", "tencent-key", opts...)
	o.APIBase = fake.URL()
	s, err := smsapi.NewTencent(smsapi.TencentConfig{Options: o, SecretID: "AKID-test", SecretKey: "tencent-key",
		SmsSdkAppID: "1400000000", TemplateID: "449739"})
	require.NoError(t, err)
	return s, fake
}
