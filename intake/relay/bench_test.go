package relay

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/internal/clock"
)

// BenchmarkRelayToEmbeddedBroker publishes b.N envelope records from the
// outbox to the embedded broker (fsync'ed) and marks them, as at start-up
// after an outage: records/s is the relay's catch-up rate.
func BenchmarkRelayToEmbeddedBroker(b *testing.B) {
	br, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: "127.0.0.1:0", Dir: filepath.Join(b.TempDir(), "kafka"), Partitions: 3}, "intake.envelopes", "intake.events")
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	p := kafka.NewProducer([]string{br.Addr()})
	defer p.Close()
	l := newLog(b)
	accept(b, l, b.N, 100)
	r := New(l, p, clock.System, quiet())
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := r.Drain(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
