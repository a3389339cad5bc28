// Package language tells which language a citizen wrote in, for routing to
// agents with skill lang:<code> first (contract §10). It is a preference,
// never a wall: a wrong or empty answer only changes who is offered a chat
// first.
//
// Detect looks at scripts first (Han, kana, Hangul, Cyrillic), which settles
// Chinese, Japanese, Korean and Russian at once. A Latin-script text is
// scored on frequent function words and diacritics; when that is not clear-cut
// it goes to lingua-go (low-accuracy mode, English, French, German and Spanish
// only), whose models are loaded at the first such call.
package language

import (
	"sync"
	"sync/atomic"
	"unicode"

	lingua "github.com/pemistahl/lingua-go"
)

// The codes Detect answers with.
const (
	Chinese  = "zh"
	English  = "en"
	Japanese = "ja"
	Korean   = "ko"
	Russian  = "ru"
	French   = "fr"
	German   = "de"
	Spanish  = "es"
)

// MinLetters is the number of letters (ideographs, kana, Hangul, letters of
// an alphabet; not digits, spaces or punctuation) from which Detect always
// answers.
const MinLetters = 20

// shortConfidence is what lingua must be sure of to answer for a
// Latin-script text shorter than MinLetters.
const shortConfidence = 0.8

// counts is what one pass over the text finds.
type counts struct {
	han, kana, hangul, cyrillic, latin int
	latinWords                         int
}

func (c counts) letters() int { return c.han + c.kana + c.hangul + c.cyrillic + c.latin }

func count(text string) counts {
	var c counts
	inLatin := false
	for _, r := range text {
		latin := false
		switch {
		case r < 0x80:
			latin = 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		case unicode.Is(unicode.Han, r):
			c.han++
		case unicode.Is(unicode.Hiragana, r), unicode.Is(unicode.Katakana, r) && r != 0x30FB && r != 0xFF65:
			// The katakana middle dot (・) is also written in Chinese
			// between the parts of a foreign name.
			c.kana++
		case unicode.Is(unicode.Hangul, r):
			c.hangul++
		case unicode.Is(unicode.Cyrillic, r):
			c.cyrillic++
		case unicode.Is(unicode.Latin, r):
			latin = true
		}
		if latin {
			c.latin++
			if !inLatin {
				c.latinWords++
			}
		}
		inLatin = latin
	}
	return c
}

// Detect returns the BCP 47 primary language of text ("zh", "en", "ja",
// "ko", "ru", "fr", "de", "es"), or "" when unsure. It always answers for a
// text of MinLetters or more letters, Chinese included; another language
// written in the Latin alphabet is then reported as the closest of en, fr,
// de and es, and one in Cyrillic as ru.
//
// Words of another script inside a text (an English word in a Chinese
// request, a Chinese address in an English one) do not outvote it: an
// ideograph counts as much as 0.7 of a Latin word.
//
// Detect is safe for concurrent use. Its first call on a Latin-script text
// that the function words do not settle loads lingua's models (about 30 ms,
// a few MiB of heap); Warm does that ahead.
func Detect(text string) string {
	c := count(text)
	n := c.letters()
	if n == 0 {
		return ""
	}
	cjk := float64(c.han+c.kana) * 0.7
	switch {
	case c.hangul > 0 && c.hangul >= c.han+c.kana && c.hangul >= c.latin/3:
		return Korean
	case c.han+c.kana > 0 && cjk >= float64(c.latinWords) && c.han+c.kana >= c.cyrillic/3:
		// Japanese is rarely written with less than a fifth kana; a
		// Chinese text may hold a shop's name in kana.
		if c.kana > 0 && c.kana*5 >= c.han+c.kana {
			return Japanese
		}
		return Chinese
	case c.cyrillic > 0 && c.cyrillic >= c.latin:
		return Russian
	case c.latin == 0:
		// Another script (Arabic, Thai, …): not one of ours.
		return ""
	}
	if lang, sure := byWords(text); sure {
		return lang
	}
	return byModel(text, n >= MinLetters)
}

// Warm loads lingua's models now rather than at the first Latin-script text
// that needs them. It is idempotent.
func Warm() { detector() }

// loaded tells whether lingua's models are in memory (for a test).
var loaded atomic.Bool

var detector = sync.OnceValue(func() lingua.LanguageDetector {
	defer loaded.Store(true)
	return lingua.NewLanguageDetectorBuilder().
		FromLanguages(lingua.English, lingua.French, lingua.German, lingua.Spanish).
		WithLowAccuracyMode().
		WithPreloadedLanguageModels().
		Build()
})

var linguaCodes = map[lingua.Language]string{
	lingua.English: English,
	lingua.French:  French,
	lingua.German:  German,
	lingua.Spanish: Spanish,
}

// modelRunes is how much of a text lingua reads: its cost grows with the
// text (about 1 µs a letter), its accuracy hardly after a few words.
const modelRunes = 100

func byModel(text string, mustAnswer bool) string {
	n := 0
	for i := range text {
		if n == modelRunes {
			text = text[:i]
			break
		}
		n++
	}
	values := detector().ComputeLanguageConfidenceValues(text)
	if len(values) == 0 {
		return ""
	}
	best := values[0]
	if !mustAnswer && best.Value() < shortConfidence {
		return ""
	}
	if best.Value() == 0 {
		// lingua found no word at all; with enough letters we still
		// answer, English being the city's second language.
		if mustAnswer {
			return English
		}
		return ""
	}
	return linguaCodes[best.Language()]
}
