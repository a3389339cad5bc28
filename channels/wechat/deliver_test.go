package wechat_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/wechat"
	"github.com/hotline12345/gateway/connectors/wechatapi"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/normalize"
)

func outbound(kind, text string) channels.Outbound {
	return channels.Outbound{Channel: normalize.ChannelWechat, ChannelUserID: openid, SessionID: "session-1", Kind: kind, Text: text}
}

// TestRoundTrip: a citizen's push comes in, and the reply goes back through
// the channel's Deliver, to the same openid.
func TestRoundTrip(t *testing.T) {
	v := newEnv(t, setup{safe: true})
	q, body := v.encrypted(textXML)
	requireSuccess(t, v.do(t, http.MethodPost, q, body))
	msgs, _, _ := v.conv.snapshot()
	require.Len(t, msgs, 1)

	var d channels.Deliverer = v.ch
	for _, o := range []channels.Outbound{
		outbound("receipt", "您的诉求已受理"),
		outbound("agent", "您好，请问路灯在哪条路上？"),
		outbound("ticket_reply", "已派单至城管局 <处理中> & 跟进"),
	} {
		o.ChannelUserID = msgs[0].ChannelUserID
		require.NoError(t, d.Deliver(t.Context(), o))
	}
	sent := v.api.Sent()
	require.Len(t, sent, 3)
	for i, want := range []string{"您的诉求已受理", "您好，请问路灯在哪条路上？", "已派单至城管局 <处理中> & 跟进"} {
		require.Equal(t, openid, sent[i].ToUser)
		require.Equal(t, "text", sent[i].MsgType)
		require.Equal(t, want, sent[i].Text)
	}
	require.Equal(t, 1, v.api.TokensIssued(), "the access token is cached")
}

func TestDeliverTokenExpiry(t *testing.T) {
	v := newEnv(t, setup{})
	require.NoError(t, v.ch.Deliver(t.Context(), outbound("agent", "第一条")))
	v.api.ExpireTokens() // WeChat expires the token mid-conversation
	require.NoError(t, v.ch.Deliver(t.Context(), outbound("agent", "第二条")))

	sent := v.api.Sent()
	require.Len(t, sent, 2, "the reply is not lost")
	require.Equal(t, "第二条", sent[1].Text)
	require.NotEqual(t, sent[0].Token, sent[1].Token, "sent with a fresh token")
	require.Equal(t, 2, v.api.TokensIssued())
	require.Equal(t, 3, v.api.SendCalls(), "one refused call, one retry")
}

func TestDeliverFailures(t *testing.T) {
	cases := []struct {
		name      string
		errcode   int // injected with FailNext; 0: none
		out       channels.Outbound
		permanent bool
		is        error
	}{
		{"45015 outside the 48-hour window", wechatfake.CodeOutOfWindow, outbound("agent", "市民隐私内容"), true, wechatapi.ErrOutOfWindow},
		{"45047 quota", wechatfake.CodeQuota, outbound("ticket_reply", "市民隐私内容"), true, wechatapi.ErrQuota},
		{"system busy is retried", wechatfake.CodeSystemBusy, outbound("agent", "市民隐私内容"), false, nil},
		{"empty text", 0, outbound("status", ""), true, wechatapi.ErrInvalidArgument},
		{"no openid", 0, channels.Outbound{Channel: normalize.ChannelWechat, Text: "市民隐私内容"}, true, wechatapi.ErrInvalidArgument},
		{"wrong channel", 0, channels.Outbound{Channel: normalize.ChannelSMS, ChannelUserID: openid, Text: "市民隐私内容"}, true, wechat.ErrWrongChannel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, setup{})
			if tc.errcode != 0 {
				v.api.FailNext(openid, tc.errcode)
			}
			err := v.ch.Deliver(t.Context(), tc.out)
			require.Error(t, err)
			require.Equal(t, tc.permanent, wechat.Permanent(err), err.Error())
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			require.NotContains(t, err.Error(), "市民隐私内容", "the text is not in the error")
			require.Empty(t, v.api.Sent())
			if tc.errcode != 0 {
				require.Equal(t, 1, v.api.SendCalls(), "not retried by Deliver")
			}
		})
	}
	require.False(t, wechat.Permanent(nil))
}
