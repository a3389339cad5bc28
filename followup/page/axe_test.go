package page_test

// axe-core (scripts/test.sh installs it, pinned, outside the repository)
// checks every state of the pages against WCAG 2 A and AA.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/followup"
)

// axeSource reads axe.min.js from $AXE_CORE_JS, else from the cache
// scripts/test.sh installs into: skipped locally without it, fatal on CI.
var axeSource = sync.OnceValues(func() (string, error) {
	p := os.Getenv("AXE_CORE_JS")
	if p == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, ".cache", "gateway-test", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(p)
	return string(b), err
})

func requireAxe(t *testing.T) {
	t.Helper()
	if _, err := axeSource(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("axe-core is required on CI (scripts/test.sh installs it): %v", err)
		}
		t.Skipf("axe-core not installed (run scripts/test.sh or npm install axe-core): %v", err)
	}
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe runs axe-core on the tab's document and requires no violation. In a
// tab without JavaScript (script false) it turns scripts on for its run:
// axe's promises need the page's event loop, and the document is loaded.
func axe(t *testing.T, ctx context.Context, script bool, what string) {
	t.Helper()
	src, _ := axeSource()
	if !script {
		require.NoError(t, chromedp.Do(ctx, scripts(true)))
		defer func() { require.NoError(t, chromedp.Do(ctx, scripts(false))) }()
	}
	actx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// Injected through the DevTools protocol: the page's CSP does not apply.
	require.NoError(t, chromedp.Do(actx, chromedp.Evaluate[chromedp.Void](src)))
	v, err := chromedp.Run(actx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}}).then(r => r.violations)`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err, what)
	if len(v) > 0 {
		b, _ := json.MarshalIndent(v, "", "  ")
		t.Fatalf("%s: %d axe violations:\n%s", what, len(v), b)
	}
	// Something was checked: the page has its language and its heading.
	require.True(t, evalJS[bool](t, ctx, `document.documentElement.lang !== '' && document.querySelector('h1') !== null`))
}

func TestAccessibility(t *testing.T) {
	requireAxe(t)
	st := newSite(t)

	for _, lang := range []string{"zh", "en"} {
		t.Run("survey-"+lang, func(t *testing.T) {
			ctx := st.tab(t, true)
			code := st.open(followup.StateSent)
			require.EqualValues(t, 200, navigate(t, ctx, st.base+"/s/"+code+"?lang="+lang))
			axe(t, ctx, true, "the form")

			// The script shows the errors of an empty answer next to the fields.
			require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("button[type=submit]"))))
			waitJS(t, ctx, "errors", `document.getElementById('resolved-error').textContent !== ''`)
			axe(t, ctx, true, "the form with errors shown by the script")

			choose(t, ctx, "resolved", "yes")
			choose(t, ctx, "rating", "satisfied")
			require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("button[type=submit]"))))
			waitJS(t, ctx, "thanks in place", `!document.getElementById('thanks').hidden`)
			axe(t, ctx, true, "the thanks in place")
		})

		t.Run("survey-nojs-"+lang, func(t *testing.T) {
			ctx := st.tab(t, false)
			code := st.open(followup.StateSent)
			require.EqualValues(t, 200, navigate(t, ctx, st.base+"/s/"+code+"?lang="+lang))
			submit := chromedp.Click(chromedp.CSS("button[type=submit]"))
			require.EqualValues(t, 400, follow(t, ctx, submit))
			axe(t, ctx, false, "the form the server gives back with errors")
			choose(t, ctx, "resolved", "no")
			choose(t, ctx, "rating", "dissatisfied")
			require.EqualValues(t, 200, follow(t, ctx, submit))
			axe(t, ctx, false, "the thank-you page")
		})
	}

	pages := []struct {
		name, path string
		status     int64
	}{
		{"not-found-zh", "/s/" + codeUnknown, 404},
		{"not-found-en", "/s/nonsense?lang=en", 404},
		{"answered-zh", "/s/" + codeAnswered, 409},
		{"answered-en", "/s/" + codeAnswered + "?lang=en", 409},
		{"expired-zh", "/s/" + codeExpired, 410},
		{"expired-en", "/s/" + codeExpired + "?lang=en", 410},
		{"failed-en", "/s/" + codeBroken + "?lang=en", 500},
	}
	ctx := st.tab(t, true)
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			require.Equal(t, p.status, navigate(t, ctx, st.base+p.path))
			axe(t, ctx, true, p.name)
		})
	}
}
