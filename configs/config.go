// Package configs holds the gateway's typed configuration: its defaults, the
// YAML file, the GATEWAY_* environment overrides and the validation that runs
// before anything starts.
//
// Precedence is defaults < YAML file < environment. Every key has an
// environment form, GATEWAY_ + the dotted YAML path in upper snake case
// (EnvName); the names are derived from the struct's yaml tags, so a new field
// gets its key, its environment variable, its redaction and its place in Keys
// without further code. Fields tagged `secret:"true"` are masked by Redacted.
//
// A channel whose credentials are missing is not a configuration error: it is
// reported as disabled by ChannelStatus and the gateway starts without it
// (contract §6). Malformed values, on the other hand, fail Load with an error
// that names the key.
package configs

import (
	"time"

	// The calendar's zone must load on a bare machine without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Config is the whole gateway configuration. Obtain it from Load (or Default
// in tests); a Config that passed Validate is safe to read concurrently.
type Config struct {
	HTTP       HTTP     `yaml:"http"`
	DataDir    string   `yaml:"data_dir"`
	Store      Store    `yaml:"store"`
	Cluster    Cluster  `yaml:"cluster"`
	Kafka      Kafka    `yaml:"kafka"`
	Channels   Channels `yaml:"channels"`
	Webhooks   Webhooks `yaml:"webhooks"`
	Agents     string   `yaml:"agents" secret:"true"`
	AgentsFile string   `yaml:"agents_file"`
	// AgentsInitialPresence is an agent's presence when their console
	// connects (available, away or offline). The key is spelled as a child
	// of agents, which is itself a string.
	AgentsInitialPresence string       `yaml:"agents.initial_presence"`
	Routing               Routing      `yaml:"routing"`
	Triage                Triage       `yaml:"triage"`
	Survey                Survey       `yaml:"survey"`
	Auth                  Auth         `yaml:"auth"`
	SLA                   SLA          `yaml:"sla"`
	SignLanguage          SignLanguage `yaml:"sign_language"`
	LiveChat              LiveChat     `yaml:"livechat"`
	Outbox                Outbox       `yaml:"outbox"`
	RateLimit             RateLimit    `yaml:"rate_limit"`
	Log                   Log          `yaml:"log"`
}

// HTTP configures the single HTTP listener (REST, callbacks, websockets,
// console, metrics).
type HTTP struct {
	Addr string `yaml:"addr"`
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed for
	// websockets and CORS. Empty means same origin only.
	AllowedOrigins  []string      `yaml:"allowed_origins"`
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TrustProxy makes the gateway take the client IP from X-Forwarded-For;
	// enable it only behind a reverse proxy that sets the header.
	TrustProxy bool `yaml:"trust_proxy"`
}

// Kafka selects an external cluster (Brokers non-empty) or the embedded broker.
type Kafka struct {
	// Brokers of an external cluster; when empty the embedded broker is started.
	Brokers       []string      `yaml:"brokers"`
	Embedded      KafkaEmbedded `yaml:"embedded"`
	Topics        Topics        `yaml:"topics"`
	ConsumerGroup string        `yaml:"consumer_group"`
}

// KafkaEmbedded configures the embedded Kafka-wire-compatible broker.
type KafkaEmbedded struct {
	Addr string `yaml:"addr"`
	// Advertise is the host:port the broker gives its clients to dial
	// (empty: Addr); a container listening on 0.0.0.0 advertises the name
	// its clients reach it by.
	Advertise string `yaml:"advertise"`
}

// Topics are the Kafka topic names (contract §2).
type Topics struct {
	Envelopes  string `yaml:"envelopes"`
	Events     string `yaml:"events"`
	Tickets    string `yaml:"tickets"`
	DeadLetter string `yaml:"dead_letter"`
}

// Channels holds each intake channel's settings. See Config.ChannelStatus for
// which of them are enabled.
type Channels struct {
	Web           Web     `yaml:"web"`
	App           App     `yaml:"app"`
	Wechat        Wechat  `yaml:"wechat"`
	SMS           SMS     `yaml:"sms"`
	Suishenban    Partner `yaml:"suishenban"`
	Yiwangtongban Partner `yaml:"yiwangtongban"`
}

// Web is the anonymous web form channel.
type Web struct {
	Enabled bool `yaml:"enabled"`
	// CaptchaURL, when set, is the optional captcha verification hook.
	CaptchaURL string `yaml:"captcha_url"`
}

// App is the signed mobile-app channel.
type App struct {
	// Keys maps app key to HMAC secret.
	Keys          map[string]string `yaml:"keys" secret:"true"`
	TimestampSkew time.Duration     `yaml:"timestamp_skew"`
}

// Wechat is the WeChat mini-program channel. Without EncodingAESKey only
// plaintext mode is accepted.
type Wechat struct {
	AppID          string `yaml:"app_id"`
	AppSecret      string `yaml:"app_secret" secret:"true"`
	Token          string `yaml:"token" secret:"true"`
	EncodingAESKey string `yaml:"encoding_aes_key" secret:"true"`
	APIBase        string `yaml:"api_base"`
	// AllowPlaintext runs the channel without an EncodingAESKey. A plaintext
	// push's signature does not cover its body, so anyone who captured one
	// signature could post any body under it for five minutes: off unless
	// an operator says so.
	AllowPlaintext bool `yaml:"allow_plaintext"`
}

// SMS provider names accepted in channels.sms.provider.
const (
	SMSProviderGeneric = "generic"
	SMSProviderAliyun  = "aliyun"
	SMSProviderTencent = "tencent"
)

// SMS is the short-message channel.
type SMS struct {
	Provider string `yaml:"provider"`
	Token    string `yaml:"token" secret:"true"`
	Secret   string `yaml:"secret" secret:"true"`
	// APIBase empty means the provider's public endpoint.
	APIBase  string `yaml:"api_base"`
	SignName string `yaml:"sign_name"`
	SDKAppID string `yaml:"sdk_app_id"`
	// Template is the approved reply template: Aliyun TemplateCode or Tencent
	// TemplateId, whose only variable carries the reply.
	Template string `yaml:"template"`
	// ConversationWindow: messages from one number within it join one conversation.
	ConversationWindow time.Duration `yaml:"conversation_window"`
	// ReassemblyWait: how long to wait for the missing parts of a long SMS.
	ReassemblyWait time.Duration `yaml:"reassembly_wait"`
	// MaxReplyChars caps a reply over all its sends; a longer one is cut
	// (and logged). A reply longer than one send (500 characters with the
	// signature at Aliyun and Tencent) leaves as numbered sends.
	MaxReplyChars      int `yaml:"max_reply_chars"`
	PerNumberPerMinute int `yaml:"per_number_per_minute"`
	// MaxVariableChars is the reply template's variable cap (Aliyun: 35
	// until the operator has it lifted); replies are split to respect it.
	// 0: no cap beyond the provider's 500 characters per send.
	MaxVariableChars int `yaml:"max_variable_chars"`
	// TemplateFixedChars is the length of the reply template's fixed text
	// around its variable, which counts against the 500 characters per send.
	TemplateFixedChars int `yaml:"template_fixed_chars"`
	// CallbackToken / CallbackSecret authenticate the provider's callbacks
	// (uplink, reports) when they differ from the API credentials: Aliyun and
	// Tencent cannot sign callbacks, so set a token carried in the callback URL.
	CallbackToken  string `yaml:"callback_token" secret:"true"`
	CallbackSecret string `yaml:"callback_secret" secret:"true"`
}

// Partner is a government-platform partner speaking Standard Webhooks
// (Suishenban, Yiwangtongban).
type Partner struct {
	// Secret is the Standard Webhooks secret, "whsec_" + base64.
	Secret      string `yaml:"secret" secret:"true"`
	CallbackURL string `yaml:"callback_url"`
	// Mapping maps an envelope field to a JSON path in the partner's body,
	// overriding the default mapping field by field.
	Mapping map[string]string `yaml:"mapping"`
	// Kinds maps the partner's category code to an envelope kind.
	Kinds map[string]string `yaml:"kinds"`
}

// Webhooks restricts outbound webhooks.
type Webhooks struct {
	// AllowHosts may be reached although they are loopback or private.
	AllowHosts []string `yaml:"allow_hosts"`
}

// Auth configures citizen and agent tokens.
type Auth struct {
	// TokenSecret signs tokens; empty means random per start.
	TokenSecret string `yaml:"token_secret" secret:"true"`
	// AdminToken guards the admin/supervisor endpoints; empty disables them.
	AdminToken      string        `yaml:"admin_token" secret:"true"`
	CitizenTokenTTL time.Duration `yaml:"citizen_token_ttl"`
	AgentTokenTTL   time.Duration `yaml:"agent_token_ttl"`
	// Login throttles the agent login (auth/loginguard).
	Login AuthLogin `yaml:"login"`
}

// AuthLogin limits password guessing on POST /v1/agents/login. An account
// backs off Backoff, 2·Backoff, 4·Backoff… after each failure and is locked
// for Lockout at its MaxFailures-th (a supervisor may lift it); an IP backs
// off likewise once it has failed more than IPMaxFailures times, whatever the
// ids (a success halves the IP's count). Failures are forgotten after a
// quiet Lockout. At most Workers bcrypt checks run at once, Queue attempts
// wait, and ChecksPerSecond (ChecksBurst at once) start; the rest are
// answered 429.
type AuthLogin struct {
	MaxFailures   int           `yaml:"max_failures"`
	Lockout       time.Duration `yaml:"lockout"`
	Backoff       time.Duration `yaml:"backoff"`
	IPMaxFailures int           `yaml:"ip_max_failures"`
	Workers       int           `yaml:"workers"`
	Queue         int           `yaml:"queue"`
	// ChecksPerSecond and ChecksBurst bound the bcrypt comparisons in all,
	// whatever the ids and addresses: the CPU a distributed storm can take.
	ChecksPerSecond float64 `yaml:"checks_per_second"`
	ChecksBurst     int     `yaml:"checks_burst"`
}

// SLA holds the timeliness limits (contract §5).
type SLA struct {
	FirstResponse time.Duration `yaml:"first_response"`
	NextResponse  time.Duration `yaml:"next_response"`
	Handling      time.Duration `yaml:"handling"`
	WarningLead   WarningLead   `yaml:"warning_lead"`
}

// WarningLead is how long before a due time the warning goes out.
type WarningLead struct {
	// Response applies to the first- and next-response clocks.
	Response time.Duration `yaml:"response"`
	Handling time.Duration `yaml:"handling"`
}

// SignLanguage configures the sign-language video channel.
type SignLanguage struct {
	// Calendar is "Days HH:MM-HH:MM Zone"; see ParseCalendar.
	Calendar string `yaml:"calendar"`
	// Holidays are closed dates (YYYY-MM-DD) even on calendar days.
	Holidays []string `yaml:"holidays"`
	// Workdays are make-up working days (YYYY-MM-DD) open even off calendar days.
	Workdays   []string      `yaml:"workdays"`
	STUNURLs   []string      `yaml:"stun_urls"`
	TURNURLs   []string      `yaml:"turn_urls"`
	TURNSecret string        `yaml:"turn_secret" secret:"true"`
	TURNTTL    time.Duration `yaml:"turn_ttl"`
}

// LiveChat configures live-chat sessions and their websockets.
type LiveChat struct {
	OfferTimeout time.Duration `yaml:"offer_timeout"`
	// AbandonAfter closes a queued web/app conversation whose citizen left
	// and did not come back within it.
	AbandonAfter  time.Duration `yaml:"abandon_after"`
	AgentGrace    time.Duration `yaml:"agent_grace"`
	PingInterval  time.Duration `yaml:"ping_interval"`
	PongWait      time.Duration `yaml:"pong_wait"`
	SendQueue     int           `yaml:"send_queue"`
	MaxFrameBytes int64         `yaml:"max_frame_bytes"`
	// MaxConnections caps open websockets in all, below the file limit so
	// that HTTP, the store and Kafka keep descriptors; 0 derives it from
	// RLIMIT_NOFILE.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerIP caps one client IP (generous: a corporate NAT puts
	// many citizens behind one); MaxConnectionsPerToken one token's subject
	// (a citizen's tabs, an agent's consoles). 0: no cap.
	MaxConnectionsPerIP    int `yaml:"max_connections_per_ip"`
	MaxConnectionsPerToken int `yaml:"max_connections_per_token"`
	// MessageRate (per second) and MessageBurst limit the message frames of
	// one side of a session; SignalRate and SignalBurst its typing, read and
	// rtc.* frames. A rate of 0: no limit.
	MessageRate  float64 `yaml:"message_rate"`
	MessageBurst int     `yaml:"message_burst"`
	SignalRate   float64 `yaml:"signal_rate"`
	SignalBurst  int     `yaml:"signal_burst"`
	// TypingInterval: at most one typing frame is relayed per side of a
	// session per interval, the others are dropped. 0: every one.
	TypingInterval time.Duration `yaml:"typing_interval"`
	// A connection with more than AbuseRefusals frames refused within
	// AbuseWindow is closed with 1008 (policy violation). 0: never.
	AbuseRefusals int           `yaml:"abuse_refusals"`
	AbuseWindow   time.Duration `yaml:"abuse_window"`
}

// Routing configures how live chats find an agent (contract §10, §11).
type Routing struct {
	// LanguageWait is how long a chat waits for an agent with a skill that
	// came from the citizen's side (a language, a topic) before any
	// available agent is offered it.
	LanguageWait time.Duration `yaml:"language_wait"`
	// RequiredSkills stay required however long the chat waits: entry
	// points that only some agents can serve. sign_language always is.
	RequiredSkills []string `yaml:"required_skills"`
}

// Triage configures what intake looks for in every request (contract §10).
type Triage struct {
	// EmergencyRules is an operator's rules file (YAML, the format of the
	// rules shipped with the binary); empty: the shipped rules.
	EmergencyRules string `yaml:"emergency_rules"`
	// EmergencyURL receives every emergency as a Standard Webhooks POST of
	// its envelope, signed with EmergencySecret; empty: emergencies are
	// flagged and published but not posted.
	EmergencyURL    string `yaml:"emergency_url"`
	EmergencySecret string `yaml:"emergency_secret" secret:"true"`
	// RepeatWindow is how far back a request of the same citizen about the
	// same matter makes a new one a repeat.
	RepeatWindow time.Duration `yaml:"repeat_window"`
}

// Store chooses where the gateway keeps what it accepted (contract §8).
type Store struct {
	// URL empty: the embedded store under data_dir (one node). A postgres://
	// URL (several hosts allowed, with target_session_attrs=read-write): the
	// shared store of cluster mode. It may hold a password.
	URL string `yaml:"url" secret:"true"`
	// UnavailableBudget is how long a request waits for the shared store
	// before it is answered 503 with Retry-After.
	UnavailableBudget time.Duration `yaml:"unavailable_budget"`
}

// Cluster names this node among several sharing one store (contract §8).
type Cluster struct {
	// NodeID names the node in logs and /readyz, and its lane of the
	// shared outbox; empty: the host name. It must be unique among the
	// nodes and stable across restarts (a StatefulSet's pod name, not a
	// Deployment's): each new name adds a lane that is kept for good.
	NodeID string `yaml:"node_id"`
	// Advertise is host:port at which the other nodes reach this node's
	// HTTP listener: live chat is relayed to the node that runs it
	// (docs/adr/0003-chat-across-nodes.md). Empty: http.addr, or the host
	// name with its port when http.addr listens on every address.
	Advertise string `yaml:"advertise"`
	// Listen and Peers are the contract's inter-node bus; the gateway's
	// live chat needs none (ADR 0003), so they are ignored.
	Listen string   `yaml:"listen"`
	Peers  []string `yaml:"peers"`
}

// Clustered reports whether the gateway runs in cluster mode (store.url set).
func (c *Config) Clustered() bool { return c.Store.URL != "" }

// Survey configures the follow-up survey of finished requests (contract §9).
type Survey struct {
	// BaseURL is the gateway's public address: survey links are
	// <base_url>/s/<code>. Empty: http://<http.addr>, fine on one machine
	// only; set it for SMS, WeChat and partners. At most 45 characters, so
	// that a link fits one SMS.
	BaseURL string `yaml:"base_url"`
	// Expire: a code takes an answer this long.
	Expire time.Duration `yaml:"expire"`
	// RemindAfter: an unanswered survey on SMS, WeChat or a partner is sent
	// once more (a second follow-up); 0: never.
	RemindAfter time.Duration `yaml:"remind_after"`
	// Delay holds a survey back after the ticket system's resolved/closed.
	Delay time.Duration `yaml:"delay"`
	// QuietHours "HH:MM-HH:MM" (local time of Timezone) in which no SMS or
	// WeChat survey is sent; "off": none.
	QuietHours string `yaml:"quiet_hours"`
	Timezone   string `yaml:"timezone"`
}

// Outbox configures the durable intake log.
type Outbox struct {
	// Retention is how long published records and idempotency keys are kept.
	Retention time.Duration `yaml:"retention"`
}

// RateLimit configures token buckets (requests per second and burst).
type RateLimit struct {
	PerIP          float64 `yaml:"per_ip"`
	PerIPBurst     int     `yaml:"per_ip_burst"`
	PerAppKey      float64 `yaml:"per_app_key"`
	PerAppKeyBurst int     `yaml:"per_app_key_burst"`
}

// Log configures log/slog.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
}

