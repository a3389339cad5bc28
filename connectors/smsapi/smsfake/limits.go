package smsfake

import (
	"strings"
	"unicode/utf16"
)

// ContentLimit is the most characters Aliyun and Tencent accept in one send,
// counted on the message as the handset shows it: 【signature】, the
// template's fixed text and the variables' values (Aliyun's SMS message
// rules; Tencent's SMS content rules). A longer send is refused.
const ContentLimit = 500

// The providers' error codes for content that is too long. Aliyun answers
// isv.PARAM_LENGTH_LIMIT ("参数超出长度限制") both for a variable over its cap
// and for content over the limit; Tencent has one code for each.
const (
	AliyunLengthCode          = "isv.PARAM_LENGTH_LIMIT"
	TencentContentLengthCode  = "InvalidParameterValue.ContentLengthLimit"
	TencentParamLengthCode    = "InvalidParameterValue.TemplateParameterLengthLimit"
	aliyunDefaultTemplateText = "${content}"
	tencentDefaultTemplate    = "{1}"
)

// WithContentLimit replaces ContentLimit (Aliyun and Tencent fakes); 0 or
// less checks no total length.
func WithContentLimit(n int) Option { return func(b *base) { b.contentLimit = n } }

// WithVariableCap makes the fake refuse a template variable longer than n
// characters, as Aliyun does (35 by default) until the operator has the cap
// lifted for the template. 0, the fake's default, is a lifted cap.
func WithVariableCap(n int) Option { return func(b *base) { b.varCap = n } }

// WithTemplate sets the approved template's text, whose fixed part counts
// against the content limit: "${content}" marks the variable for Aliyun,
// "{1}" for Tencent, e.g. WithTemplate("12345热线回复：${content}"). The
// default is the variable alone.
func WithTemplate(text string) Option { return func(b *base) { b.template = text } }

// units counts characters as the providers do: one per UTF-16 code unit, so
// an emoji counts two. Written apart from smsapi so that the two cannot agree
// on a wrong count.
func units(s string) int { return len(utf16.Encode([]rune(s))) }

// render is the message as the handset shows it.
func render(sign, template, placeholder, value string) string {
	body := strings.Replace(template, placeholder, value, 1)
	if !strings.Contains(template, placeholder) {
		body = template + value
	}
	if sign == "" {
		return body
	}
	return "【" + sign + "】" + body
}

// lengthCheck returns which limit content breaks: "variable", "content" or "".
func (b *base) lengthCheck(value, content string) string {
	switch {
	case b.varCap > 0 && units(value) > b.varCap:
		return "variable"
	case b.contentLimit > 0 && units(content) > b.contentLimit:
		return "content"
	}
	return ""
}

func (b *base) lengthRefused() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lengthRefusals++
}

// LengthRefusals counts sends refused for length (content over the limit or a
// variable over its cap).
func (b *base) LengthRefusals() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lengthRefusals
}

// Inbox returns what the handset of phone (E.164) shows, one entry per
// accepted send in order: 【signature】 + the rendered template.
func (b *base) Inbox(phone string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, s := range b.sent {
		if s.Phone == phone {
			out = append(out, s.Content)
		}
	}
	return out
}
