package configs_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/hotline12345/gateway/configs"
)

const examplePath = "gateway.example.yaml"

// yamlLeafKeys returns the dotted paths of the leaves set in a YAML document,
// treating a mapping under a key in mapKeys as one leaf.
func yamlLeafKeys(n *yaml.Node, prefix string, mapKeys map[string]bool, out *[]string) {
	if n.Kind == yaml.DocumentNode {
		yamlLeafKeys(n.Content[0], prefix, mapKeys, out)
		return
	}
	if n.Kind != yaml.MappingNode || mapKeys[prefix] {
		*out = append(*out, prefix)
		return
	}
	for i := 0; i < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if prefix != "" {
			key = prefix + "." + key
		}
		yamlLeafKeys(n.Content[i+1], key, mapKeys, out)
	}
}

func TestExampleFile(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	require.NoError(t, err)

	t.Run("loads and documents the defaults", func(t *testing.T) {
		c, err := configs.Load(examplePath, nil)
		require.NoError(t, err)
		require.Equal(t, configs.Default(), c, "every value in the example is the default")
	})

	t.Run("sets every key exactly once", func(t *testing.T) {
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal(data, &doc))
		mapKeys := map[string]bool{}
		for _, k := range configs.Keys() {
			mapKeys[k] = true // a leaf key whose value is a mapping (maps) stays one key
		}
		var got []string
		yamlLeafKeys(&doc, "", mapKeys, &got)
		require.ElementsMatch(t, configs.Keys(), got)
	})

	t.Run("documents every env var", func(t *testing.T) {
		text := string(data)
		for _, k := range configs.Keys() {
			env := configs.EnvName(k)
			require.True(t, strings.Contains(text, "Env: "+env+"\n") || strings.Contains(text, "Env: "+env+" "),
				"%s: no comment naming %s", k, env)
		}
	})

	t.Run("every key has a comment", func(t *testing.T) {
		var doc yaml.Node
		require.NoError(t, yaml.Unmarshal(data, &doc))
		var walk func(n *yaml.Node, prefix string)
		walk = func(n *yaml.Node, prefix string) {
			for i := 0; n.Kind == yaml.MappingNode && i < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				key := strings.TrimPrefix(prefix+"."+k.Value, ".")
				if slices.Contains(configs.Keys(), key) {
					require.NotEmpty(t, k.HeadComment, "%s has no comment", key)
					require.Contains(t, k.HeadComment, "Default", "%s: comment gives no default", key)
					continue
				}
				walk(v, key)
			}
		}
		walk(doc.Content[0], "")
	})
}

func TestRedacted(t *testing.T) {
	c, err := configs.Load("", []string{
		"GATEWAY_CHANNELS_APP_KEYS=ios:appsecret1",
		"GATEWAY_CHANNELS_WECHAT_TOKEN=wechattoken",
		"GATEWAY_CHANNELS_WECHAT_APP_ID=wx134c8103faa5a59e",
		"GATEWAY_AUTH_TOKEN_SECRET=0123456789abcdef-token",
		"GATEWAY_AGENTS=li:agentpw:general",
		"GATEWAY_CHANNELS_SUISHENBAN_SECRET=" + vectorWhsec,
		"GATEWAY_SIGN_LANGUAGE_TURN_URLS=turn:t:3478",
		"GATEWAY_SIGN_LANGUAGE_TURN_SECRET=foobar",
	})
	require.NoError(t, err)
	r := c.Redacted()

	require.ElementsMatch(t, configs.Keys(), mapKeys(r))
	require.Equal(t, map[string]string{"ios": configs.RedactedMask}, r["channels.app.keys"])
	require.Equal(t, configs.RedactedMask, r["channels.wechat.token"])
	require.Equal(t, "wx134c8103faa5a59e", r["channels.wechat.app_id"], "not a secret")
	require.Equal(t, "", r["channels.wechat.app_secret"], "unset secrets show as empty")
	require.Equal(t, "3m0s", r["sla.first_response"])
	require.Equal(t, ":8080", r["http.addr"])
	require.Equal(t, []string{"turn:t:3478"}, r["sign_language.turn_urls"])

	out, err := json.Marshal(r)
	require.NoError(t, err)
	for _, secret := range []string{"appsecret1", "wechattoken", "0123456789abcdef", "agentpw", "MfKQ9r8G", "foobar"} {
		require.NotContains(t, string(out), secret)
	}
	// The map does not alias the config.
	r["channels.app.keys"].(map[string]string)["ios"] = "changed"
	require.Equal(t, "appsecret1", c.Channels.App.Keys["ios"])
}

func mapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
