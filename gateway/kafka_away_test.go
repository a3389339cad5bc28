package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// With an external cluster configured but unreachable, citizens are still
// answered 202 (the intake log buffers); once a broker listens at that
// address, everything buffered is relayed.
func TestKafkaAwayRequestsAcceptedThenRelayed(t *testing.T) {
	gatewaytest.Need(t, "kcat")
	t.Parallel()
	brokerAddr := gatewaytest.FreeAddr(t) // nothing listens here yet
	gw := gatewaytest.Start(t, gatewaytest.Options{KafkaBrokers: brokerAddr})
	ctx := context.Background()
	c := gatewaytest.NewClient(1)

	const n = 15
	ids := map[string]bool{}
	for i := range n {
		resp, err := c.PostJSON(ctx, gw.URL("/v1/channels/web/requests"),
			gatewaytest.WebRequest(fmt.Sprintf("away-%d", i), "kafka is away"))
		require.NoError(t, err)
		rc, err := resp.Receipt()
		require.NoError(t, err)
		ids[rc.ID] = true
	}
	// The relay has tried and failed; the records wait in the intake log.
	gatewaytest.Eventually(t, 20*time.Second, func() error {
		e, err := gatewaytest.Metric(ctx, gw.URL(""), "gateway_relay_errors_total")
		if err != nil || e < 1 {
			return fmt.Errorf("relay errors %v (%v)", e, err)
		}
		return nil
	})
	depth, err := gatewaytest.Metric(ctx, gw.URL(""), "gateway_intake_log_depth")
	require.NoError(t, err)
	require.GreaterOrEqual(t, depth, float64(n), "every envelope (and its events) waits in the log")
	ready, err := c.Do(ctx, http.MethodGet, gw.URL("/readyz"), nil, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, ready.Status, "buffering is ready: %s", ready.Body)
	require.Contains(t, string(ready.Body), "unreachable")

	// The cluster comes back at the configured address.
	broker, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: brokerAddr, Dir: filepath.Join(t.TempDir(), "kafka"), Partitions: 3},
		"intake.envelopes", "intake.events", "ticket.events")
	require.NoError(t, err)
	t.Cleanup(broker.Close)

	gatewaytest.Eventually(t, 45*time.Second, func() error {
		m, total, err := envelopesByKey(ctx, t, brokerAddr)
		if err != nil {
			return err
		}
		seen := 0
		for _, set := range m {
			for id := range set {
				if ids[id] {
					seen++
				}
			}
		}
		if seen != n {
			return fmt.Errorf("%d of %d envelopes relayed (%d records)", seen, n, total)
		}
		return nil
	})
	gatewaytest.Eventually(t, 10*time.Second, func() error {
		d, err := gatewaytest.Metric(ctx, gw.URL(""), "gateway_intake_log_depth")
		if err != nil || d != 0 {
			return fmt.Errorf("intake log depth %v (%v)", d, err)
		}
		return nil
	})
	events := gatewaytest.Consume(t, brokerAddr, "intake.events")
	require.GreaterOrEqual(t, len(events), n)
}
