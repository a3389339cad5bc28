// Package language tells which language a citizen wrote in, for routing to
// agents with skill lang:<code> first (contract §10). It is a preference,
// never a wall: a wrong or empty answer only changes who is offered a chat
// first.
//
// Detect looks at scripts first (Han, kana, Hangul, Cyrillic), which settles
// Chinese, Japanese, Korean and Russian at once. A Latin-script text is
// scored on frequent function words and diacritics; when that is not clear-cut
// it goes to whatlanggo's trigram model, restricted to English, French,
// German and Spanish. (lingua-go was measured too: a little more accurate on
// short texts, but it links every language's models into the binary,
// +132 MB, and costs about 210 µs on 200 characters.)
package language

import (
	"unicode"

	"github.com/abadojack/whatlanggo"
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

// shortConfidence is what the model must be sure of to answer for a
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
// Detect is safe for concurrent use.
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

// models are the languages the trigram model chooses among.
var models = whatlanggo.Options{Whitelist: map[whatlanggo.Lang]bool{
	whatlanggo.Eng: true, whatlanggo.Fra: true, whatlanggo.Deu: true, whatlanggo.Spa: true}}

var modelCodes = map[whatlanggo.Lang]string{
	whatlanggo.Eng: English,
	whatlanggo.Fra: French,
	whatlanggo.Deu: German,
	whatlanggo.Spa: Spanish,
}

// modelRunes is how much of a text the model reads: its cost grows with
// the text, its accuracy hardly after a few words.
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
	info := whatlanggo.DetectWithOptions(text, models)
	lang, ok := modelCodes[info.Lang]
	switch {
	case ok && (mustAnswer || info.Confidence >= shortConfidence):
		return lang
	case mustAnswer:
		// The model found nothing it knows; with enough letters we still
		// answer, English being the city's second language.
		return English
	}
	return ""
}
