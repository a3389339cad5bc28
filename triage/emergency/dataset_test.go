package emergency_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/triage/emergency"
)

type labelled struct {
	Text      string `json:"text"`
	Lang      string `json:"lang"`
	Emergency bool   `json:"emergency"`
	Category  string `json:"category"`
}

func readSet(t testing.TB, name string) []labelled {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "triage", name))
	require.NoError(t, err)
	defer f.Close()
	var set []labelled
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		var l labelled
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "line %d", n)
		require.Contains(t, []string{"zh", "en"}, l.Lang, "line %d", n)
		require.Equal(t, l.Emergency, l.Category != "", "line %d: an emergency has a category, nothing else does", n)
		set = append(set, l)
	}
	require.NoError(t, sc.Err())
	return set
}

// TestLabelledSet scores the default rules on the labelled set and prints
// recall, precision and the per-category confusion (docs/triage.md).
func TestLabelledSet(t *testing.T) {
	set := readSet(t, "emergency.jsonl")
	require.GreaterOrEqual(t, len(set), 400)
	recall, precision := score(t, "emergency.jsonl", set)
	require.GreaterOrEqual(t, recall, 0.95, "emergency recall")
	require.GreaterOrEqual(t, precision, 0.80, "emergency precision")
}

// TestHeldOutSet scores the rules on requests written after the rules and
// never used to tune them: the figure to expect on new texts.
func TestHeldOutSet(t *testing.T) {
	set := readSet(t, "emergency_holdout.jsonl")
	recall, precision := score(t, "emergency_holdout.jsonl", set)
	require.GreaterOrEqual(t, recall, 0.85, "emergency recall on the held-out set")
	require.GreaterOrEqual(t, precision, 0.80, "emergency precision on the held-out set")
}

func score(t *testing.T, name string, set []labelled) (recall, precision float64) {
	t.Helper()
	r := emergency.Default()

	type key struct{ want, got string }
	confusion := map[key]int{}
	var tp, fp, fn, tn int
	perLang := map[string]*[4]int{"zh": {}, "en": {}} // tp fp fn tn
	for _, l := range set {
		m, ok := r.Match(l.Text)
		got := ""
		if ok {
			got = m.Category
		}
		want := l.Category
		confusion[key{want, got}]++
		c := perLang[l.Lang]
		switch {
		case ok && l.Emergency:
			tp++
			c[0]++
		case ok:
			fp++
			c[1]++
			t.Logf("false alarm [%s]: %s (%v)", l.Lang, l.Text, m.Rules)
		case l.Emergency:
			fn++
			c[2]++
			t.Logf("missed %s [%s]: %s", l.Category, l.Lang, l.Text)
		default:
			tn++
			c[3]++
		}
		if ok && l.Emergency && got != want {
			t.Logf("category %s, labelled %s: %s (%v)", got, want, l.Text, m.Rules)
		}
	}
	recall = float64(tp) / float64(tp+fn)
	precision = float64(tp) / float64(tp+fp)
	fmt.Printf("%s: %d texts, %d emergencies; recall %.3f (%d/%d), precision %.3f (%d/%d)\n",
		name, len(set), tp+fn, recall, tp, tp+fn, precision, tp, tp+fp)
	for _, lang := range []string{"zh", "en"} {
		c := perLang[lang]
		fmt.Printf("  %s: recall %.3f, precision %.3f (tp %d, fp %d, fn %d, tn %d)\n", lang,
			float64(c[0])/float64(c[0]+c[2]), float64(c[0])/float64(c[0]+c[1]), c[0], c[1], c[2], c[3])
	}
	cats := []string{"fire", "medical", "crime", "traffic", "hazard", "self_harm", "other", ""}
	fmt.Printf("  confusion (rows labelled, columns matched; - is none):\n  %-10s", "")
	for _, c := range cats {
		fmt.Printf("%10s", dash(c))
	}
	fmt.Println()
	for _, want := range cats {
		if want == "other" {
			continue
		}
		fmt.Printf("  %-10s", dash(want))
		for _, got := range cats {
			fmt.Printf("%10d", confusion[key{want, got}])
		}
		fmt.Println()
	}
	return recall, precision
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
