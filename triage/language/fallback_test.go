package language

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestModelShare prints how many Latin-script texts of the labelled set the
// function words settle and how many go to the model (whatlanggo).
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
	t.Logf("Latin-script texts: %d, settled by function words: %d, sent to the model: %d", latin, latin-model, model)
}
