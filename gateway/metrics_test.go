package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// /metrics exposes the figures operators watch: requests by channel and
// outcome, intake latency, the intake log's depth, relay lag and errors, and
// the store's fsyncs, writes and commit durations.
func TestMetricsExposeIntakeRelayAndStore(t *testing.T) {
	g, _ := newGateway(t, nil)
	require.Equal(t, http.StatusAccepted, call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"ok"}`), nil, "").Code)
	// A retry is counted as a duplicate, not a second acceptance (it was).
	for range 2 {
		require.Equal(t, http.StatusAccepted, call(g, http.MethodPost, webPath, strings.NewReader(`{"client_request_id":"m-1","text":"ok"}`), nil, "").Code)
	}
	require.Equal(t, http.StatusBadRequest, call(g, http.MethodPost, webPath, strings.NewReader(`{"text":1}`), nil, "").Code)
	require.Equal(t, http.StatusUnauthorized, call(g, http.MethodPost, appPath, strings.NewReader(`{"text":"x"}`), nil, "").Code)

	w := call(g, http.MethodGet, "/metrics", nil, nil, "")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	for sample, want := range map[string]float64{
		`gateway_requests_total{channel="web",outcome="accepted"}`:  2,
		`gateway_requests_total{channel="web",outcome="duplicate"}`: 1,
		`gateway_requests_total{channel="web",outcome="rejected"}`:  1,
		`gateway_requests_total{channel="app",outcome="rejected"}`:  1,
		`gateway_intake_seconds_count{channel="web"}`:               4,
	} {
		got, err := gatewaytest.ParseMetric(body, sample)
		require.NoError(t, err)
		require.Equal(t, want, got, sample)
	}
	for _, sample := range []string{"gateway_relay_lag_seconds", "gateway_relay_errors_total",
		"gateway_relay_published_total", "gateway_store_fsyncs_total", "gateway_store_writes_total",
		"gateway_store_conflicts_total", "gateway_store_unavailable_total"} {
		_, err := gatewaytest.ParseMetric(body, sample)
		require.NoError(t, err)
	}
	depth, _ := gatewaytest.ParseMetric(body, "gateway_intake_log_depth")
	require.GreaterOrEqual(t, depth, 2.0, "the envelope and its events wait: the relay is not running")
	fsyncs, _ := gatewaytest.ParseMetric(body, "gateway_store_fsyncs_total")
	require.GreaterOrEqual(t, fsyncs, 1.0, "the accepted request was fsync'ed")
	require.Contains(t, body, "# TYPE gateway_intake_seconds histogram")
	require.Contains(t, body, "# TYPE gateway_store_commit_seconds histogram")
	commits, err := gatewaytest.ParseMetric(body, "gateway_store_commit_seconds_count")
	require.NoError(t, err)
	require.GreaterOrEqual(t, commits, 1.0, "the accepted request's commit was timed")
}

// /metrics carries the webhook queue's gauges and the ticket.events
// consumer's lag from the start, at zero while nothing is queued or behind.
func TestMetricsExposeWebhooksAndTicketLag(t *testing.T) {
	g, _ := newGateway(t, nil)
	w := call(g, http.MethodGet, "/metrics", nil, nil, "")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	for _, sample := range []string{"gateway_webhook_dead_letters", "gateway_webhook_pending", "gateway_webhook_retry_backlog",
		"gateway_ticket_events_lag_messages", "gateway_ticket_events_lag_seconds"} {
		got, err := gatewaytest.ParseMetric(body, sample)
		require.NoError(t, err, sample)
		require.Zero(t, got, sample)
	}
	require.Contains(t, body, "# TYPE gateway_ticket_events_lag_seconds gauge")
}
