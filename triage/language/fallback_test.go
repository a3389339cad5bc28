package language

import (
	"bufio"
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestModelShare prints how many Latin-script texts of the labelled set the
// function words settle and how many go to lingua.
func TestModelShare(t *testing.T) {
	f, err := os.Open("../../testdata/triage/language.jsonl")
	require.NoError(t, err)
	defer f.Close()
	latin, model := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct{ Text, Lang string }
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
		switch l.Lang {
		case English, French, German, Spanish:
		default:
			continue
		}
		latin++
		if lang, sure := byWords(l.Text); !sure {
			model++
		} else if lang != l.Lang {
			t.Logf("function words wrong: %s for %s: %s", lang, l.Lang, l.Text)
		}
	}
	t.Logf("Latin-script texts: %d, settled by function words: %d, sent to lingua: %d", latin, latin-model, model)
}

// TestWarmMemory prints what loading lingua's models costs. It means
// something only when run alone (go test -run TestWarmMemory -v), before
// any other test has loaded them.
func TestWarmMemory(t *testing.T) {
	if loaded.Load() {
		t.Skip("models already loaded by another test; run this test alone")
	}
	heap0, rss0 := memory(t)
	start := time.Now()
	Warm()
	took := time.Since(start)
	heap1, rss1 := memory(t)
	t.Logf("Warm: %v, heap in use +%.1f MiB, RSS +%.1f MiB", took.Round(time.Millisecond),
		float64(heap1-heap0)/(1<<20), float64(rss1-rss0)/(1<<20))
}

func memory(t *testing.T) (heap, rss uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m.HeapInuse, 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			rss = kb << 10
		}
	}
	return m.HeapInuse, rss
}
