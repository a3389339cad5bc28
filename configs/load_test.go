package configs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
)

// writeFile writes a YAML file into a temp dir and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gateway.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestLoadDefaults(t *testing.T) {
	c, err := configs.Load("", nil)
	require.NoError(t, err)
	require.Equal(t, configs.Default(), c)

	// The contract's start-up defaults (§1, §6).
	require.Equal(t, ":8080", c.HTTP.Addr)
	require.Empty(t, c.HTTP.AllowedOrigins)
	require.Equal(t, int64(1<<20), c.HTTP.MaxBodyBytes)
	require.Equal(t, 8*time.Second, c.HTTP.ShutdownTimeout)
	require.Equal(t, "./data", c.DataDir)
	require.Empty(t, c.Kafka.Brokers)
	require.Equal(t, "127.0.0.1:9092", c.Kafka.Embedded.Addr)
	require.Equal(t, configs.Topics{Envelopes: "intake.envelopes", Events: "intake.events",
		Tickets: "ticket.events", DeadLetter: "ticket.events.dlq"}, c.Kafka.Topics)
	require.Equal(t, "intake-gateway", c.Kafka.ConsumerGroup)
	require.True(t, c.Channels.Web.Enabled)
	require.Equal(t, 300*time.Second, c.Channels.App.TimestampSkew)
	require.Equal(t, "https://api.weixin.qq.com", c.Channels.Wechat.APIBase)
	require.Equal(t, "generic", c.Channels.SMS.Provider)
	require.Equal(t, 3*time.Minute, c.SLA.FirstResponse)
	require.Equal(t, 3*time.Minute, c.SLA.NextResponse)
	require.Equal(t, 24*time.Hour, c.SLA.Handling)
	require.Equal(t, 60*time.Second, c.SLA.WarningLead.Response)
	require.Equal(t, 2*time.Hour, c.SLA.WarningLead.Handling)
	require.Equal(t, "Mon-Fri 09:00-17:00 Asia/Shanghai", c.SignLanguage.Calendar)
	require.Equal(t, 64<<10, int(c.LiveChat.MaxFrameBytes))
	require.Equal(t, 72*time.Hour, c.Outbox.Retention)
	require.Equal(t, "info", c.Log.Level)
	require.Empty(t, c.Auth.TokenSecret)
}

