package delivery_test

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/logtest"

	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
)

// samples gathers reg as "name{label=value,…}" → value.
func samples(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

// The queue's metrics follow a message through a retry to delivery, and
// another to the dead letters; the dead letter leaves a log line that names
// the message but holds neither its payload nor the signing secret.
func TestMetricsAndDeadLetterLog(t *testing.T) {
	const phone, text = "13812345678", "小区门口垃圾三天没人清运"
	payload := `{"type":"request.status","reply":"` + text + `","phone":"` + phone + `"}`
	const (
		delivered  = "gateway_webhook_deliveries_total{endpoint=suishenban,outcome=delivered}"
		retried    = "gateway_webhook_deliveries_total{endpoint=suishenban,outcome=retry}"
		deadLetter = "gateway_webhook_deliveries_total{endpoint=suishenban,outcome=dead_letter}"
		dead       = "gateway_webhook_dead_letters{}"
		pending    = "gateway_webhook_pending{}"
		backlog    = "gateway_webhook_retry_backlog{}"
	)
	clk := newClock(false)
	logs := &logtest.Buffer{}
	q := newQueue(t, tempDB(t), clk, func(o *delivery.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(q.Collectors()...)
	secrets := []stdwebhook.Secret{mustSecret(t, testSecret)}
	flaky := newStub(t, clk, secrets, 500, 200)
	gone := newStub(t, clk, secrets, 410)
	ctx := context.Background()

	for _, step := range []struct {
		name string
		do   func()
		want map[string]float64
	}{
		{"nothing yet", func() {}, map[string]float64{dead: 0, pending: 0, backlog: 0}},
		{"a failed attempt waits for its retry", func() {
			require.NoError(t, q.Enqueue(ctx, msg(flaky.URL, "env-1", payload)))
			run(t, q)
		}, map[string]float64{retried: 1, pending: 1, backlog: 1, dead: 0}},
		{"the retry is delivered", func() { clk.Advance(5 * time.Second) },
			map[string]float64{retried: 1, delivered: 1, pending: 0, backlog: 0, dead: 0}},
		{"a 410 dead-letters", func() { require.NoError(t, q.Enqueue(ctx, msg(gone.URL, "env-2", payload))) },
			map[string]float64{retried: 1, delivered: 1, deadLetter: 1, pending: 0, backlog: 0, dead: 1}},
	} {
		step.do()
		require.Eventually(t, func() bool {
			got := samples(t, reg)
			for k, v := range step.want {
				if got[k] != v {
					return false
				}
			}
			return true
		}, wait, 5*time.Millisecond, "%s: %v", step.name, step.want)
		t.Logf("%s: %v", step.name, samples(t, reg))
	}

	lines := logs.Lines(t, "webhook moved to the dead letters")
	require.Len(t, lines, 1)
	require.Equal(t, "WARN", lines[0]["level"])
	require.Equal(t, "suishenban", lines[0]["endpoint"])
	require.Equal(t, 410.0, lines[0]["status"])
	require.True(t, strings.HasPrefix(lines[0]["webhook_id"].(string), "msg_"))
	require.Contains(t, lines[0]["reason"], "410")
	all := logs.String()
	require.NotContains(t, all, phone)
	require.NotContains(t, all, text)
	require.NotContains(t, all, strings.TrimPrefix(testSecret, "whsec_"))
}
