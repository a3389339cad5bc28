package configs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// partnerKinds are the envelope kinds a partner category may map to.
var partnerKinds = []string{"consultation", "help", "complaint", "suggestion", "other", "unclassified"}

// minSecretLen is the shortest token_secret / admin_token accepted.
const minSecretLen = 16

// Validate checks every value's shape and range. It returns all problems
// joined, each a *KeyError naming its key. Missing channel credentials are
// not problems: see ChannelStatus. Validate does no I/O (agents_file is read
// by AgentSpecs).
func (c *Config) Validate() error {
	v := &checker{}

	v.listenAddr("http.addr", c.HTTP.Addr)
	for _, o := range c.HTTP.AllowedOrigins {
		v.origin("http.allowed_origins", o)
	}
	positive(v, "http.max_body_bytes", c.HTTP.MaxBodyBytes)
	positive(v, "http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	v.required("data_dir", c.DataDir)

	for _, b := range c.Kafka.Brokers {
		v.brokerAddr("kafka.brokers", b)
	}
	v.listenAddr("kafka.embedded.addr", c.Kafka.Embedded.Addr)
	if a := c.Kafka.Embedded.Advertise; a != "" {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || !validPort(port, 1) {
			v.add("kafka.embedded.advertise", errors.New("must be host:port that clients can dial, e.g. gateway.internal:9092"))
		}
	}
	topics := map[string]string{} // topic name -> first key using it
	for _, kv := range [][2]string{
		{"kafka.topics.envelopes", c.Kafka.Topics.Envelopes}, {"kafka.topics.events", c.Kafka.Topics.Events},
		{"kafka.topics.tickets", c.Kafka.Topics.Tickets}, {"kafka.topics.dead_letter", c.Kafka.Topics.DeadLetter},
	} {
		key, t := kv[0], kv[1]
		v.required(key, t)
		if first, dup := topics[t]; dup && t != "" {
			v.add(key, fmt.Errorf("same topic %q as %s", t, first))
		} else {
			topics[t] = key
		}
	}
	v.required("kafka.consumer_group", c.Kafka.ConsumerGroup)

	c.validateChannels(v)

	for _, h := range c.Webhooks.AllowHosts {
		if strings.ContainsAny(h, "/ \t") {
			v.add("webhooks.allow_hosts", fmt.Errorf("%q: want a host name or IP, without scheme or path", h))
		}
	}
	if _, err := ParseAgents(c.Agents); err != nil {
		v.errs = append(v.errs, err)
	}
	switch c.AgentsInitialPresence {
	case "available", "away", "offline":
	default:
		v.add("agents.initial_presence", errors.New("want available, away or offline"))
	}
	v.optionalURL("triage.emergency_url", c.Triage.EmergencyURL)
	if c.Triage.EmergencyURL != "" {
		raw, ok := strings.CutPrefix(c.Triage.EmergencySecret, "whsec_")
		if b, err := base64.StdEncoding.DecodeString(raw); !ok || err != nil || len(b) == 0 {
			v.add("triage.emergency_secret", errors.New(`required with triage.emergency_url: "whsec_" followed by base64 (Standard Webhooks)`))
		}
	}
	positive(v, "triage.repeat_window", c.Triage.RepeatWindow)
	c.validateSurvey(v)
	c.validateCluster(v)
	if c.Routing.LanguageWait < 0 {
		v.add("routing.language_wait", errors.New("must not be negative"))
	}

	for _, kv := range [][2]string{{"auth.token_secret", c.Auth.TokenSecret}, {"auth.admin_token", c.Auth.AdminToken}} {
		if kv[1] != "" && len(kv[1]) < minSecretLen {
			v.add(kv[0], fmt.Errorf("must be at least %d characters when set", minSecretLen))
		}
	}
	positive(v, "auth.citizen_token_ttl", c.Auth.CitizenTokenTTL)
	positive(v, "auth.agent_token_ttl", c.Auth.AgentTokenTTL)
	positive(v, "auth.login.max_failures", c.Auth.Login.MaxFailures)
	positive(v, "auth.login.lockout", c.Auth.Login.Lockout)
	positive(v, "auth.login.backoff", c.Auth.Login.Backoff)
	positive(v, "auth.login.ip_max_failures", c.Auth.Login.IPMaxFailures)
	positive(v, "auth.login.workers", c.Auth.Login.Workers)
	positive(v, "auth.login.checks_per_second", c.Auth.Login.ChecksPerSecond)
	positive(v, "auth.login.checks_burst", c.Auth.Login.ChecksBurst)
	if c.Auth.Login.Queue < 0 {
		v.add("auth.login.queue", errors.New("must be >= 0"))
	}
	if c.Auth.Login.Lockout > 0 && c.Auth.Login.Backoff >= c.Auth.Login.Lockout {
		v.add("auth.login.backoff", errors.New("must be shorter than auth.login.lockout"))
	}

	positive(v, "sla.first_response", c.SLA.FirstResponse)
	positive(v, "sla.next_response", c.SLA.NextResponse)
	positive(v, "sla.handling", c.SLA.Handling)
	positive(v, "sla.warning_lead.response", c.SLA.WarningLead.Response)
	positive(v, "sla.warning_lead.handling", c.SLA.WarningLead.Handling)
	// The comparisons below only make sense between positive values, already
	// checked above; they are skipped otherwise to report one problem once.
	if limit := min(c.SLA.FirstResponse, c.SLA.NextResponse); limit > 0 && c.SLA.WarningLead.Response >= limit {
		v.add("sla.warning_lead.response", errors.New("must be shorter than sla.first_response and sla.next_response"))
	}
	if c.SLA.Handling > 0 && c.SLA.WarningLead.Handling >= c.SLA.Handling {
		v.add("sla.warning_lead.handling", errors.New("must be shorter than sla.handling"))
	}

	c.validateSignLanguage(v)

	positive(v, "livechat.offer_timeout", c.LiveChat.OfferTimeout)
	positive(v, "livechat.agent_grace", c.LiveChat.AgentGrace)
	positive(v, "livechat.ping_interval", c.LiveChat.PingInterval)
	positive(v, "livechat.pong_wait", c.LiveChat.PongWait)
	if c.LiveChat.PongWait > 0 && c.LiveChat.PongWait <= c.LiveChat.PingInterval {
		v.add("livechat.pong_wait", errors.New("must be longer than livechat.ping_interval"))
	}
	positive(v, "livechat.send_queue", c.LiveChat.SendQueue)
	positive(v, "livechat.max_frame_bytes", c.LiveChat.MaxFrameBytes)
	c.validateLiveChatLimits(v)
	positive(v, "outbox.retention", c.Outbox.Retention)
	positive(v, "rate_limit.per_ip", c.RateLimit.PerIP)
	positive(v, "rate_limit.per_ip_burst", c.RateLimit.PerIPBurst)
	positive(v, "rate_limit.per_app_key", c.RateLimit.PerAppKey)
	positive(v, "rate_limit.per_app_key_burst", c.RateLimit.PerAppKeyBurst)

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
		v.add("log.level", fmt.Errorf("%q: want debug, info, warn or error", c.Log.Level))
	}
	return errors.Join(v.errs...)
}

