package configs

import "strings"

// ChannelState says whether a channel runs and why (contract §6: a channel
// whose required secrets are missing is disabled, says so in the start-up log
// and /readyz, and the gateway still starts). Name is the envelope's channel
// value. Reason names the missing keys of a disabled channel, e.g.
// "missing channels.app.keys", and may note a limitation of an enabled one.
type ChannelState struct {
	Name    string
	Enabled bool
	Reason  string
}

type namedPartner struct {
	name string
	Partner
}

func (c *Config) partners() []namedPartner {
	return []namedPartner{
		{"suishenban", c.Channels.Suishenban},
		{"yiwangtongban", c.Channels.Yiwangtongban},
	}
}

// ChannelStatus reports every channel in a fixed order: web, app,
// wechat_miniprogram, sms, suishenban, yiwangtongban, sign_language.
func (c *Config) ChannelStatus() []ChannelState {
	ch := &c.Channels
	out := make([]ChannelState, 0, 7)

	web := ChannelState{Name: "web", Enabled: ch.Web.Enabled}
	if !web.Enabled {
		web.Reason = "disabled by channels.web.enabled"
	}
	out = append(out, web)

	out = append(out, needs("app", "channels.app.", map[string]bool{"keys": len(ch.App.Keys) > 0}, "keys"))

	wechat := needs("wechat_miniprogram", "channels.wechat.", map[string]bool{
		"app_id": ch.Wechat.AppID != "", "app_secret": ch.Wechat.AppSecret != "", "token": ch.Wechat.Token != "",
	}, "app_id", "app_secret", "token")
	if wechat.Enabled && ch.Wechat.EncodingAESKey == "" {
		if ch.Wechat.AllowPlaintext {
			wechat.Reason = "plaintext mode (channels.wechat.allow_plaintext): pushes' bodies are not signed; set channels.wechat.encoding_aes_key"
		} else {
			wechat.Enabled = false
			wechat.Reason = "plaintext mode refused: a plaintext push's signature does not cover its body; set channels.wechat.encoding_aes_key (safe mode), or channels.wechat.allow_plaintext: true to accept the risk"
		}
	}
	out = append(out, wechat)

	out = append(out, c.smsStatus())

	for _, p := range c.partners() {
		st := needs(p.name, "channels."+p.name+".", map[string]bool{"secret": p.Secret != ""}, "secret")
		if st.Enabled && p.CallbackURL == "" {
			st.Reason = "no status webhooks: channels." + p.name + ".callback_url not set"
		}
		out = append(out, st)
	}

	sign := ChannelState{Name: "sign_language", Enabled: true}
	if len(c.SignLanguage.TURNURLs) == 0 {
		sign.Reason = "no TURN relay: sign_language.turn_urls not set"
	}
	return append(out, sign)
}

// smsStatus: the generic provider needs a token or a secret; aliyun and
// tencent sign their API calls and send under a registered signature, so they
// need both credentials and sign_name (tencent also sdk_app_id).
func (c *Config) smsStatus() ChannelState {
	s := &c.Channels.SMS
	have := map[string]bool{
		"token": s.Token != "", "secret": s.Secret != "",
		"sign_name": s.SignName != "", "sdk_app_id": s.SDKAppID != "",
	}
	switch s.Provider {
	case SMSProviderAliyun:
		return needs("sms", "channels.sms.", have, "token", "secret", "sign_name")
	case SMSProviderTencent:
		return needs("sms", "channels.sms.", have, "token", "secret", "sign_name", "sdk_app_id")
	}
	if !have["token"] && !have["secret"] {
		return ChannelState{Name: "sms", Reason: "missing channels.sms.token or channels.sms.secret"}
	}
	return ChannelState{Name: "sms", Enabled: true}
}

// needs reports a channel enabled when every listed key is present.
func needs(name, prefix string, have map[string]bool, keys ...string) ChannelState {
	var missing []string
	for _, k := range keys {
		if !have[k] {
			missing = append(missing, prefix+k)
		}
	}
	if len(missing) > 0 {
		return ChannelState{Name: name, Reason: "missing " + strings.Join(missing, ", ")}
	}
	return ChannelState{Name: name, Enabled: true}
}
