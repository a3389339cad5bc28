package sms

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/connectors/smsapi"
)

// metrics counts replies by outcome and the provider's length refusals.
// Each Channel has its own collectors; the gateway registers them
// (Collectors).
type metrics struct {
	replies        *prometheus.CounterVec
	sends          *prometheus.CounterVec
	lengthRefusals *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_sms_replies_total",
			Help: "SMS replies by provider and outcome (sent, rate_limited, rejected, too_long, failed)."}, []string{"provider", "outcome"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_sms_sends_total",
			Help: "Sends the SMS provider accepted: a reply longer than one send may be takes several."}, []string{"provider"}),
		lengthRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_sms_length_refusals_total",
			Help: "Sends the SMS provider refused for length; replies are split to fit, so any is a limit to configure."}, []string{"provider"}),
	}
}

// Collectors returns the channel's Prometheus metrics.
func (c *Channel) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.metrics.replies, c.metrics.sends, c.metrics.lengthRefusals}
}

func (m *metrics) observe(provider string, res smsapi.Result, err error) {
	outcome := "sent"
	switch {
	case err == nil:
	case errors.Is(err, smsapi.ErrTooLong):
		outcome = "too_long"
	case errors.Is(err, smsapi.ErrRateLimited):
		outcome = "rate_limited"
	case smsapi.Permanent(err):
		outcome = "rejected"
	default:
		outcome = "failed"
	}
	m.replies.WithLabelValues(provider, outcome).Inc()
	if res.Sends > 0 && len(res.MessageIDs) > 0 {
		n := len(res.MessageIDs)
		if provider == "generic" { // one id per carrier part, one send
			n = 1
		}
		m.sends.WithLabelValues(provider).Add(float64(n))
	}
	if res.LengthRefusals > 0 {
		m.lengthRefusals.WithLabelValues(provider).Add(float64(res.LengthRefusals))
	}
}