// SlogLevel returns the level for log/slog; an invalid level (which Validate
// rejects) gives slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lvl
}

func (c *Config) validateChannels(v *checker) {
	ch := &c.Channels
	v.optionalURL("channels.web.captcha_url", ch.Web.CaptchaURL)
	for _, k := range sortedKeys(ch.App.Keys) {
		if ch.App.Keys[k] == "" {
			v.add("channels.app.keys", fmt.Errorf("app key %q has an empty secret", k))
		}
	}
	positive(v, "channels.app.timestamp_skew", ch.App.TimestampSkew)

	if k := ch.Wechat.EncodingAESKey; k != "" {
		if b, err := base64.StdEncoding.DecodeString(k + "="); len(k) != 43 || err != nil || len(b) != 32 {
			v.add("channels.wechat.encoding_aes_key", errors.New("must be the 43-character key from the WeChat console"))
		}
	}
	v.required("channels.wechat.api_base", ch.Wechat.APIBase)
	v.optionalURL("channels.wechat.api_base", ch.Wechat.APIBase)

	switch ch.SMS.Provider {
	case SMSProviderGeneric, SMSProviderAliyun, SMSProviderTencent:
	default:
		v.add("channels.sms.provider", fmt.Errorf("%q: want generic, aliyun or tencent", ch.SMS.Provider))
	}
	v.optionalURL("channels.sms.api_base", ch.SMS.APIBase)
	positive(v, "channels.sms.conversation_window", ch.SMS.ConversationWindow)
	positive(v, "channels.sms.reassembly_wait", ch.SMS.ReassemblyWait)
	positive(v, "channels.sms.max_reply_chars", ch.SMS.MaxReplyChars)
	positive(v, "channels.sms.per_number_per_minute", ch.SMS.PerNumberPerMinute)
	if n := ch.SMS.MaxVariableChars; n != 0 && (n < 20 || n > 500) {
		v.add("channels.sms.max_variable_chars", fmt.Errorf("%d: want 0 (no cap) or 20…500", n))
	}
	if n := ch.SMS.TemplateFixedChars; n < 0 || n > 450 {
		v.add("channels.sms.template_fixed_chars", fmt.Errorf("%d: want 0…450", n))
	}

	for _, p := range c.partners() {
		prefix := "channels." + p.name + "."
		// Several space-separated secrets, current first, allow key rotation.
		for _, sec := range strings.Fields(p.Secret) {
			raw, ok := strings.CutPrefix(sec, "whsec_")
			if b, err := base64.StdEncoding.DecodeString(raw); !ok || err != nil || len(b) == 0 {
				v.add(prefix+"secret", errors.New(`must be "whsec_" followed by base64 (Standard Webhooks), several separated by spaces for rotation`))
				break
			}
		}
		v.optionalURL(prefix+"callback_url", p.CallbackURL)
		for _, field := range sortedKeys(p.Mapping) {
			if p.Mapping[field] == "" {
				v.add(prefix+"mapping", fmt.Errorf("field %q has an empty JSON path", field))
			}
		}
		for _, code := range sortedKeys(p.Kinds) {
			if kind := p.Kinds[code]; !slices.Contains(partnerKinds, kind) {
				v.add(prefix+"kinds", fmt.Errorf("category %q: kind %q: want one of %s", code, kind, strings.Join(partnerKinds, ", ")))
			}
		}
	}
}

