package configs

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sample returns an env value for a key of type t and the value it must give.
func sample(t reflect.Type) (string, any, bool) {
	switch {
	case t == durationType:
		return "1h1m", 61 * time.Minute, true
	case t == stringsType:
		return "x,y", []string{"x", "y"}, true
	case t == mapType:
		return "k:v", map[string]string{"k": "v"}, true
	}
	switch t.Kind() {
	case reflect.String:
		return "sample", "sample", true
	case reflect.Bool:
		return "true", true, true
	case reflect.Int:
		return "42", 42, true
	case reflect.Int64:
		return "42", int64(42), true
	case reflect.Float64:
		return "4.5", 4.5, true
	}
	return "", nil, false
}

// TestEveryKeyHasEnvOverride sets each key through its environment variable
// and checks that exactly that field changed.
func TestEveryKeyHasEnvOverride(t *testing.T) {
	for _, f := range allFields() {
		t.Run(f.key, func(t *testing.T) {
			s, want, ok := sample(f.typ)
			require.True(t, ok, "unsupported type %s", f.typ)
			c := Default()
			require.NoError(t, applyEnv(c, []string{f.env + "=" + s}))
			require.Equal(t, want, reflect.ValueOf(c).Elem().FieldByIndex(f.index).Interface())

			// Nothing else moved.
			reflect.ValueOf(c).Elem().FieldByIndex(f.index).Set(reflect.ValueOf(Default()).Elem().FieldByIndex(f.index))
			require.Equal(t, Default(), c)
		})
	}
}

func TestSecretTags(t *testing.T) {
	var secrets []string
	for _, f := range allFields() {
		if f.secret {
			secrets = append(secrets, f.key)
		}
	}
	require.ElementsMatch(t, []string{
		"channels.app.keys", "channels.wechat.app_secret", "channels.wechat.token", "channels.wechat.encoding_aes_key",
		"channels.sms.callback_token", "channels.sms.callback_secret",
		"channels.sms.token", "channels.sms.secret", "channels.suishenban.secret", "channels.yiwangtongban.secret",
		"agents", "auth.token_secret", "auth.admin_token", "sign_language.turn_secret", "triage.emergency_secret",
		"store.url",
	}, secrets)
}

func FuzzDecodeYAML(f *testing.F) {
	for _, s := range []string{
		"", "http:\n  addr: ':1'\n", "kafka:\n  brokers: [a:1, b:2]\n", "channels:\n  app:\n    keys: {a: b}\n",
		"a: &x [*x]\n", "- 1\n", "sla: {first_response: 3m}\n", "http: {allowed_origins: a,b}\n", "x: 1\n---\ny: 2\n",
		"channels: {suishenban: {kinds: &k {a: b}}, yiwangtongban: {kinds: *k}}\n", "http:\n  max_body_bytes: 1e9\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Default()
		if err := decodeYAML(c, []byte(s), "fuzz.yaml"); err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		_ = c.Validate() // must not panic
		_ = c.ChannelStatus()
		_ = c.Redacted()
	})
}

func FuzzEnvValue(f *testing.F) {
	for _, s := range []string{"", "90s", "a,b", "k:v,k2:v2", "true", "-1", "1e400", "NaN", ":", ",,:,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, f := range allFields() {
			c := Default()
			if err := applyEnv(c, []string{f.env + "=" + s}); err != nil {
				var ke *KeyError
				require.ErrorAs(t, err, &ke)
				require.Equal(t, f.key, ke.Key)
				continue
			}
			_ = c.Validate()
		}
	})
}