func TestLoadYAML(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *configs.Config)
	}{
		{"empty file", "", func(t *testing.T, c *configs.Config) { require.Equal(t, configs.Default(), c) }},
		{"comments only", "# nothing\n", func(t *testing.T, c *configs.Config) { require.Equal(t, configs.Default(), c) }},
		{"null section keeps defaults", "http:\nsla:\n  handling:\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, configs.Default(), c)
		}},
		{"scalars", "http:\n  addr: 127.0.0.1:9000\n  trust_proxy: true\n  max_body_bytes: 2048\ndata_dir: /var/lib/gw\n" +
			"rate_limit:\n  per_ip: 2.5\n  per_ip_burst: 7\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, "127.0.0.1:9000", c.HTTP.Addr)
			require.True(t, c.HTTP.TrustProxy)
			require.Equal(t, int64(2048), c.HTTP.MaxBodyBytes)
			require.Equal(t, "/var/lib/gw", c.DataDir)
			require.InDelta(t, 2.5, c.RateLimit.PerIP, 0)
			require.Equal(t, 7, c.RateLimit.PerIPBurst)
			require.Equal(t, 100, c.RateLimit.PerAppKeyBurst, "untouched keys keep defaults")
		}},
		{"durations", "sla:\n  first_response: 90s\n  warning_lead:\n    response: 30s\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, 90*time.Second, c.SLA.FirstResponse)
			require.Equal(t, 30*time.Second, c.SLA.WarningLead.Response)
		}},
		{"lists", "kafka:\n  brokers: [k1:9092, ' k2:9092 ']\nhttp:\n  allowed_origins:\n    - https://a.example\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, []string{"k1:9092", "k2:9092"}, c.Kafka.Brokers)
			require.Equal(t, []string{"https://a.example"}, c.HTTP.AllowedOrigins)
		}},
		{"list as comma string", "kafka:\n  brokers: k1:9092,k2:9092\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, []string{"k1:9092", "k2:9092"}, c.Kafka.Brokers)
		}},
		{"maps", "channels:\n  app:\n    keys: {ios: s1, android: 's2:x'}\n  suishenban:\n    kinds:\n      \"01\": complaint\n",
			func(t *testing.T, c *configs.Config) {
				require.Equal(t, map[string]string{"ios": "s1", "android": "s2:x"}, c.Channels.App.Keys)
				require.Equal(t, map[string]string{"01": "complaint"}, c.Channels.Suishenban.Kinds)
			}},
		{"map as string", "channels:\n  app:\n    keys: ios:s1,android:s2\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, map[string]string{"ios": "s1", "android": "s2"}, c.Channels.App.Keys)
		}},
		{"anchors", "channels:\n  suishenban:\n    kinds: &k {a: help}\n  yiwangtongban:\n    kinds: *k\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, map[string]string{"a": "help"}, c.Channels.Yiwangtongban.Kinds)
		}},
		{"numeric string kept verbatim", "channels:\n  wechat:\n    token: 0123\n", func(t *testing.T, c *configs.Config) {
			require.Equal(t, "0123", c.Channels.Wechat.Token)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configs.Load(writeFile(t, tt.yaml), nil)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestLoadYAMLErrors(t *testing.T) {
	tests := []struct {
		name, yaml, key, want string
	}{
		{"unknown top key", "htp:\n  addr: x\n", "htp", "unknown key"},
		{"unknown nested key", "http:\n  adress: ':1'\n", "http.adress", "gateway.yaml line 2): unknown key"},
		{"unknown deep key", "sla:\n  warning_lead:\n    respons: 1s\n", "sla.warning_lead.respons", "unknown key"},
		{"bad duration", "sla:\n  first_response: 3\n", "sla.first_response", "not a duration"},
		{"bad int", "livechat:\n  send_queue: many\n", "livechat.send_queue", "not an integer"},
		{"int overflow", "http:\n  max_body_bytes: 99999999999999999999\n", "http.max_body_bytes", "not an integer"},
		{"bad float", "rate_limit:\n  per_ip: .nan\n", "rate_limit.per_ip", "not a number"},
		{"bad bool", "http:\n  trust_proxy: yes please\n", "http.trust_proxy", "not a bool"},
		{"struct given scalar", "http: 8080\n", "http", "want a mapping"},
		{"list of maps", "kafka:\n  brokers: [{a: b}]\n", "kafka.brokers", "want a list of strings"},
		{"scalar given list", "data_dir: [a]\n", "data_dir", "want a single value"},
		{"bad map entry", "channels:\n  app:\n    keys: nocolon\n", "channels.app.keys", "want k1:v1,k2:v2"},
		{"map of lists", "channels:\n  app:\n    keys: {a: [1]}\n", "channels.app.keys", "want a mapping of strings"},
		{"duplicate key", "data_dir: a\ndata_dir: b\n", "data_dir", "duplicate key"},
		{"validation after file", "sla:\n  handling: -1h\n", "sla.handling", "must be > 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := configs.Load(writeFile(t, tt.yaml), nil)
			require.Error(t, err)
			var ke *configs.KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tt.key, ke.Key)
			require.Contains(t, err.Error(), "configs: "+tt.key)
			require.Contains(t, err.Error(), tt.want)
		})
	}

	t.Run("unknown key is ErrUnknownKey", func(t *testing.T) {
		_, err := configs.Load(writeFile(t, "nope: 1\n"), nil)
		require.ErrorIs(t, err, configs.ErrUnknownKey)
	})
	for name, doc := range map[string]string{
		"not a mapping":  "- a\n- b\n",
		"two documents":  "data_dir: a\n---\ndata_dir: b\n",
		"syntax error":   "http:\n  addr: [\n",
		"unknown anchor": "data_dir: *nope\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := configs.Load(writeFile(t, doc), nil)
			require.ErrorContains(t, err, "configs: ")
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := configs.Load(filepath.Join(t.TempDir(), "absent.yaml"), nil)
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *configs.Config)
	}{
		{"string", []string{"GATEWAY_HTTP_ADDR=:9999"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, ":9999", c.HTTP.Addr)
		}},
		{"nested string", []string{"GATEWAY_KAFKA_EMBEDDED_ADDR=127.0.0.1:19092"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, "127.0.0.1:19092", c.Kafka.Embedded.Addr)
		}},
		{"string with = and spaces", []string{"GATEWAY_SIGN_LANGUAGE_CALENDAR= Mon-Sat 08:30-18:00 Asia/Urumqi"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, " Mon-Sat 08:30-18:00 Asia/Urumqi", c.SignLanguage.Calendar)
		}},
		{"int", []string{"GATEWAY_LIVECHAT_SEND_QUEUE=16"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, 16, c.LiveChat.SendQueue)
		}},
		{"int64", []string{"GATEWAY_HTTP_MAX_BODY_BYTES=4096"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, int64(4096), c.HTTP.MaxBodyBytes)
		}},
		{"float64", []string{"GATEWAY_RATE_LIMIT_PER_APP_KEY=0.5"}, func(t *testing.T, c *configs.Config) {
			require.InDelta(t, 0.5, c.RateLimit.PerAppKey, 0)
		}},
		{"bool", []string{"GATEWAY_CHANNELS_WEB_ENABLED=false", "GATEWAY_HTTP_TRUST_PROXY=1"}, func(t *testing.T, c *configs.Config) {
			require.False(t, c.Channels.Web.Enabled)
			require.True(t, c.HTTP.TrustProxy)
		}},
		{"duration", []string{"GATEWAY_SLA_WARNING_LEAD_RESPONSE=90s", "GATEWAY_SLA_FIRST_RESPONSE=5m"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, 90*time.Second, c.SLA.WarningLead.Response)
			require.Equal(t, 5*time.Minute, c.SLA.FirstResponse)
		}},
		{"list", []string{"GATEWAY_KAFKA_BROKERS=a:9092, b:9092,,"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, []string{"a:9092", "b:9092"}, c.Kafka.Brokers)
		}},
		{"map", []string{"GATEWAY_CHANNELS_APP_KEYS=k1:v1,k2:v:2"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, map[string]string{"k1": "v1", "k2": "v:2"}, c.Channels.App.Keys)
		}},
		{"secret with AES key", []string{"GATEWAY_CHANNELS_WECHAT_ENCODING_AES_KEY=" + strings.Repeat("A", 43)}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, strings.Repeat("A", 43), c.Channels.Wechat.EncodingAESKey)
		}},
		{"last duplicate wins", []string{"GATEWAY_DATA_DIR=/a", "GATEWAY_DATA_DIR=/b"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, "/b", c.DataDir)
		}},
		{"empty clears a list", []string{"GATEWAY_KAFKA_BROKERS="}, func(t *testing.T, c *configs.Config) {
			require.Nil(t, c.Kafka.Brokers)
		}},
		{"unrelated and unknown vars ignored", []string{"PATH=/bin", "GATEWAY_NOPE=1", "GATEWAY", "=x"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, configs.Default(), c)
		}},
		{"lower case is not an override", []string{"gateway_data_dir=/x"}, func(t *testing.T, c *configs.Config) {
			require.Equal(t, "./data", c.DataDir)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configs.Load("", tt.env)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	p := writeFile(t, "data_dir: /from/file\nhttp:\n  addr: ':7000'\n")
	c, err := configs.Load(p, []string{"GATEWAY_DATA_DIR=/from/env"})
	require.NoError(t, err)
	require.Equal(t, "/from/env", c.DataDir)
	require.Equal(t, ":7000", c.HTTP.Addr)
}

func TestEnvErrors(t *testing.T) {
	tests := []struct{ env, key, want string }{
		{"GATEWAY_SLA_FIRST_RESPONSE=90", "sla.first_response", "not a duration"},
		{"GATEWAY_SLA_FIRST_RESPONSE=", "sla.first_response", "not a duration"},
		{"GATEWAY_LIVECHAT_SEND_QUEUE=1e3", "livechat.send_queue", "not an integer"},
		{"GATEWAY_RATE_LIMIT_PER_IP=Inf", "rate_limit.per_ip", "not a number"},
		{"GATEWAY_CHANNELS_WEB_ENABLED=yes", "channels.web.enabled", "not a bool"},
		{"GATEWAY_CHANNELS_APP_KEYS=k1:v1,secretwithoutkey", "channels.app.keys", "entry 2: want k1:v1,k2:v2"},
		{"GATEWAY_CHANNELS_APP_KEYS=:v", "channels.app.keys", "entry 1"},
		{"GATEWAY_CHANNELS_APP_KEYS=a:1,a:2", "channels.app.keys", "duplicate map key"},
		{"GATEWAY_CHANNELS_SMS_PROVIDER=twilio", "channels.sms.provider", "want generic, aliyun or tencent"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, err := configs.Load("", []string{tt.env})
			var ke *configs.KeyError
			require.ErrorAs(t, err, &ke)
			require.Equal(t, tt.key, ke.Key)
			require.Contains(t, err.Error(), tt.want)
			if ke.Source != "" {
				name, _, _ := strings.Cut(tt.env, "=")
				require.Equal(t, "env "+name, ke.Source)
				require.Contains(t, err.Error(), name)
			}
		})
	}
	t.Run("secret value not echoed", func(t *testing.T) {
		_, err := configs.Load("", []string{"GATEWAY_CHANNELS_APP_KEYS=topsecretvalue"})
		require.Error(t, err)
		require.NotContains(t, err.Error(), "topsecretvalue")
	})
}

