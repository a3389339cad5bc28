package smsapi

import (
	"strings"
	"unicode/utf8"
)

// Carrier limits for a UCS-2 short message in mainland China, signature
// included: one message holds 70 characters; a longer one is sent as parts
// of 67 (3 characters go to the concatenation header). Aliyun and Tencent
// bill by this count.
const (
	SinglePartChars = 70
	MultiPartChars  = 67
)

// DefaultMaxChars caps a reply, over all its sends, when the configuration
// gives no cap: the longest reply a ticket event carries (ticket-event/v1
// reply.text), so that no ticket answer is cut.
const DefaultMaxChars = 2000

// Signature returns the signature as it appears in the message, "【name】";
// brackets already present are not doubled, and an empty name gives "".
func Signature(signName string) string {
	s := strings.TrimSpace(signName)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "【"), "】")
	if s == "" {
		return ""
	}
	return "【" + s + "】"
}

// Segment splits text into the parts a carrier delivers, by the rule above:
// if the signature 【signName】 plus text is at most 70 characters it is one
// part; otherwise parts hold 67 characters each, the signature counting
// against the first. The returned parts are text only (the signature is
// added by the provider) and concatenate back to the (possibly cut) text.
//
// Characters are counted as UCS-2/UTF-16 code units: one per rune, two for a
// rune outside the Basic Multilingual Plane (an emoji), which is never split.
// Text longer than maxChars (≤0: no cap) is cut to maxChars-1 characters and
// "…". Invalid UTF-8 becomes U+FFFD. Empty text gives no parts.
func Segment(text, signName string, maxChars int) []string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = truncate(text, maxChars)
	if text == "" {
		return nil
	}
	signLen := units(Signature(signName))
	n := units(text)
	if n+signLen <= SinglePartChars {
		return []string{text}
	}
	parts := make([]string, 0, (n+signLen)/MultiPartChars+1)
	limit := max(MultiPartChars-signLen, 1)
	start, used := 0, 0
	for i, r := range text {
		w := runeUnits(r)
		if used+w > limit && used > 0 {
			parts = append(parts, text[start:i])
			start, used, limit = i, 0, MultiPartChars
		}
		used += w
	}
	return append(parts, text[start:])
}

// PartCount is len(Segment(text, signName, maxChars)) without building parts.
func PartCount(text, signName string, maxChars int) int {
	return len(Segment(text, signName, maxChars))
}

// truncate cuts text to at most maxChars units, ending with "…" when cut.
func truncate(text string, maxChars int) string {
	if maxChars <= 0 || units(text) <= maxChars {
		return text
	}
	used := 0
	for i, r := range text {
		w := runeUnits(r)
		if used+w > maxChars-1 {
			return text[:i] + "…"
		}
		used += w
	}
	return text
}

// units counts UTF-16 code units, the carrier's characters.
func units(s string) int {
	n := 0
	for _, r := range s {
		n += runeUnits(r)
	}
	return n
}

func runeUnits(r rune) int {
	if r > 0xFFFF && r <= utf8.MaxRune {
		return 2
	}
	return 1
}
