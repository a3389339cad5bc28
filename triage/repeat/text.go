package repeat

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// fold folds full-width forms to half-width and lower-cases.
func fold(s string) string { return strings.ToLower(width.Fold.String(s)) }

// normalise keeps the letters and digits of a folded text; any run of
// other characters becomes one space, which separates words of alphabetic
// scripts and is ignored between ideographs.
func normalise(text string) []rune {
	out := make([]rune, 0, len(text))
	space := true
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, r)
			space = false
			continue
		}
		if !space {
			out = append(out, ' ')
			space = true
		}
	}
	if n := len(out); n > 0 && out[n-1] == ' ' {
		out = out[:n-1]
	}
	return out
}

func isCJK(r rune) bool {
	switch {
	case r < 0x1100:
		return false
	case 0x4E00 <= r && r <= 0x9FFF: // the common ideographs
		return true
	}
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

// features calls f with each feature of normalised text: bigrams of
// ideographs (across spaces), and for words of other scripts the word when
// it is shorter than four letters, else its 4-grams. Greetings, filler and
// the words that mark a repeat ("again", 又, 还是) are left out: they say
// nothing about the matter.
func features(n []rune, f func(gram []rune)) {
	var prev rune // the last ideograph, 0 after a word of another script
	var pair [2]rune
	for i := 0; i < len(n); {
		r := n[i]
		switch {
		case r == ' ':
			i++
		case isCJK(r):
			if !stopCharSet[r] {
				f(n[i : i+1])
			}
			if prev != 0 {
				pair = [2]rune{prev, r}
				if !stopBigrams[pair] {
					f(pair[:])
				}
			}
			prev = r
			i++
		default:
			j := i
			for j < len(n) && n[j] != ' ' && !isCJK(n[j]) {
				j++
			}
			word := n[i:j]
			prev = 0
			switch {
			case stopWords[string(word)]:
			case len(word) < 4:
				f(word)
			default:
				for k := 0; k+4 <= len(word); k++ {
					f(word[k : k+4])
				}
			}
			i = j
		}
	}
}

// sketchFeatures is how many features a sketch keeps: those of the
// smallest hashes, a consistent sample of any two texts' union (bottom-k
// MinHash), so that long texts do not fill every bit.
const sketchFeatures = 64

// sketch folds the sketchFeatures features of n with the smallest hashes
// into 64 bits, each setting the bit its hash's top six bits name. The
// Jaccard index of two sketches follows that of the texts' features. It is
// 0 when n has no feature.
func sketch(n []rune) uint64 {
	var smallest [sketchFeatures]uint64
	k := 0
	features(n, func(gram []rune) {
		h := hash(gram)
		// Keep smallest sorted; it is short, insertion is cheapest.
		i := k
		for i > 0 && smallest[i-1] > h {
			i--
		}
		if i > 0 && smallest[i-1] == h || i == sketchFeatures {
			return
		}
		if k < sketchFeatures {
			k++
		}
		copy(smallest[i+1:k], smallest[i:k-1])
		smallest[i] = h
	})
	var out uint64
	for _, h := range smallest[:k] {
		out |= 1 << (h >> 58)
	}
	return out
}

// hash is FNV-1a over the runes' UTF-8 bytes, then MurmurHash3's finaliser
// so that every bit depends on every byte. It is fixed: prints are stored.
func hash(gram []rune) uint64 {
	h := uint64(14695981039346656037)
	var buf [4]byte
	for _, r := range gram {
		n := encodeRune(buf[:], r)
		for _, c := range buf[:n] {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func encodeRune(p []byte, r rune) int {
	switch {
	case r < 0x80:
		p[0] = byte(r)
		return 1
	case r < 0x800:
		p[0], p[1] = 0xC0|byte(r>>6), 0x80|byte(r)&0x3F
		return 2
	case r < 0x10000:
		p[0], p[1], p[2] = 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F
		return 3
	default:
		p[0], p[1], p[2], p[3] = 0xF0|byte(r>>18), 0x80|byte(r>>12)&0x3F, 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F
		return 4
	}
}

// stopChars are ideographs too common in requests to tell one matter from
// another.
const stopChars = "的了是在我你他她它们有没不就都也还又很这那个一上下里和与及把被让给对说要会能到过着啊吗呢吧请您好问题"

var stopCharSet = map[rune]bool{}

var stopBigrams = map[[2]rune]bool{}

func init() {
	for _, r := range stopChars {
		stopCharSet[r] = true
	}
	for _, s := range []string{
		"你好", "您好", "请问", "投诉", "反映", "希望", "相关", "部门", "处理", "解决", "问题", "谢谢",
		"市民", "我们", "我家", "一下", "已经", "现在", "没有", "这个", "那个", "还是", "又是", "再次",
		"上次", "之前", "过了", "依然", "仍然", "一直", "还在", "又来", "还没", "尽快", "麻烦", "帮忙",
		"请求", "要求", "情况", "严重", "非常", "真的", "一次", "两次", "多次", "次了", "个月",
		"了一", "的问", "题还", "还是", "是那", "那个", "个的", "不是", "就是", "我想", "想反",
		"映一", "反映过", "映过", "联系", "管一", "一管", "请你", "你们", "我是", "居民",
	} {
		r := []rune(s)
		if len(r) == 2 {
			stopBigrams[[2]rune{r[0], r[1]}] = true
		}
	}
}

var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`the a an and or of to in on at is are was were it its this that
		my i we our you your please hello hi dear again still there has have had been for with from be
		not no very same once more last week time already reported report complain complaint
		problem issue thanks thank help someone can could would will do does did about as by me us
		they them their which what when who how so but just also any some here than then`) {
		stopWords[w] = true
	}
}