func (c *Config) validateSignLanguage(v *checker) {
	s := &c.SignLanguage
	if _, err := ParseCalendar(s.Calendar); err != nil {
		v.add("sign_language.calendar", err)
	}
	holidays := map[string]bool{}
	for _, d := range s.Holidays {
		if _, err := time.Parse(DateLayout, d); err != nil {
			v.add("sign_language.holidays", fmt.Errorf("%q: want YYYY-MM-DD", d))
		}
		holidays[d] = true
	}
	for _, d := range s.Workdays {
		if _, err := time.Parse(DateLayout, d); err != nil {
			v.add("sign_language.workdays", fmt.Errorf("%q: want YYYY-MM-DD", d))
		} else if holidays[d] {
			v.add("sign_language.workdays", fmt.Errorf("%s is also in sign_language.holidays", d))
		}
	}
	for _, u := range s.STUNURLs {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			v.add("sign_language.stun_urls", fmt.Errorf("%q: want stun:host:port", u))
		}
	}
	for _, u := range s.TURNURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			v.add("sign_language.turn_urls", fmt.Errorf("%q: want turn:host:port", u))
		}
	}
	if len(s.TURNURLs) > 0 && s.TURNSecret == "" {
		v.add("sign_language.turn_secret", errors.New("required when sign_language.turn_urls is set"))
	}
	positive(v, "sign_language.turn_ttl", s.TURNTTL)
}

// validateLiveChatLimits checks the websocket caps and frame limits, where
// 0 means "derived" (max_connections) or "off".
func (c *Config) validateLiveChatLimits(v *checker) {
	l := c.LiveChat
	for _, kv := range []struct {
		key string
		x   float64
	}{
		{"livechat.max_connections", float64(l.MaxConnections)}, {"livechat.max_connections_per_ip", float64(l.MaxConnectionsPerIP)},
		{"livechat.max_connections_per_token", float64(l.MaxConnectionsPerToken)},
		{"livechat.message_rate", l.MessageRate}, {"livechat.message_burst", float64(l.MessageBurst)},
		{"livechat.signal_rate", l.SignalRate}, {"livechat.signal_burst", float64(l.SignalBurst)},
		{"livechat.typing_interval", float64(l.TypingInterval)}, {"livechat.abuse_refusals", float64(l.AbuseRefusals)},
	} {
		if kv.x < 0 {
			v.add(kv.key, errors.New("must be ≥ 0 (0: no limit)"))
		}
	}
	if l.MessageRate > 0 && l.MessageBurst < 1 {
		v.add("livechat.message_burst", errors.New("must be > 0 when livechat.message_rate is set"))
	}
	if l.SignalRate > 0 && l.SignalBurst < 1 {
		v.add("livechat.signal_burst", errors.New("must be > 0 when livechat.signal_rate is set"))
	}
	if l.AbuseRefusals > 0 {
		positive(v, "livechat.abuse_window", l.AbuseWindow)
	}
}

