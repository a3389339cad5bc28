package repeat_test

import (
	"bufio"
	"encoding/json"
	"math/bits"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/triage/repeat"
)

func TestSame(t *testing.T) {
	const (
		light   = "世纪大道地铁站2号口的扶梯坏了半个月，推婴儿车只能走楼梯。"
		lightRe = "世纪大道站2号出口的扶梯还是坏的，已经一个月了，推婴儿车太不方便。"
		garage  = "小区地下车库经常有人给电动车充电，拉飞线，很容易起火。"
	)
	tests := []struct {
		name      string
		a, aPlace string
		b, bPlace string
		want      bool
	}{
		{"same text, same place", light, "浦东新区", light, "浦东新区", true},
		{"reworded, district written two ways", light, "浦东新区", lightRe, "浦东", true},
		{"reworded, address and district", light, "上海市浦东新区世纪大道", lightRe, "浦东", true},
		{"reworded, one place unknown", light, "浦东新区", lightRe, "", true},
		{"same street, other house number", light, "浦东新区世纪大道100号", light, "浦东新区世纪大道2000号", false},
		{"same text, other district", light, "浦东新区", light, "徐汇区", false},
		{"same text, one place unknown", light, "浦东新区", light, "", true},
		{"same place, other matter", light, "浦东新区", garage, "浦东新区", false},
		{"full-width and spacing do not matter", "Ｔｈｅ ｓｔｒｅｅｔ ｌｉｇｈｔ ａｔ ５００ Ｚｈａｎｇｙａｎｇ Ｒｏａｄ ｉｓ ｂｒｏｋｅｎ",
			"Pudong", "the street light at 500 zhangyang road is broken!!", "Pudong New Area", true},
		{"romanised and Chinese places cannot be compared", light, "浦东", light, "Pudong", true},
		{"the text names another district", "福田区深南大道1000号附近人行道上的井盖丢了", "", "南山区深南大道1000号附近人行道上的井盖丢了", "", false},
		{"empty texts are never the same", "", "浦东", "", "浦东", false},
		{"punctuation only", "？？？！！！", "", "？？？！！！", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := repeat.Fingerprint(tt.a, tt.aPlace)
			b := repeat.Fingerprint(tt.b, tt.bPlace)
			require.Equal(t, tt.want, repeat.Same(a, b), "distance %d, places %q %q",
				bits.OnesCount64(a.Hash^b.Hash), a.Place, b.Place)
			require.Equal(t, tt.want, repeat.Same(b, a), "Same is symmetric")
		})
	}
}

func TestFingerprint(t *testing.T) {
	p := repeat.Fingerprint("张杨路500号门口的路灯坏了", "上海市浦东新区")
	require.Equal(t, "浦东|张杨路500", p.Place, "the street comes from the text when the place has none")
	// Prints are stored: the hash of a text must not change between
	// releases.
	require.Equal(t, uint64(0xa0b42a8888302), p.Hash)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	require.NotContains(t, string(b), "路灯", "no text in a print")
	require.Equal(t, repeat.Print{}, repeat.Fingerprint("", ""))
}

type side struct {
	Text  string `json:"text"`
	Place string `json:"place"`
}

type pair struct {
	A    side `json:"a"`
	B    side `json:"b"`
	Same bool `json:"same"`
}

func loadPairs(t testing.TB) []pair {
	t.Helper()
	f, err := os.Open("../../testdata/triage/repeat.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var set []pair
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var p pair
		require.NoError(t, json.Unmarshal(sc.Bytes(), &p), sc.Text())
		set = append(set, p)
	}
	require.NoError(t, sc.Err())
	return set
}

// TestPairs scores Same on the labelled pairs and prints the figures
// recorded in docs/triage.md.
func TestPairs(t *testing.T) {
	set := loadPairs(t)
	require.GreaterOrEqual(t, len(set), 200)
	var tp, fp, fn, tn int
	for _, p := range set {
		a := repeat.Fingerprint(p.A.Text, p.A.Place)
		b := repeat.Fingerprint(p.B.Text, p.B.Place)
		got := repeat.Same(a, b)
		switch {
		case got && p.Same:
			tp++
		case got && !p.Same:
			fp++
		case !got && p.Same:
			fn++
		default:
			tn++
		}
		if got != p.Same {
			t.Logf("wrong (want %v, distance %d, places %q %q): %s | %s", p.Same,
				bits.OnesCount64(a.Hash^b.Hash), a.Place, b.Place, p.A.Text, p.B.Text)
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	t.Logf("repeat pairs %d (%d same): precision %.3f, recall %.3f (tp %d, fp %d, fn %d, tn %d)",
		len(set), tp+fn, precision, recall, tp, fp, fn, tn)
	require.GreaterOrEqual(t, precision, 0.9)
	require.GreaterOrEqual(t, recall, 0.8)
}

func FuzzFingerprint(f *testing.F) {
	for _, s := range []string{"", "路灯坏了", "Zhangyang Road", "浦东新区张杨路500号", "区路", "\xff", "Ｎｅｗ Ａｒｅａ"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, text, place string) {
		p := repeat.Fingerprint(text, place)
		require.Equal(t, p, repeat.Fingerprint(text, place), "deterministic")
		require.LessOrEqual(t, strings.Count(p.Place, "|"), 1)
		q := repeat.Fingerprint(text+" 路灯", place)
		require.Equal(t, repeat.Same(p, q), repeat.Same(q, p), "symmetric")
		if bits.OnesCount64(p.Hash) >= 10 {
			require.True(t, repeat.Same(p, p), "a print is the same as itself")
		}
	})
}
