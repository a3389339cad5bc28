package emergency_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/triage/emergency"
)

func TestMatchNegationAndContext(t *testing.T) {
	r := emergency.Default()
	for _, tc := range []struct {
		text     string
		category string // "" for no match
	}{
		{"楼下着火了", "fire"},
		{"不是火灾", ""},
		{"没有着火，只是误报", ""},
		{"没着火", ""},
		{"上次火灾后的补偿", ""},
		{"去年小区发生火灾的赔偿", ""},
		{"急救培训课程报名", ""},
		{"如果着火了怎么办", ""},
		{"差点撞到人", ""},
		{"燃气费缴费", ""},
		{"there is a fire in my flat", "fire"},
		{"no fire", ""},
		{"it's not a fire", ""},
		{"fire station opening hours", ""},
		{"my fire extinguisher expired", ""},
		{"the fired worker wants his wages", ""},
		{"crime statistics report", ""},
		{"what to do if there is a fire", ""},
		{"no one was injured", ""},
		{"I smell gas and my neighbour is not answering", "hazard"},
		{"someone is stabbing people", "crime"},
		// Severity: self_harm over crime, fire over medical, crime over medical.
		{"他拿刀要自残", "self_harm"},
		{"着火了，有人昏迷", "fire"},
		{"a man was stabbed and is bleeding", "crime"},
		// The citizen's own words (issue 21), one per category and a few
		// hard negatives around them.
		{"我爸突然说话含糊，嘴也歪了", "medical"},
		{"her left side is numb and she can't move her arm", "medical"},
		{"有个陌生男人一直跟着我", "crime"},
		{"someone is in my house right now", "crime"},
		{"车在隧道里熄火了", "traffic"},
		{"a car is driving the wrong way on the motorway", "traffic"},
		{"塔吊晃得厉害", "hazard"},
		{"the water is up to our waist and we can't get out", "hazard"},
		{"她发了告别短信，现在电话打不通", "self_harm"},
		{"a man is sitting on the edge of the roof", "self_harm"},
		{"小区门口经常有电动车逆行，请管管", ""},
		{"路灯杆歪了，请派人看看", ""},
		{"酒驾罚款多少钱", ""},
		{"我想咨询一下家暴的法律援助", ""},
		{"support groups for stroke survivors", ""},
		// Negation does not cross a clause.
		{"不是演习，着火了", "fire"},
		{"not a drill, the building is on fire", "fire"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			m, ok := r.Match(tc.text)
			require.Equal(t, tc.category != "", ok, "%v", m.Rules)
			require.Equal(t, tc.category, m.Category)
		})
	}
}

func TestMatchNamesRulesNotWords(t *testing.T) {
	m, ok := emergency.Default().Match("着火了！有人持刀砍人，还有人昏迷")
	require.True(t, ok)
	require.Equal(t, "fire", m.Category)
	require.Equal(t, []string{"crime.zh.weapon", "crime.zh.words", "fire.zh.words", "medical.zh.words"}, m.Rules)
	for _, n := range m.Rules {
		require.NotContains(t, n, "着火")
	}
}

func TestMatchConcurrent(t *testing.T) {
	r := emergency.Default()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				text := "楼下着火了"
				if (i+j)%2 == 1 {
					text = "street light broken"
				}
				_, ok := r.Match(text)
				if ok != ((i+j)%2 == 0) {
					t.Errorf("%q: %v", text, ok)
				}
			}
		})
	}
	wg.Wait()
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "rules:\n  - name: a\n    category: fire\n    words: [x]\n    colour: red\n", "field colour not found"},
		{"bad category", "rules:\n  - name: a\n    category: flood\n    words: [x]\n", `rule "a": category must be one of`},
		{"twice", "rules:\n  - {name: a, category: fire, words: [x]}\n  - {name: a, category: fire, words: [y]}\n", `rule "a": name used twice`},
		{"both", "rules:\n  - name: a\n    category: fire\n    words: [x]\n    near: {within: 3, groups: [[a], [b]]}\n", "exactly one of words and near"},
		{"one group", "rules:\n  - name: a\n    category: fire\n    near: {within: 3, groups: [[a]]}\n", "needs 2 to 4 groups"},
		{"empty word", "rules:\n  - {name: a, category: fire, words: ['  ']}\n", "empty once normalised"},
		{"clause", "rules:\n  - {name: a, category: fire, words: ['a, b']}\n", "clause punctuation"},
		{"no rules", "negation: []\n", "no rules"},
		{"empty", "", "empty file"},
		{"within", "negation:\n  - {within: -1, cues: [no]}\nrules:\n  - {name: a, category: fire, words: [x]}\n", "within must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := emergency.Parse([]byte(tc.yaml), "ops.yaml")
			require.Error(t, err)
			require.Contains(t, err.Error(), "ops.yaml")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
negation:
  - {within: 2, cues: [不是]}
rules:
  - {name: flood.zh, category: hazard, words: [洪水]}
  - name: gas.en
    category: hazard
    near: {within: 20, groups: [[gas], [smell*]]}
`), 0o600))
	r, err := emergency.Load(path)
	require.NoError(t, err)
	require.Equal(t, []string{"flood.zh", "gas.en"}, r.Names())
	m, ok := r.Match("洪水來了")
	require.True(t, ok)
	require.Equal(t, emergency.Match{Category: "hazard", Rules: []string{"flood.zh"}}, m)
	_, ok = r.Match("不是洪水")
	require.False(t, ok)
	_, ok = r.Match("It smells of GAS here")
	require.True(t, ok)

	_, err = emergency.Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "missing.yaml")
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"楼下着火了", "not a fire", "上次火灾后的补偿", "Ｆｉｒｅ", "gas smell, nobody answers",
		"\xff\xfe", strings.Repeat("着火", 50), "''' fire'", "|||", "煤气味煤气味没人应"} {
		f.Add(s)
	}
	r := emergency.Default()
	f.Fuzz(func(t *testing.T, text string) {
		m1, ok1 := r.Match(text)
		m2, ok2 := r.Match(text)
		require.Equal(t, ok1, ok2)
		require.Equal(t, m1, m2)
		if ok1 {
			require.NotEmpty(t, m1.Category)
			require.NotEmpty(t, m1.Rules)
		}
	})
}