// Default returns the configuration used when nothing is configured
// (contract §1 and §6). Each call returns a fresh value.
func Default() *Config {
	return &Config{
		HTTP: HTTP{
			Addr:            ":8080",
			MaxBodyBytes:    1 << 20,
			ShutdownTimeout: 8 * time.Second,
		},
		DataDir: "./data",
		Kafka: Kafka{
			Embedded: KafkaEmbedded{Addr: "127.0.0.1:9092"},
			Topics: Topics{
				Envelopes:  "intake.envelopes",
				Events:     "intake.events",
				Tickets:    "ticket.events",
				DeadLetter: "ticket.events.dlq",
			},
			ConsumerGroup: "intake-gateway",
		},
		Channels: Channels{
			Web: Web{Enabled: true},
			App: App{TimestampSkew: 300 * time.Second},
			Wechat: Wechat{
				APIBase: "https://api.weixin.qq.com",
			},
			SMS: SMS{
				Provider:           SMSProviderGeneric,
				ConversationWindow: 30 * time.Minute,
				ReassemblyWait:     60 * time.Second,
				MaxReplyChars:      2000,
				PerNumberPerMinute: 5,
			},
		},
		Auth: Auth{
			CitizenTokenTTL: 24 * time.Hour,
			AgentTokenTTL:   12 * time.Hour,
			Login: AuthLogin{MaxFailures: 5, Lockout: 15 * time.Minute, Backoff: time.Second,
				IPMaxFailures: 10, Workers: 1, Queue: 32, ChecksPerSecond: 2, ChecksBurst: 20},
		},
		SLA: SLA{
			FirstResponse: 3 * time.Minute,
			NextResponse:  3 * time.Minute,
			Handling:      24 * time.Hour,
			WarningLead: WarningLead{
				Response: 60 * time.Second,
				Handling: 2 * time.Hour,
			},
		},
		SignLanguage: SignLanguage{
			Calendar: "Mon-Fri 09:00-17:00 Asia/Shanghai",
			TURNTTL:  time.Hour,
		},
		LiveChat: LiveChat{
			AbandonAfter:  2 * time.Minute,
			OfferTimeout:  30 * time.Second,
			AgentGrace:    12 * time.Second,
			PingInterval:  30 * time.Second,
			PongWait:      60 * time.Second,
			SendQueue:     256,
			MaxFrameBytes: 64 << 10,

			MaxConnectionsPerIP:    200,
			MaxConnectionsPerToken: 10,
			MessageRate:            5,
			MessageBurst:           20,
			SignalRate:             20,
			SignalBurst:            60,
			TypingInterval:         time.Second,
			AbuseRefusals:          20,
			AbuseWindow:            10 * time.Second,
		},
		AgentsInitialPresence: "available",
		Routing:               Routing{LanguageWait: 30 * time.Second},
		Triage:                Triage{RepeatWindow: 30 * 24 * time.Hour},
		Store:                 Store{UnavailableBudget: 10 * time.Second},
		Survey: Survey{Expire: 7 * 24 * time.Hour, RemindAfter: 24 * time.Hour, QuietHours: "21:00-08:00",
			Timezone: "Asia/Shanghai"},
		Outbox:    Outbox{Retention: 72 * time.Hour},
		RateLimit: RateLimit{PerIP: 5, PerIPBurst: 20, PerAppKey: 50, PerAppKeyBurst: 100},
		Log:       Log{Level: "info"},
	}
}
