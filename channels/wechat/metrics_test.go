package wechat_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/normalize"
)

// Every Deliver is counted once in gateway_wechat_sends_total by kind and
// outcome.
func TestSendsCountedByOutcome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		errcode int // injected with FailNext; 0: none
		out     channels.Outbound
		kind    string
		outcome string
	}{
		{"sent", 0, outbound("agent", "您好"), "agent", "sent"},
		{"45015 outside the 48-hour window", wechatfake.CodeOutOfWindow, outbound("ticket_reply", "已派单"), "ticket_reply", "out_of_window"},
		{"45047 quota", wechatfake.CodeQuota, outbound("agent", "您好"), "agent", "quota"},
		{"system busy", wechatfake.CodeSystemBusy, outbound("receipt", "已受理"), "receipt", "failed"},
		{"empty text", 0, outbound("status", ""), "status", "rejected"},
		{"wrong channel", 0, channels.Outbound{Channel: normalize.ChannelSMS, ChannelUserID: openid, Text: "x", Kind: "made-up"}, "other", "rejected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, setup{})
			reg := prometheus.NewRegistry()
			reg.MustRegister(v.ch.Collectors()...)
			if tc.errcode != 0 {
				v.api.FailNext(openid, tc.errcode)
			}
			_ = v.ch.Deliver(t.Context(), tc.out)
			mfs, err := reg.Gather()
			require.NoError(t, err)
			require.Len(t, mfs, 1)
			require.Equal(t, "gateway_wechat_sends_total", mfs[0].GetName())
			require.Len(t, mfs[0].GetMetric(), 1, "one series")
			m := mfs[0].GetMetric()[0]
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			require.Equal(t, map[string]string{"kind": tc.kind, "outcome": tc.outcome}, labels)
			require.Equal(t, 1.0, m.GetCounter().GetValue())
		})
	}
}
