package emergency

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// clauseMark stands in the normalised text for the punctuation that ends a
// clause (，。！？；,.!?; and new lines). Negation and context never reach
// across it; "near" rules do.
const clauseMark = '|'

//go:embed t2s.txt
var t2sData string

var (
	t2sOnce sync.Once
	t2s     map[rune]rune
)

// t2sTable is the traditional → simplified character table, built on first
// use from t2s.txt. Character by character, not phrase by phrase: enough to
// match rules, and a map lookup per character instead of OpenCC's phrase
// segmentation (about 95 µs for a 200-character text; see docs/triage.md).
func t2sTable() map[rune]rune {
	t2sOnce.Do(func() {
		m := make(map[rune]rune, 4200)
		for line := range strings.SplitSeq(t2sData, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			for pair := range strings.FieldsSeq(line) {
				t, n := utf8.DecodeRuneInString(pair)
				s, _ := utf8.DecodeRuneInString(pair[n:])
				m[t] = s
			}
		}
		t2s = m
	})
	return t2s
}

// isHan reports whether r is a CJK ideograph (the common blocks).
func isHan(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x20000 && r <= 0x3134F)
}

// isClauseEnd reports whether r (already narrowed) ends a clause.
func isClauseEnd(r rune) bool {
	switch r {
	case ',', '.', '!', '?', ';', '\n', '\r', '。', '，', '！', '？', '；', '｡', '､':
		return true
	}
	return false
}

// foldRune narrows full-width forms, maps traditional to simplified Chinese
// and lower-cases.
func foldRune(r rune, table map[rune]rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	if r >= 0x3000 && !(r >= 0x4E00 && r <= 0x9FFF) {
		p := width.LookupRune(r)
		if k := p.Kind(); k == width.EastAsianFullwidth {
			if n := p.Narrow(); n != 0 {
				r = n
			}
		}
	}
	if s, ok := table[r]; ok {
		r = s
	}
	switch r {
	case '’', '‘', '`', '´':
		r = '\''
	}
	return unicode.ToLower(r)
}

// normalize appends the normalised form of text to dst and returns it:
// full-width → half-width, traditional → simplified, lower case; letters,
// digits and CJK ideographs kept; clause punctuation turned into a single
// clauseMark; every other character (spaces, quotes, brackets, symbols,
// emoji) dropped, leaving one space between two words only where one of
// them is not Chinese ("on fire", but 着火 for "着 火" and "着-火").
// Apostrophes inside words are kept ("isn't").
func normalize(dst []byte, text string) []byte {
	table := t2sTable()
	start := len(dst)
	pendingSpace := false
	prevHan := false
	for _, r := range text {
		r = foldRune(r, table)
		switch {
		case r == '\'' && len(dst) > start && isWordByte(dst[len(dst)-1]) && !pendingSpace:
			dst = append(dst, '\'')
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			han := isHan(r)
			if pendingSpace && len(dst) > start && dst[len(dst)-1] != clauseMark && !(han && prevHan) {
				dst = append(dst, ' ')
			}
			pendingSpace = false
			dst = utf8.AppendRune(dst, r)
			prevHan = han
		case isClauseEnd(r):
			if len(dst) > start && dst[len(dst)-1] != clauseMark {
				dst = append(dst, clauseMark)
			}
			pendingSpace = false
			prevHan = false
		default:
			pendingSpace = true
		}
	}
	return dst
}

// isWordByte reports whether b is an ASCII letter or digit, or the lead or
// continuation byte of a multi-byte rune (treated as a word character for
// the purpose of keeping apostrophes).
func isWordByte(b byte) bool {
	return b >= utf8.RuneSelf || isAlnum(b)
}

// isAlnum reports whether b is an ASCII letter or digit: English words in
// rules must start and end at a boundary of these.
func isAlnum(b byte) bool {
	return ('a' <= b && b <= 'z') || ('0' <= b && b <= '9') || ('A' <= b && b <= 'Z')
}
