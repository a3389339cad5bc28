package kafka_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/kafka"
)

func TestEmbeddedRoundTripAndRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kafka")
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: "127.0.0.1:0", Dir: dir, Partitions: 3}, "intake.envelopes")
	require.NoError(t, err)
	addr := e.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, kafka.Ping(ctx, []string{addr}))

	p := kafka.NewProducer([]string{addr})
	start := time.Now()
	require.NoError(t, p.Produce(ctx, []kafka.Message{{Topic: "intake.envelopes", Key: []byte("k"), Value: []byte(`{"a":1}`), Headers: map[string]string{"schema": "envelope/v1"}}}))
	require.Less(t, time.Since(start), 500*time.Millisecond, "a lone record must not wait for a batch timer")
	require.NoError(t, p.Close())
	e.Close()

	e2, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: addr, Dir: dir, Partitions: 3}, "intake.envelopes")
	require.NoError(t, err)
	defer e2.Close()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, GroupID: "t", Topic: "intake.envelopes", StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	m, err := r.ReadMessage(ctx)
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, string(m.Value))
	require.Equal(t, "schema", m.Headers[0].Key)
}

// The broker tells its clients the advertised address, not the one it
// listens on (a container's 0.0.0.0 is no address to dial), and the
// gateway itself still reaches it on the listen address.
func TestEmbeddedAdvertises(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	addr := "127.0.0.1:" + strconv.Itoa(port)
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: addr, Advertise: "localhost:" + strconv.Itoa(port),
		Dir: filepath.Join(t.TempDir(), "kafka"), Partitions: 1}, "intake.envelopes")
	require.NoError(t, err)
	defer e.Close()
	require.Equal(t, addr, e.Addr())
	conn, err := kafkago.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	brokers, err := conn.Brokers()
	require.NoError(t, err)
	require.Len(t, brokers, 1)
	require.Equal(t, "localhost", brokers[0].Host)
	require.Equal(t, port, brokers[0].Port)
}
