package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat/web"
	"github.com/hotline12345/gateway/normalize"
)

func get(t *testing.T, e *echo.Echo, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	return w
}

func TestMountServesPages(t *testing.T) {
	e := echo.New()
	web.Mount(e)
	tests := []struct {
		path     string
		status   int
		ctype    string
		location string
		contains string
	}{
		{path: "/console", status: 301, location: "/console/"},
		{path: "/console?lang=en", status: 301, location: "/console/?lang=en"},
		{path: "/widget", status: 301, location: "/widget/"},
		{path: "/console/", status: 200, ctype: "text/html; charset=utf-8", contains: `src="console.js"`},
		{path: "/console/index.html", status: 200, ctype: "text/html; charset=utf-8", contains: `id="login"`},
		{path: "/console/console.js", status: 200, ctype: "text/javascript; charset=utf-8", contains: "/v1/ws/agent"},
		{path: "/console/console.css", status: 200, ctype: "text/css; charset=utf-8"},
		{path: "/console/i18n.json", status: 200, ctype: "application/json; charset=utf-8"},
		{path: "/console/lib.js", status: 200, ctype: "text/javascript; charset=utf-8", contains: "class Socket"},
		{path: "/widget/", status: 200, ctype: "text/html; charset=utf-8", contains: `src="widget.js"`},
		{path: "/widget/widget.js", status: 200, ctype: "text/javascript; charset=utf-8", contains: "/v1/ws/citizen"},
		{path: "/widget/embed.js", status: 200, ctype: "text/javascript; charset=utf-8", contains: "/widget/?embed=1"},
		{path: "/widget/lib.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{path: "/widget/i18n.json", status: 200, ctype: "application/json; charset=utf-8"},
		{path: "/console/nope.js", status: 404},
		{path: "/widget/console.js", status: 404}, // no file of one app under the other
		{path: "/console/../web.go", status: 404},
		{path: "/console/%2e%2e/web.go", status: 404},
		{path: "/widget/static/widget/widget.js", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			w := get(t, e, tc.path)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.location != "" {
				require.Equal(t, tc.location, w.Header().Get("Location"))
			}
			if tc.status != 200 {
				return
			}
			require.Equal(t, tc.ctype, w.Header().Get("Content-Type"))
			require.Equal(t, "no-cache", w.Header().Get("Cache-Control"))
			require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			require.NotEmpty(t, w.Header().Get("ETag"))
			require.Contains(t, w.Body.String(), tc.contains)
		})
	}
}

func TestPageHeaders(t *testing.T) {
	e := echo.New()
	web.Mount(e)
	console := get(t, e, "/console/")
	require.Contains(t, console.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Contains(t, console.Header().Get("Content-Security-Policy"), "connect-src 'self'")
	require.Equal(t, "DENY", console.Header().Get("X-Frame-Options"))
	widget := get(t, e, "/widget/")
	require.Contains(t, widget.Header().Get("Content-Security-Policy"), "connect-src 'self'")
	require.NotContains(t, widget.Header().Get("Content-Security-Policy"), "frame-ancestors", "websites must be able to frame the widget")
	require.Empty(t, widget.Header().Get("X-Frame-Options"))
	require.Empty(t, get(t, e, "/widget/embed.js").Header().Get("Content-Security-Policy"))

	// Unchanged files cost a 304.
	etag := widget.Header().Get("ETag")
	again := get(t, e, "/widget/", "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, again.Code)
	require.Empty(t, again.Body.String())
	require.Equal(t, 200, get(t, e, "/widget/", "If-None-Match", `"other"`).Code)
}

func TestFilesListsBothApps(t *testing.T) {
	files := web.Files()
	for _, f := range []string{"console/index.html", "console/lib.js", "widget/index.html", "widget/embed.js", "widget/lib.js"} {
		require.Contains(t, files, f)
	}
}

var (
	reAttr = regexp.MustCompile(`data-i18n(?:-placeholder|-title|-aria)?="([^"]+)"`)
	reT    = regexp.MustCompile(`\bt\('([a-zA-Z0-9_.]+)'`)
	reVar  = regexp.MustCompile(`\{(\w+)\}`)
)

// TestDictionaries checks that both languages have the same keys with the
// same placeholders, and that every key the pages use exists.
func TestDictionaries(t *testing.T) {
	dynamic := map[string][]string{ // keys built at run time: prefix + a value from the server
		"console": {"state.queued", "state.offered", "state.active", "state.closed", "session.transferred", "session.escalated",
			"sla.clock.first_response", "sla.clock.next_response", "sla.clock.handling",
			"presence.available", "presence.away", "presence.offline"},
		"widget": nil,
	}
	for _, ch := range []string{normalize.ChannelWeb, normalize.ChannelApp, normalize.ChannelWechat, normalize.ChannelSuishenban,
		normalize.ChannelYiwangtongban, normalize.ChannelSignLanguage, normalize.ChannelSMS} {
		dynamic["console"] = append(dynamic["console"], "channel."+ch)
	}
	for _, app := range web.Apps {
		t.Run(app, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("static", app, "i18n.json"))
			require.NoError(t, err)
			var dicts map[string]map[string]string
			require.NoError(t, json.Unmarshal(raw, &dicts))
			require.ElementsMatch(t, []string{"zh-CN", "en"}, keys(dicts))
			zh, en := dicts["zh-CN"], dicts["en"]
			require.Equal(t, keys(zh), keys(en), "both languages need the same keys")
			for k, v := range zh {
				require.NotEmpty(t, v, k)
				require.NotEmpty(t, en[k], k)
				require.Equal(t, vars(v), vars(en[k]), "placeholders of %s", k)
			}
			used := slices.Clone(dynamic[app])
			for _, f := range []string{filepath.Join("static", app, "index.html"), filepath.Join("static", app, app+".js")} {
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				for _, m := range reAttr.FindAllStringSubmatch(string(b), -1) {
					used = append(used, m[1])
				}
				for _, m := range reT.FindAllStringSubmatch(string(b), -1) {
					used = append(used, m[1])
				}
			}
			require.Greater(t, len(used), 20)
			for _, k := range used {
				if strings.HasSuffix(k, ".") { // t('state.' + x): the values are in dynamic
					require.True(t, slices.ContainsFunc(dynamic[app], func(d string) bool { return strings.HasPrefix(d, k) }),
						"dynamic key prefix %q needs its values listed in the test", k)
					continue
				}
				require.Contains(t, zh, k, "key %q is used by the %s page", k, app)
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func vars(s string) []string {
	var out []string
	for _, m := range reVar.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

func TestNoInlineScriptsOrStyles(t *testing.T) {
	// The CSP allows only 'self': inline code would be blocked in the browser.
	for _, app := range web.Apps {
		b, err := os.ReadFile(filepath.Join("static", app, "index.html"))
		require.NoError(t, err)
		s := string(b)
		require.NotRegexp(t, `<script>|<script [^>]*>[^<]`, s)
		require.NotContains(t, s, "<style")
		require.NotContains(t, s, " style=")
		require.NotRegexp(t, ` on[a-z]+=`, s)
		require.False(t, strings.Contains(s, "innerHTML"))
	}
}
