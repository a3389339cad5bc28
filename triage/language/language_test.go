package language_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/triage/language"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", "", ""},
		{"digits and punctuation", "12345 -- 67890 !!!", ""},
		{"short Chinese", "路灯坏了", "zh"},
		{"traditional Chinese", "請問社保卡遺失了要怎麼補辦", "zh"},
		{"Chinese with English words", "我的visa extension appointment被取消了，怎么办", "zh"},
		{"Chinese with a shop name in kana", "楼下新开的居酒屋「さくら」每天晚上唱歌到凌晨，吵得没法睡觉", "zh"},
		{"Chinese with a foreign name dot", "约翰・史密斯先生的签证问题需要咨询出入境管理局", "zh"},
		{"Japanese", "隣の工事現場が毎晩遅くまで作業していて眠れません", "ja"},
		{"Japanese mostly kanji", "東京都港区六本木一丁目の騒音問題について", "ja"},
		{"Korean", "옆 공사장이 매일 밤 공사를 해서 잠을 잘 수 없습니다", "ko"},
		{"Russian", "Сосед сверху каждый вечер включает громкую музыку", "ru"},
		{"English with a Chinese address", "I live at 浦东新区张杨路500号 and the construction noise at night is terrible, please help", "en"},
		{"English", "The street light outside my building has been broken for two weeks", "en"},
		{"French", "Le lampadaire devant mon immeuble est cassé depuis deux semaines", "fr"},
		{"German", "Die Straßenlaterne vor meinem Haus ist seit zwei Wochen kaputt", "de"},
		{"Spanish", "La farola delante de mi edificio lleva dos semanas rota", "es"},
		{"English without function words", "Broken street light, Lianyang Road building 5", "en"},
		{"German without function words", "Lärmbeschwerde Baustelle Zhangyang Straße nachts", "de"},
		{"other script", "مرحبا، أريد تقديم شكوى بشأن الضوضاء", ""},
		{"full-width English", "Ｔｈｅ ｓｔｒｅｅｔ ｌｉｇｈｔ ｉｓ ｂｒｏｋｅｎ ａｇａｉｎ", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, language.Detect(tt.text))
		})
	}
}

// TestDetectAlwaysAnswers checks the contract's promise: 20 letters or more
// in one of our scripts always get a language.
func TestDetectAlwaysAnswers(t *testing.T) {
	for _, text := range []string{
		"qwrtzp lkjhgf mnbvcx poiuzt",
		"Wo jia louxia de lu deng huai le hen jiu",
		"1234 abcdefghij klmnopqrst 5678",
		strings.Repeat("啊", 20),
		strings.Repeat("ж", 20),
	} {
		require.NotEmpty(t, language.Detect(text), text)
	}
}

type labelled struct {
	Text string `json:"text"`
	Lang string `json:"lang"`
}

func loadSet(t testing.TB) []labelled {
	t.Helper()
	f, err := os.Open("../../testdata/triage/language.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var set []labelled
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l labelled
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		set = append(set, l)
	}
	require.NoError(t, sc.Err())
	return set
}

func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// TestAccuracy scores Detect on the labelled set (texts of 20+ letters in
// the eight languages) and prints the figures recorded in docs/triage.md.
func TestAccuracy(t *testing.T) {
	set := loadSet(t)
	require.GreaterOrEqual(t, len(set), 200)
	perLang := map[string][2]int{}
	right := 0
	for _, l := range set {
		require.GreaterOrEqual(t, letters(l.Text), language.MinLetters, l.Text)
		got := language.Detect(l.Text)
		c := perLang[l.Lang]
		c[1]++
		if got == l.Lang {
			right++
			c[0]++
		} else {
			t.Logf("wrong: want %s, got %q: %s", l.Lang, got, l.Text)
		}
		perLang[l.Lang] = c
	}
	acc := float64(right) / float64(len(set))
	t.Logf("language accuracy %.3f (%d/%d)", acc, right, len(set))
	for _, lang := range []string{"zh", "en", "ja", "ko", "ru", "fr", "de", "es"} {
		c := perLang[lang]
		require.Positive(t, c[1], "no text in %s", lang)
		t.Logf("  %s %d/%d", lang, c[0], c[1])
	}
	require.GreaterOrEqual(t, acc, 0.95)
}

func FuzzDetect(f *testing.F) {
	for _, s := range []string{"", "路灯坏了", "The light is broken", "Ｔｅｓｔ", "\xff\xfe", "ß", "さくら"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		switch got := language.Detect(text); got {
		case "", "zh", "en", "ja", "ko", "ru", "fr", "de", "es":
		default:
			t.Fatalf("Detect(%q) = %q", text, got)
		}
	})
}
