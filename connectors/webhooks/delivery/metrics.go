package delivery

import (
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/intake/store"
)

// Outcomes of an attempt, as gateway_webhook_deliveries_total counts them.
const (
	outcomeDelivered  = "delivered"   // the partner answered 2xx
	outcomeRetry      = "retry"       // failed; another attempt is scheduled
	outcomeDeadLetter = "dead_letter" // moved to the dead letters (410, schedule exhausted, forbidden address, …)
)

func newDeliveries() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_webhook_deliveries_total",
		Help: "Webhook delivery attempts by endpoint and outcome (delivered, retry, dead_letter)."}, []string{"endpoint", "outcome"})
}

// newFirstAttempt is gateway_webhook_first_attempt_seconds: how long a
// message waited for its first POST (for the emergency centre, the time
// from acceptance to the hand-off).
func newFirstAttempt() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_webhook_first_attempt_seconds",
		Help:    "Time from a webhook's enqueueing (in the transaction that accepted its request) to its first attempt, by endpoint.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"endpoint"})
}

// Collectors returns the queue's Prometheus metrics: attempts by outcome,
// and the dead letters, pending messages and retry backlog as the store holds
// them at each scrape.
func (q *Queue) Collectors() []prometheus.Collector {
	return []prometheus.Collector{q.deliveries, q.firstAttempt, backlog{q}}
}

var (
	descDead = prometheus.NewDesc("gateway_webhook_dead_letters",
		"Webhooks in the dead-letter store, waiting for an operator to replay them.", nil, nil)
	descPending = prometheus.NewDesc("gateway_webhook_pending",
		"Webhooks queued and not yet delivered (due now, waiting behind an earlier one, or waiting for a retry).", nil, nil)
	descRetry = prometheus.NewDesc("gateway_webhook_retry_backlog",
		"Queued webhooks that failed at least once and wait for their next attempt.", nil, nil)
)

// backlog reads the queue's gauges from the store when scraped: they stay
// right across restarts, replays and deletions without bookkeeping.
type backlog struct{ q *Queue }

func (b backlog) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDead
	ch <- descPending
	ch <- descRetry
}

func (b backlog) Collect(ch chan<- prometheus.Metric) {
	var dead, pending, retry int
	err := b.q.db.View(func(tx *store.Tx) error {
		if err := tx.Bucket([]byte(bucketDead)).ForEach(func(_, _ []byte) error {
			dead++
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketQueue)).ForEach(func(_, v []byte) error {
			pending++
			if attempted(v) {
				retry++
			}
			return nil
		})
	})
	if err != nil {
		b.q.log.Warn("webhook queue: cannot read the backlog for /metrics", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(dead))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(pending))
	ch <- prometheus.MustNewConstMetric(descRetry, prometheus.GaugeValue, float64(retry))
}

// attempted reports whether a queued value's message failed an attempt
// already (its payload is skipped over, not kept).
func attempted(v []byte) bool {
	var e struct {
		Attempts int `json:"attempts"`
	}
	return len(v) > 8 && json.Unmarshal(v[8:], &e) == nil && e.Attempts > 0
}
