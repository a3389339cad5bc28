package configs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
)

// Published Standard Webhooks and WeChat vectors (shared/testdata/vectors.json).
const (
	vectorWhsec  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *configs.Config)
		want   string // the whole error, or a prefix with "…"
	}{
		{"duration zero", func(c *configs.Config) { c.SLA.FirstResponse = 0 }, "configs: sla.first_response: must be > 0"},
		{"negative int", func(c *configs.Config) { c.LiveChat.SendQueue = -1 }, "configs: livechat.send_queue: must be > 0"},
		{"float zero", func(c *configs.Config) { c.RateLimit.PerIP = 0 }, "configs: rate_limit.per_ip: must be > 0"},
		{"negative websocket cap", func(c *configs.Config) { c.LiveChat.MaxConnectionsPerIP = -1 },
			"configs: livechat.max_connections_per_ip: must be ≥ 0 (0: no limit)"},
		{"message rate without burst", func(c *configs.Config) { c.LiveChat.MessageBurst = 0 },
			"configs: livechat.message_burst: must be > 0 when livechat.message_rate is set"},
		{"abuse without window", func(c *configs.Config) { c.LiveChat.AbuseWindow = 0 }, "configs: livechat.abuse_window: must be > 0"},
		{"http addr", func(c *configs.Config) { c.HTTP.Addr = "8080" }, `configs: http.addr: "8080": want host:port or :port`},
		{"http port range", func(c *configs.Config) { c.HTTP.Addr = ":70000" }, `configs: http.addr: ":70000": want host:port or :port`},
		{"embedded addr", func(c *configs.Config) { c.Kafka.Embedded.Addr = "localhost" }, `configs: kafka.embedded.addr: "localhost": want host:port or :port`},
		{"advertise needs a host", func(c *configs.Config) { c.Kafka.Embedded.Advertise = ":9092" },
			"configs: kafka.embedded.advertise: must be host:port that clients can dial, e.g. gateway.internal:9092"},
		{"broker needs host", func(c *configs.Config) { c.Kafka.Brokers = []string{":9092"} }, `configs: kafka.brokers: ":9092": want host:port`},
		{"broker port 0", func(c *configs.Config) { c.Kafka.Brokers = []string{"k:0"} }, `configs: kafka.brokers: "k:0": want host:port`},
		{"empty topic", func(c *configs.Config) { c.Kafka.Topics.Events = "" }, "configs: kafka.topics.events: must not be empty"},
		{"same topic", func(c *configs.Config) { c.Kafka.Topics.DeadLetter = "ticket.events" },
			`configs: kafka.topics.dead_letter: same topic "ticket.events" as kafka.topics.tickets`},
		{"empty data dir", func(c *configs.Config) { c.DataDir = " " }, "configs: data_dir: must not be empty"},
		{"origin with path", func(c *configs.Config) { c.HTTP.AllowedOrigins = []string{"https://a.example/app"} },
			`configs: http.allowed_origins: "https://a.example/app": want an origin such as https://example.gov.cn`},
		{"origin wildcard", func(c *configs.Config) { c.HTTP.AllowedOrigins = []string{"*"} }, `configs: http.allowed_origins: "*"…`},
		{"provider", func(c *configs.Config) { c.Channels.SMS.Provider = "Aliyun" }, `configs: channels.sms.provider: "Aliyun": want generic, aliyun or tencent`},
		{"aes key length", func(c *configs.Config) { c.Channels.Wechat.EncodingAESKey = vectorAESKey[:42] },
			"configs: channels.wechat.encoding_aes_key: must be the 43-character key from the WeChat console"},
		{"aes key alphabet", func(c *configs.Config) { c.Channels.Wechat.EncodingAESKey = strings.Repeat("!", 43) },
			"configs: channels.wechat.encoding_aes_key: …"},
		{"wechat api base", func(c *configs.Config) { c.Channels.Wechat.APIBase = "" }, "configs: channels.wechat.api_base: must not be empty"},
		{"partner secret prefix", func(c *configs.Config) { c.Channels.Suishenban.Secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
			`configs: channels.suishenban.secret: must be "whsec_" followed by base64 (Standard Webhooks), several separated by spaces for rotation`},
		{"partner secret base64", func(c *configs.Config) { c.Channels.Yiwangtongban.Secret = "whsec_!!!" }, "configs: channels.yiwangtongban.secret: …"},
		{"partner secret empty body", func(c *configs.Config) { c.Channels.Yiwangtongban.Secret = "whsec_" }, "configs: channels.yiwangtongban.secret: …"},
		{"callback relative", func(c *configs.Config) { c.Channels.Suishenban.CallbackURL = "/hook" },
			`configs: channels.suishenban.callback_url: "/hook": want an absolute http:// or https:// URL`},
		{"callback scheme", func(c *configs.Config) { c.Channels.Yiwangtongban.CallbackURL = "ftp://x/y" }, "configs: channels.yiwangtongban.callback_url: …"},
		{"captcha url", func(c *configs.Config) { c.Channels.Web.CaptchaURL = "captcha.local" }, "configs: channels.web.captcha_url: …"},
		{"sms api base", func(c *configs.Config) { c.Channels.SMS.APIBase = "https://" }, "configs: channels.sms.api_base: …"},
		{"sms variable cap too small", func(c *configs.Config) { c.Channels.SMS.MaxVariableChars = 10 },
			"configs: channels.sms.max_variable_chars: 10: want 0 (no cap) or 20…500"},
		{"sms template text too long", func(c *configs.Config) { c.Channels.SMS.TemplateFixedChars = 480 },
			"configs: channels.sms.template_fixed_chars: 480: want 0…450"},
		{"partner kind", func(c *configs.Config) { c.Channels.Suishenban.Kinds = map[string]string{"01": "praise"} },
			`configs: channels.suishenban.kinds: category "01": kind "praise": want one of …`},
		{"partner mapping", func(c *configs.Config) { c.Channels.Suishenban.Mapping = map[string]string{"content.text": ""} },
			`configs: channels.suishenban.mapping: field "content.text" has an empty JSON path`},
		{"app empty secret", func(c *configs.Config) { c.Channels.App.Keys = map[string]string{"ios": ""} },
			`configs: channels.app.keys: app key "ios" has an empty secret`},
		{"allow hosts url", func(c *configs.Config) { c.Webhooks.AllowHosts = []string{"http://127.0.0.1"} }, "configs: webhooks.allow_hosts: …"},
		{"agents", func(c *configs.Config) { c.Agents = "li" }, "configs: agents: entry 1: want id:password:skill|skill:max_concurrent:supervisor"},
		{"initial presence", func(c *configs.Config) { c.AgentsInitialPresence = "busy" }, "configs: agents.initial_presence: want available, away or offline"},
		{"language wait", func(c *configs.Config) { c.Routing.LanguageWait = -time.Second }, "configs: routing.language_wait: must not be negative"},
		{"short token secret", func(c *configs.Config) { c.Auth.TokenSecret = "short" }, "configs: auth.token_secret: must be at least 16 characters when set"},
		{"short admin token", func(c *configs.Config) { c.Auth.AdminToken = "short" }, "configs: auth.admin_token: …"},
		{"login workers", func(c *configs.Config) { c.Auth.Login.Workers = 0 }, "configs: auth.login.workers: must be > 0"},
		{"login queue", func(c *configs.Config) { c.Auth.Login.Queue = -1 }, "configs: auth.login.queue: must be >= 0"},
		{"login backoff beyond lockout", func(c *configs.Config) { c.Auth.Login.Backoff = time.Hour },
			"configs: auth.login.backoff: must be shorter than auth.login.lockout"},
		{"warning lead too long", func(c *configs.Config) { c.SLA.WarningLead.Response = 3 * time.Minute },
			"configs: sla.warning_lead.response: must be shorter than sla.first_response and sla.next_response"},
		{"handling lead too long", func(c *configs.Config) { c.SLA.WarningLead.Handling = 25 * time.Hour },
			"configs: sla.warning_lead.handling: must be shorter than sla.handling"},
		{"calendar shape", func(c *configs.Config) { c.SignLanguage.Calendar = "weekdays 9-5" },
			`configs: sign_language.calendar: want "Days HH:MM-HH:MM Zone", e.g. "Mon-Fri 09:00-17:00 Asia/Shanghai"`},
		{"calendar zone", func(c *configs.Config) { c.SignLanguage.Calendar = "Mon-Fri 09:00-17:00 Mars/Olympus" },
			`configs: sign_language.calendar: zone "Mars/Olympus": …`},
		{"holiday date", func(c *configs.Config) { c.SignLanguage.Holidays = []string{"2025-02-30"} },
			`configs: sign_language.holidays: "2025-02-30": want YYYY-MM-DD`},
		{"workday date", func(c *configs.Config) { c.SignLanguage.Workdays = []string{"28/09/2025"} }, "configs: sign_language.workdays: …"},
		{"workday and holiday", func(c *configs.Config) {
			c.SignLanguage.Holidays = []string{"2025-10-01"}
			c.SignLanguage.Workdays = []string{"2025-10-01"}
		}, "configs: sign_language.workdays: 2025-10-01 is also in sign_language.holidays"},
		{"stun url", func(c *configs.Config) { c.SignLanguage.STUNURLs = []string{"stun.l.google.com:19302"} }, "configs: sign_language.stun_urls: …"},
		{"turn url", func(c *configs.Config) {
			c.SignLanguage.TURNURLs = []string{"http://turn"}
			c.SignLanguage.TURNSecret = "foobar"
		}, "configs: sign_language.turn_urls: …"},
		{"turn secret", func(c *configs.Config) { c.SignLanguage.TURNURLs = []string{"turn:turn.example:3478"} },
			"configs: sign_language.turn_secret: required when sign_language.turn_urls is set"},
		{"pong before ping", func(c *configs.Config) { c.LiveChat.PongWait = c.LiveChat.PingInterval },
			"configs: livechat.pong_wait: must be longer than livechat.ping_interval"},
		{"log level", func(c *configs.Config) { c.Log.Level = "verbose" }, `configs: log.level: "verbose": want debug, info, warn or error`},
		{"cluster mode without kafka.brokers", func(c *configs.Config) {
			c.Store.URL, c.Auth.TokenSecret = "postgres://gw@db1:5432,db2:5432/gateway?target_session_attrs=read-write", strings.Repeat("k", 16)
		}, "configs: kafka.brokers: required in cluster mode (store.url set): every node publishes to one external Kafka cluster"},
		{"cluster mode without auth.token_secret", func(c *configs.Config) {
			c.Store.URL, c.Kafka.Brokers = "postgres://gw@db1:5432/gateway", []string{"k1:9092"}
		}, "configs: auth.token_secret: required in cluster mode (store.url set): tokens one node issues must be valid on the others"},
		{"store url", func(c *configs.Config) {
			c.Store.URL, c.Kafka.Brokers, c.Auth.TokenSecret = "mysql://gw:hunter2@db/gateway", []string{"k1:9092"}, strings.Repeat("k", 16)
		}, "configs: store.url: want postgres://user@host1:5432,host2:5432/db?target_session_attrs=read-write"},
		{"node id with a control character", func(c *configs.Config) {
			c.Store.URL, c.Kafka.Brokers, c.Auth.TokenSecret = "postgres://gw@db1:5432/gateway", []string{"k1:9092"}, strings.Repeat("k", 16)
			c.Cluster.NodeID = "gw\x001"
		}, "configs: cluster.node_id: at most 64 characters, none a control character"},
		{"advertise without a port", func(c *configs.Config) {
			c.Store.URL, c.Kafka.Brokers, c.Auth.TokenSecret = "postgres://gw@db1:5432/gateway", []string{"k1:9092"}, strings.Repeat("k", 16)
			c.Cluster.Advertise = "http://gw-1"
		}, "configs: cluster.advertise: must be host:port that the other nodes can dial, e.g. gw-1.internal:8080"},
		{"survey base url too long for an SMS", func(c *configs.Config) { c.Survey.BaseURL = "https://" + strings.Repeat("a", 40) + ".cn" },
			"configs: survey.base_url: at most 45 characters, so that a survey link fits one SMS"},
		{"quiet hours", func(c *configs.Config) { c.Survey.QuietHours = "21-8" }, `configs: survey.quiet_hours: time "21": want HH:MM between 00:00 and 24:00`},
		{"survey zone", func(c *configs.Config) { c.Survey.Timezone = "Mars/Olympus" }, `configs: survey.quiet_hours: survey.timezone "Mars/Olympus"…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := configs.Default()
			tt.mutate(c)
			err := c.Validate()
			require.Error(t, err)
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				require.True(t, strings.HasPrefix(err.Error(), prefix), "got %q", err)
			} else {
				require.EqualError(t, err, tt.want)
			}
			var ke *configs.KeyError
			require.ErrorAs(t, err, &ke)
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *configs.Config)
	}{
		{"defaults", func(*configs.Config) {}},
		{"everything set", func(c *configs.Config) {
			c.HTTP.Addr = "0.0.0.0:0"
			c.HTTP.AllowedOrigins = []string{"https://12345.example.gov.cn", "http://localhost:5173"}
			c.Kafka.Brokers = []string{"kafka-1:9092", "[::1]:9093"}
			c.Kafka.Embedded.Addr = "[::1]:19092"
			c.Channels.Web.CaptchaURL = "https://captcha.example/verify"
			c.Channels.App.Keys = map[string]string{"ios": "s3cret"}
			c.Channels.Wechat = configs.Wechat{AppID: "wx134c8103faa5a59e", AppSecret: "x", Token: "AAAAA",
				EncodingAESKey: vectorAESKey, APIBase: "http://127.0.0.1:1234"}
			c.Channels.SMS.Provider = "tencent"
			c.Channels.Suishenban = configs.Partner{Secret: vectorWhsec, CallbackURL: "https://ssb.example/cb?x=1",
				Mapping: map[string]string{"content.text": "body"}, Kinds: map[string]string{"01": "complaint", "99": "unclassified"}}
			c.Webhooks.AllowHosts = []string{"127.0.0.1", "partner.internal:8443"}
			c.Agents = "li:pw:general|video:3"
			c.Auth.TokenSecret = strings.Repeat("k", 16)
			c.SignLanguage = configs.SignLanguage{Calendar: "Mon-Fri,Sun 08:00-24:00 UTC", Holidays: []string{"2025-10-01"},
				Workdays: []string{"2025-09-28"}, STUNURLs: []string{"stun:stun.example:3478"},
				TURNURLs: []string{"turns:turn.example:5349?transport=tcp"}, TURNSecret: "foobar", TURNTTL: time.Minute}
			c.Log.Level = "DEBUG"
			c.Survey.BaseURL, c.Survey.QuietHours, c.Survey.RemindAfter = "https://12345.sh.gov.cn", "off", 0
		}},
		{"cluster mode", func(c *configs.Config) {
			c.Store.URL = "postgres://gw:secret@db1:5432,db2:5432/gateway?target_session_attrs=read-write"
			c.Kafka.Brokers = []string{"k1:9092"}
			c.Auth.TokenSecret = strings.Repeat("k", 16)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := configs.Default()
			tt.mutate(c)
			require.NoError(t, c.Validate())
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := configs.Default()
	c.SLA.Handling = 0
	c.HTTP.Addr = "nope"
	c.Log.Level = "loud"
	err := c.Validate()
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ke *configs.KeyError
		require.True(t, errors.As(e, &ke))
		keys = append(keys, ke.Key)
	}
	require.Equal(t, []string{"http.addr", "sla.handling", "log.level"}, keys)
}

func TestSlogLevel(t *testing.T) {
	require.Equal(t, "DEBUG", configs.Log{Level: "debug"}.SlogLevel().String())
	require.Equal(t, "WARN", configs.Log{Level: "warn"}.SlogLevel().String())
	require.Equal(t, "INFO", configs.Log{Level: "bogus"}.SlogLevel().String())
}
