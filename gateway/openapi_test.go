package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// allChannelsConfig enables every channel the configuration knows, so that
// every route the gateway can mount is mounted.
func allChannelsConfig(t *testing.T) *configs.Config {
	cfg := gatewaytest.Config(t)
	ch := &cfg.Channels
	ch.App.Keys = map[string]string{"k1": appSecret}
	ch.Wechat.AppID, ch.Wechat.AppSecret, ch.Wechat.Token = "wx134c8103faa5a59e", "app-secret", "AAAAA"
	ch.Wechat.EncodingAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	ch.SMS.Token, ch.SMS.Secret = "sms-token", "sms-secret"
	ch.Suishenban.Secret, ch.Suishenban.CallbackURL = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "https://partner.example/cb"
	ch.Yiwangtongban.Secret, ch.Yiwangtongban.CallbackURL = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "https://partner2.example/cb"
	cfg.SignLanguage.TURNURLs = []string{"turn:turn.example:3478"}
	cfg.SignLanguage.TURNSecret = "turn-secret"
	cfg.Agents = "a1:pw:general:5"
	cfg.Auth.AdminToken = "admin-token-0123456789"
	return cfg
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPIListsExactlyTheMountedRoutes keeps gateway/openapi.json honest:
// the set of (method, path) it documents must equal the routes a gateway with
// every channel enabled mounts. A route added without documenting it (or a
// documented route removed) fails here: add it to openapi.json, with its
// request and response bodies, in the same change. That is intended.
func TestOpenAPIListsExactlyTheMountedRoutes(t *testing.T) {
	g := gatewaytest.New(t, allChannelsConfig(t), gateway.Options{})

	routes := g.Echo().Routes()
	// Static file trees (echo's Static mounts P, P/ and P/*) are pages and
	// assets, not REST endpoints.
	static := map[string]bool{}
	for _, r := range routes {
		if p, ok := strings.CutSuffix(r.Path, "/*"); ok && r.Method == http.MethodGet {
			static[p], static[p+"/"], static[p+"/*"] = true, true, true
		}
	}
	mounted := map[string]bool{}
	for _, r := range routes {
		if r.Method == http.MethodHead || strings.HasPrefix(r.Method, "echo_") || static[r.Path] { // echo's internal routes
			continue
		}
		mounted[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}

	raw, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	var undocumented, stale []string
	for r := range mounted {
		if !documented[r] {
			undocumented = append(undocumented, r)
		}
	}
	for r := range documented {
		if !mounted[r] {
			stale = append(stale, r)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(stale)
	require.Empty(t, undocumented, "routes mounted but missing from gateway/openapi.json: document them (method, path, bodies, errors)")
	require.Empty(t, stale, "routes in gateway/openapi.json that no gateway mounts: remove them")

	// The document is served as is.
	w := call(g, http.MethodGet, "/v1/openapi.json", nil, nil, "")
	require.Equal(t, http.StatusOK, w.Code)
	require.JSONEq(t, string(raw), w.Body.String())
}

// Every operation answers something, and every $ref points into the document.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			o := op.(map[string]any)
			require.NotEmpty(t, o["responses"], "%s %s has no responses", method, path)
			require.NotEmpty(t, o["operationId"], "%s %s has no operationId", method, path)
			for _, p := range echoParam.FindAllStringSubmatch(strings.NewReplacer("{", ":", "}", "").Replace(path), -1) {
				require.Contains(t, string(mustJSON(t, o["parameters"])), `"name":"`+p[1]+`"`, "%s %s: path parameter %s undocumented", method, path, p[1])
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				require.True(t, resolves(doc, ref), "dangling $ref %s", ref)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}

func resolves(doc map[string]any, ref string) bool {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var cur any = doc
	for _, part := range strings.Split(p, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
