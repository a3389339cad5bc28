package wechat

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/connectors/wechatapi"
)

// newSends is gateway_wechat_sends_total: customer-service messages by
// outcome. Each Channel has its own; the gateway registers it (Collectors).
func newSends() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_wechat_sends_total",
		Help: "WeChat customer-service messages by kind (receipt, agent, ticket_reply, …) and outcome " +
			"(sent, out_of_window, quota, rejected, failed)."}, []string{"kind", "outcome"})
}

// Collectors returns the channel's Prometheus metrics.
func (c *Channel) Collectors() []prometheus.Collector { return []prometheus.Collector{c.sends} }

// sendOutcome names what became of one Deliver: out_of_window (45015) and
// quota (45047) are the refusals an operator can explain to citizens,
// rejected any other permanent refusal, failed a transient one.
func sendOutcome(err error) string {
	switch {
	case err == nil:
		return "sent"
	case errors.Is(err, wechatapi.ErrOutOfWindow):
		return "out_of_window"
	case errors.Is(err, wechatapi.ErrQuota):
		return "quota"
	case Permanent(err):
		return "rejected"
	}
	return "failed"
}
