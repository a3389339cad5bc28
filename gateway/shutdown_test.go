package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// SIGTERM in the middle of a load: requests in flight finish with 202 or are
// refused with 503 (never another answer), the process exits within 10 s, and
// every 202 is in Kafka after a restart.
func TestSIGTERMWithRequestsInFlight(t *testing.T) {
	gatewaytest.Need(t, "kcat")
	gw := gatewaytest.Start(t, gatewaytest.Options{Env: []string{
		"GATEWAY_RATE_LIMIT_PER_IP=100000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=100000"}})
	ctx := context.Background()

	stop := make(chan struct{})
	done := make(chan []loadResult)
	go func() { done <- driveLoad(ctx, gw.URL("/v1/channels/web/requests"), "term", 32, stop) }()
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		v, err := gatewaytest.Metric(ctx, gw.URL(""), `gateway_requests_total{channel="web",outcome="accepted"}`)
		if err != nil || v < 200 {
			return fmt.Errorf("accepted so far: %v (%v)", v, err)
		}
		return nil
	})
	took, graceful := gw.Stop(10 * time.Second)
	close(stop)
	results := <-done
	require.True(t, graceful, "the gateway did not exit within 10 s of SIGTERM")
	require.Less(t, took, 10*time.Second)
	require.True(t, gw.ExitState().Success(), "exit status %v; log:\n%s", gw.ExitState(), gw.Log())

	count := map[int]int{}
	for _, r := range results {
		count[r.status]++
		switch r.status {
		case 0:
			// No answer is only acceptable when the request never reached
			// the gateway (the listener was closed); a request cut in flight
			// would be a broken drain.
			var op *net.OpError
			require.True(t, errors.As(r.err, &op) && op.Op == "dial", "request %s cut in flight: %v", r.key, r.err)
		case http.StatusAccepted, http.StatusServiceUnavailable:
		default:
			t.Fatalf("request %s answered %d during shutdown", r.key, r.status)
		}
	}
	t.Logf("outcomes (0 = no answer): %v; exit after %s", count, took)
	require.Greater(t, count[http.StatusAccepted], 0)

	gw.Restart()
	requireAllAcknowledgedPublished(t, gw.KafkaAddr, results)
}