// checker collects validation errors.
type checker struct{ errs []error }

func (v *checker) add(key string, err error) {
	v.errs = append(v.errs, &KeyError{Key: key, Err: err})
}

func (v *checker) required(key, s string) {
	if strings.TrimSpace(s) == "" {
		v.add(key, errors.New("must not be empty"))
	}
}

func positive[T int | int64 | float64 | time.Duration](v *checker, key string, x T) {
	if x <= 0 {
		v.add(key, errors.New("must be > 0"))
	}
}

// listenAddr accepts host:port or :port with port 0…65535 (0 picks a free one).
func (v *checker) listenAddr(key, s string) {
	if _, port, err := net.SplitHostPort(s); err != nil || !validPort(port, 0) {
		v.add(key, fmt.Errorf("%q: want host:port or :port", s))
	}
}

// brokerAddr accepts host:port with a host and a port 1…65535.
func (v *checker) brokerAddr(key, s string) {
	if host, port, err := net.SplitHostPort(s); err != nil || host == "" || !validPort(port, 1) {
		v.add(key, fmt.Errorf("%q: want host:port", s))
	}
}

func validPort(s string, lowest int) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= lowest && n <= 65535
}

// optionalURL accepts "" or an absolute http(s) URL with a host.
func (v *checker) optionalURL(key, s string) {
	if s == "" {
		return
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, fmt.Errorf("%q: want an absolute http:// or https:// URL", s))
	}
}

// origin accepts scheme://host[:port] as browsers send it in Origin.
func (v *checker) origin(key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		v.add(key, fmt.Errorf("%q: want an origin such as https://example.gov.cn", s))
	}
}

// sortedKeys gives map entries a stable error order.
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// MaxSurveyBaseURL keeps a survey link (<base_url>/s/<22 characters>) and a
// few words within one SMS segment of 70 characters.
const MaxSurveyBaseURL = 45

func (c *Config) validateSurvey(v *checker) {
	s := c.Survey
	if s.BaseURL != "" {
		v.optionalURL("survey.base_url", s.BaseURL)
		if len(s.BaseURL) > MaxSurveyBaseURL {
			v.add("survey.base_url", fmt.Errorf("at most %d characters, so that a survey link fits one SMS", MaxSurveyBaseURL))
		}
	}
	positive(v, "survey.expire", s.Expire)
	if s.RemindAfter < 0 {
		v.add("survey.remind_after", errors.New("must not be negative"))
	}
	if s.Delay < 0 {
		v.add("survey.delay", errors.New("must not be negative"))
	}
	if _, err := ParseQuietHours(s.QuietHours, s.Timezone); err != nil {
		v.add("survey.quiet_hours", err)
	}
}

// validateCluster: in cluster mode every node must publish to the same
// Kafka and sign tokens with the same secret, or what one node accepted or
// issued would be unknown to the others (contract §8).
func (c *Config) validateCluster(v *checker) {
	positive(v, "store.unavailable_budget", c.Store.UnavailableBudget)
	if !c.Clustered() {
		return
	}
	if u, err := url.Parse(c.Store.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// The URL may hold a password: it is not echoed.
		v.add("store.url", errors.New("want postgres://user@host1:5432,host2:5432/db?target_session_attrs=read-write"))
	}
	if len(c.Kafka.Brokers) == 0 {
		v.add("kafka.brokers", errors.New("required in cluster mode (store.url set): every node publishes to one external Kafka cluster"))
	}
	if c.Auth.TokenSecret == "" {
		v.add("auth.token_secret", errors.New("required in cluster mode (store.url set): tokens one node issues must be valid on the others"))
	}
	if strings.ContainsFunc(c.Cluster.NodeID, func(r rune) bool { return r < ' ' || r == 0x7f }) || len(c.Cluster.NodeID) > 64 {
		v.add("cluster.node_id", errors.New("at most 64 characters, none a control character"))
	}
	if a := c.Cluster.Advertise; a != "" {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || !validPort(port, 1) {
			v.add("cluster.advertise", errors.New("must be host:port that the other nodes can dial, e.g. gw-1.internal:8080"))
		}
	}
}