func TestEnvNameAndKeys(t *testing.T) {
	for key, env := range map[string]string{
		"channels.wechat.encoding_aes_key": "GATEWAY_CHANNELS_WECHAT_ENCODING_AES_KEY",
		"kafka.embedded.addr":              "GATEWAY_KAFKA_EMBEDDED_ADDR",
		"sla.warning_lead.response":        "GATEWAY_SLA_WARNING_LEAD_RESPONSE",
		"channels.wechat.token":            "GATEWAY_CHANNELS_WECHAT_TOKEN",
		"data_dir":                         "GATEWAY_DATA_DIR",
	} {
		require.Equal(t, env, configs.EnvName(key))
	}

	keys := configs.Keys()
	require.Contains(t, keys, "channels.suishenban.callback_url")
	require.Contains(t, keys, "log.level")
	seenKey, seenEnv := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		require.False(t, seenKey[k], "duplicate key %s", k)
		require.False(t, seenEnv[configs.EnvName(k)], "two keys share env %s", configs.EnvName(k))
		seenKey[k], seenEnv[configs.EnvName(k)] = true, true
	}
	keys[0] = "mutated"
	require.NotEqual(t, "mutated", configs.Keys()[0], "Keys returns a copy")
}

func TestUnknownEnv(t *testing.T) {
	got := configs.UnknownEnv([]string{"GATEWAY_HTTP_ADRR=1", "GATEWAY_HTTP_ADDR=:1", "HOME=/", "GATEWAY_HTTP_ADRR=2", "GATEWAY_X"})
	require.Equal(t, []string{"GATEWAY_HTTP_ADRR", "GATEWAY_X"}, got)
	require.Empty(t, configs.UnknownEnv(nil))
}

func TestKeyErrorFormat(t *testing.T) {
	err := &configs.KeyError{Key: "sla.first_response", Err: errors.New("must be > 0")}
	require.EqualError(t, err, "configs: sla.first_response: must be > 0")
	err.Source = "env GATEWAY_SLA_FIRST_RESPONSE"
	require.EqualError(t, err, "configs: sla.first_response (env GATEWAY_SLA_FIRST_RESPONSE): must be > 0")
}
