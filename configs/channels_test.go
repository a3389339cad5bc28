package configs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
)

func TestChannelStatus(t *testing.T) {
	byName := func(c *configs.Config) map[string]configs.ChannelState {
		m := map[string]configs.ChannelState{}
		for _, s := range c.ChannelStatus() {
			m[s.Name] = s
		}
		return m
	}

	t.Run("defaults", func(t *testing.T) {
		got := configs.Default().ChannelStatus()
		require.Equal(t, []configs.ChannelState{
			{Name: "web", Enabled: true},
			{Name: "app", Reason: "missing channels.app.keys"},
			{Name: "wechat_miniprogram", Reason: "missing channels.wechat.app_id, channels.wechat.app_secret, channels.wechat.token"},
			{Name: "sms", Reason: "missing channels.sms.token or channels.sms.secret"},
			{Name: "suishenban", Reason: "missing channels.suishenban.secret"},
			{Name: "yiwangtongban", Reason: "missing channels.yiwangtongban.secret"},
			{Name: "sign_language", Enabled: true, Reason: "no TURN relay: sign_language.turn_urls not set"},
		}, got)
	})

	tests := []struct {
		name   string
		env    []string
		want   configs.ChannelState
		reason string
	}{
		{"web disabled", []string{"GATEWAY_CHANNELS_WEB_ENABLED=false"},
			configs.ChannelState{Name: "web", Reason: "disabled by channels.web.enabled"}, ""},
		{"app", []string{"GATEWAY_CHANNELS_APP_KEYS=ios:s"}, configs.ChannelState{Name: "app", Enabled: true}, ""},
		{"wechat partial", []string{"GATEWAY_CHANNELS_WECHAT_APP_ID=wx1", "GATEWAY_CHANNELS_WECHAT_TOKEN=AAAAA"},
			configs.ChannelState{Name: "wechat_miniprogram", Reason: "missing channels.wechat.app_secret"}, ""},
		// Plaintext pushes are not signed over their bodies: the channel
		// stays off unless an operator accepts that explicitly.
		{"wechat plaintext refused", []string{"GATEWAY_CHANNELS_WECHAT_APP_ID=wx1", "GATEWAY_CHANNELS_WECHAT_APP_SECRET=s", "GATEWAY_CHANNELS_WECHAT_TOKEN=AAAAA"},
			configs.ChannelState{Name: "wechat_miniprogram",
				Reason: "plaintext mode refused: a plaintext push's signature does not cover its body; set channels.wechat.encoding_aes_key (safe mode), or channels.wechat.allow_plaintext: true to accept the risk"}, ""},
		{"wechat plaintext allowed", []string{"GATEWAY_CHANNELS_WECHAT_APP_ID=wx1", "GATEWAY_CHANNELS_WECHAT_APP_SECRET=s", "GATEWAY_CHANNELS_WECHAT_TOKEN=AAAAA",
			"GATEWAY_CHANNELS_WECHAT_ALLOW_PLAINTEXT=true"},
			configs.ChannelState{Name: "wechat_miniprogram", Enabled: true,
				Reason: "plaintext mode (channels.wechat.allow_plaintext): pushes' bodies are not signed; set channels.wechat.encoding_aes_key"}, ""},
		{"wechat safe mode", []string{"GATEWAY_CHANNELS_WECHAT_APP_ID=wx1", "GATEWAY_CHANNELS_WECHAT_APP_SECRET=s",
			"GATEWAY_CHANNELS_WECHAT_TOKEN=AAAAA", "GATEWAY_CHANNELS_WECHAT_ENCODING_AES_KEY=" + vectorAESKey},
			configs.ChannelState{Name: "wechat_miniprogram", Enabled: true}, ""},
		{"sms generic token", []string{"GATEWAY_CHANNELS_SMS_TOKEN=t"}, configs.ChannelState{Name: "sms", Enabled: true}, ""},
		{"sms generic secret", []string{"GATEWAY_CHANNELS_SMS_SECRET=s"}, configs.ChannelState{Name: "sms", Enabled: true}, ""},
		{"sms aliyun partial", []string{"GATEWAY_CHANNELS_SMS_PROVIDER=aliyun", "GATEWAY_CHANNELS_SMS_TOKEN=t"},
			configs.ChannelState{Name: "sms", Reason: "missing channels.sms.secret, channels.sms.sign_name"}, ""},
		{"sms tencent", []string{"GATEWAY_CHANNELS_SMS_PROVIDER=tencent", "GATEWAY_CHANNELS_SMS_TOKEN=t",
			"GATEWAY_CHANNELS_SMS_SECRET=s", "GATEWAY_CHANNELS_SMS_SIGN_NAME=n"},
			configs.ChannelState{Name: "sms", Reason: "missing channels.sms.sdk_app_id"}, ""},
		{"suishenban", []string{"GATEWAY_CHANNELS_SUISHENBAN_SECRET=" + vectorWhsec, "GATEWAY_CHANNELS_SUISHENBAN_CALLBACK_URL=https://p/cb"},
			configs.ChannelState{Name: "suishenban", Enabled: true}, ""},
		{"yiwangtongban without callback", []string{"GATEWAY_CHANNELS_YIWANGTONGBAN_SECRET=" + vectorWhsec},
			configs.ChannelState{Name: "yiwangtongban", Enabled: true,
				Reason: "no status webhooks: channels.yiwangtongban.callback_url not set"}, ""},
		{"sign language with TURN", []string{"GATEWAY_SIGN_LANGUAGE_TURN_URLS=turn:t:3478", "GATEWAY_SIGN_LANGUAGE_TURN_SECRET=foobar"},
			configs.ChannelState{Name: "sign_language", Enabled: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configs.Load("", tt.env)
			require.NoError(t, err, "a missing channel secret never fails Load")
			require.Equal(t, tt.want, byName(c)[tt.want.Name])
		})
	}
}
