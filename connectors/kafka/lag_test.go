package kafka_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/kafka"
)

// A consumer stuck on a record reports every record from it to the high
// watermark, and the stuck record's age; once it catches up, zero.
func TestConsumerReportsLag(t *testing.T) {
	const topic, n = "ticket.events", 5
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: "127.0.0.1:0", Dir: filepath.Join(t.TempDir(), "kafka"), Partitions: 1}, topic, topic+".dlq")
	require.NoError(t, err)
	defer e.Close()
	brokers := []string{e.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := kafka.NewProducer(brokers)
	defer p.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: topic, Key: []byte("k"), Value: []byte(strconv.Itoa(i))}
	}
	require.NoError(t, p.Produce(ctx, msgs))

	lag := kafka.NewLag(func() time.Time { return time.Now().Add(time.Minute) }) // every record a minute old
	require.Zero(t, lag.Messages())
	require.Zero(t, lag.Seconds())
	c := kafka.NewConsumer(brokers, "lag-test", topic, topic+".dlq", p, slog.New(slog.DiscardHandler)).ReportLag(lag)
	first, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	handled := make(chan string, n)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		c.Run(runCtx, func(ctx context.Context, _, value []byte) error {
			once.Do(func() { close(first); <-release })
			handled <- string(value)
			return nil
		})
	})
	defer func() { stop(); wg.Wait() }()

	<-first // handling record 0: all five are behind
	require.Equal(t, int64(n), lag.Messages())
	require.GreaterOrEqual(t, lag.Seconds(), 59.0)

	close(release)
	for i := range n {
		select {
		case v := <-handled:
			require.Equal(t, strconv.Itoa(i), v)
		case <-ctx.Done():
			t.Fatal("records not handled")
		}
	}
	require.Eventually(t, func() bool { return lag.Messages() == 0 && lag.Seconds() == 0 }, 10*time.Second, 5*time.Millisecond,
		"caught up: %d records, %.1f s", lag.Messages(), lag.Seconds())
}
