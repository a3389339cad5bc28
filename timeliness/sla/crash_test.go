package sla_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

func TestMain(m *testing.M) { os.Exit(gatewaytest.Main(m)) }

// Timers set, the process killed, restarted after their due time: every
// warning and breach fires once at start-up, and none fires twice.
func TestClocksSurviveACrash(t *testing.T) {
	kcat := gatewaytest.Need(t, "kcat")
	p := gatewaytest.Start(t, gatewaytest.Options{Env: []string{
		"GATEWAY_SLA_FIRST_RESPONSE=3s", "GATEWAY_SLA_WARNING_LEAD_RESPONSE=1s",
		"GATEWAY_SLA_HANDLING=4s", "GATEWAY_SLA_WARNING_LEAD_HANDLING=1s",
	}})
	c := gatewaytest.NewClient(8)
	ctx := context.Background()
	const n = 20
	ids := map[string]bool{}
	var last time.Time
	for i := range n {
		resp, err := c.PostJSON(ctx, p.URL("/v1/channels/web/requests"), gatewaytest.WebRequest(fmt.Sprintf("crash-%d", i), "噪音扰民"))
		require.NoError(t, err)
		r, err := resp.Receipt()
		require.NoError(t, err)
		ids[r.ID] = true
		last = r.HandlingDue
	}
	p.Kill() // before any clock is due
	// The gateway is down until every due time has passed (real time: this
	// is the real binary).
	time.Sleep(time.Until(last.Add(500 * time.Millisecond)))
	p.Restart()

	count := func() map[string]int {
		recs, err := gatewaytest.ConsumeE(ctx, kcat, p.KafkaAddr, "intake.events")
		require.NoError(t, err)
		out := map[string]int{}
		for _, r := range recs {
			var ev struct {
				Type       string         `json:"type"`
				EnvelopeID string         `json:"envelope_id"`
				Data       map[string]any `json:"data"`
			}
			require.NoError(t, json.Unmarshal(r.Value, &ev))
			if ev.Data != nil && ids[ev.EnvelopeID] && (ev.Type == "sla.breached" || ev.Type == "sla.warning") {
				out[ev.Type+"/"+ev.Data["clock"].(string)+"/"+ev.EnvelopeID]++
			}
		}
		return out
	}
	want := 4 * n // warning and breach of both clocks
	gatewaytest.Eventually(t, 20*time.Second, func() error {
		if n := len(count()); n != want {
			return fmt.Errorf("%d of %d warnings and breaches so far", n, want)
		}
		return nil
	})
	p.Kill()
	p.Restart()
	// Whatever the restarted gateway would fire, it loads at start and fires
	// at once: with no timer left and the outbox empty, a second firing
	// would be on Kafka.
	gatewaytest.Eventually(t, 20*time.Second, func() error {
		base := "http://" + p.HTTPAddr
		open, err1 := gatewaytest.Metric(ctx, base, "gateway_sla_open_timers")
		depth, err2 := gatewaytest.Metric(ctx, base, "gateway_intake_log_depth")
		if err1 != nil || err2 != nil || open != 0 || depth != 0 {
			return fmt.Errorf("open timers %v, outbox depth %v (%v, %v)", open, depth, err1, err2)
		}
		return nil
	})
	got := count()
	require.Len(t, got, want)
	for k, v := range got {
		require.Equal(t, 1, v, "%s fired %d times", k, v)
	}
}
