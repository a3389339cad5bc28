package language

import "unicode/utf8"

// Languages of the Latin fast path, as bits.
const (
	bitEN uint8 = 1 << iota
	bitFR
	bitDE
	bitES
	latinCount = 4
)

var latinCodes = [latinCount]string{English, French, German, Spanish}

// functionWords are frequent short words, with the languages they belong to.
// A word shared by two languages counts for both.
var functionWords = map[string]uint8{}

func init() {
	add := func(bit uint8, words ...string) {
		for _, w := range words {
			functionWords[w] |= bit
		}
	}
	add(bitEN, "the", "and", "is", "are", "was", "were", "to", "of", "in", "on", "my", "i", "it", "for",
		"with", "this", "that", "at", "have", "has", "had", "not", "please", "from", "be", "been", "you",
		"we", "our", "there", "can", "could", "would", "every", "an", "a", "me", "they", "their", "since",
		"about", "what", "when", "who", "how", "because", "but", "or", "so", "no", "any", "still", "again",
		"very", "here", "did", "does", "do", "will", "should", "after", "before", "near", "outside", "into",
		"out", "up", "its", "which", "also", "just", "some")
	add(bitFR, "le", "la", "les", "des", "du", "de", "et", "est", "une", "un", "je", "il", "elle", "nous",
		"vous", "mon", "ma", "mes", "pour", "pas", "dans", "sur", "avec", "qui", "que", "au", "aux", "ce",
		"cette", "ces", "sont", "depuis", "chez", "très", "mais", "ou", "où", "j", "l", "d", "n", "c", "qu",
		"ne", "plus", "notre", "votre", "leur", "y", "a", "été", "être", "avoir", "ai", "suis",
		"quoi", "comment", "quand", "merci", "bonjour", "tous", "toutes", "tout", "chaque", "nuit", "aussi",
		"encore", "sans", "sous", "entre", "parce", "donc", "rien", "fait")
	add(bitDE, "der", "die", "das", "und", "ist", "nicht", "ich", "mein", "meine", "meiner", "meinem",
		"ein", "eine", "einen", "einem", "einer", "mit", "von", "zu", "zum", "zur", "auf", "für", "im", "den",
		"dem", "des", "es", "wir", "sie", "seit", "wird", "auch", "bei", "nach", "noch", "bitte", "sehr",
		"haben", "habe", "hat", "kann", "können", "wie", "was", "wer", "wo", "warum", "aber", "oder", "dass",
		"sich", "uns", "unser", "unsere", "ihr", "ihre", "jeden", "jede", "jeder", "immer", "wieder",
		"schon", "keine", "kein", "vor", "über", "unter", "danke", "hallo", "guten", "tag", "am", "um",
		"bin", "sind", "war", "mir", "mich", "dieser", "diese", "dieses", "hier", "heute", "nachts")
	add(bitES, "el", "la", "los", "las", "de", "del", "y", "es", "en", "que", "un", "una", "por", "para",
		"con", "mi", "mis", "no", "se", "muy", "desde", "está", "están", "hay", "pero", "yo", "su", "sus",
		"al", "lo", "me", "cada", "noche", "como", "cómo", "qué", "cuando", "dónde", "donde", "porque",
		"este", "esta", "estos", "estas", "ese", "esa", "nuestro", "nuestra", "gracias", "hola", "buenos",
		"buenas", "días", "también", "todavía", "otra", "vez", "sin", "sobre", "entre", "todos", "todas",
		"tengo", "tiene", "son", "fue", "ha", "he", "hace", "favor", "puede", "pueden", "ya", "mucho", "a")
}

// diacritics are letters that point to one of the four languages.
func diacritic(r rune) uint8 {
	switch r {
	case 'ñ', 'Ñ', '¿', '¡', 'á', 'í', 'ó', 'ú', 'Á', 'Í', 'Ó', 'Ú':
		return bitES
	case 'ß', 'ä', 'ö', 'Ä', 'Ö':
		return bitDE
	case 'ç', 'œ', 'è', 'ê', 'à', 'ù', 'î', 'ô', 'û', 'ë', 'â', 'Ç', 'È', 'Ê', 'À':
		return bitFR
	case 'é', 'É':
		return bitFR | bitES
	case 'ü', 'Ü':
		return bitDE | bitES
	}
	return 0
}

// byWords scores a Latin-script text on function words and diacritics. It
// is sure when the best language has at least three points and twice as
// many as the next.
func byWords(text string) (string, bool) {
	var score [latinCount]int
	var buf [16]byte
	w := 0        // bytes of the current word in buf
	long := false // the current word does not fit buf: not a function word
	flush := func() {
		if w > 0 && !long {
			addBits(&score, functionWords[string(buf[:w])])
		}
		w, long = 0, false
	}
	for _, r := range text {
		if d := diacritic(r); d != 0 {
			addBits(&score, d)
		}
		switch {
		case 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case 'a' <= r && r <= 'z', r >= 0xC0 && r < 0x250:
			if r >= 0xC0 && r <= 0xDE && r != 0xD7 {
				r += 0x20 // Latin-1 capitals
			}
		default:
			flush()
			continue
		}
		if w+utf8.RuneLen(r) > len(buf) {
			long = true
			continue
		}
		w += utf8.EncodeRune(buf[w:], r)
	}
	flush()
	best, second := 0, -1
	for i := 1; i < latinCount; i++ {
		if score[i] > score[best] {
			best = i
		}
	}
	for i := range latinCount {
		if i != best && (second < 0 || score[i] > score[second]) {
			second = i
		}
	}
	if score[best] >= 3 && score[best] >= 2*score[second] {
		return latinCodes[best], true
	}
	return "", false
}

func addBits(score *[latinCount]int, bits uint8) {
	for i := range latinCount {
		if bits&(1<<i) != 0 {
			score[i]++
		}
	}
}
