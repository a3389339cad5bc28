package livechattest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize/schemas"
)

// Record is a consumed Kafka record.
type Record struct {
	Key     string
	Headers map[string]string
	Value   map[string]any
	Raw     []byte
}

// Consume reads every record currently in topic (all partitions) until
// none arrives for quiet.
func (g *Gateway) Consume(t testing.TB, topic string, quiet time.Duration) []Record {
	t.Helper()
	var out []Record
	ctx := context.Background()
	conn, err := kafkago.DialContext(ctx, "tcp", g.KafkaBrokers()[0])
	require.NoError(t, err)
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	require.NoError(t, err)
	for _, p := range parts {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: g.KafkaBrokers(), Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond})
		for {
			rctx, cancel := context.WithTimeout(ctx, quiet)
			m, err := r.ReadMessage(rctx)
			cancel()
			if err != nil {
				break
			}
			rec := Record{Key: string(m.Key), Headers: map[string]string{}, Raw: m.Value}
			for _, h := range m.Headers {
				rec.Headers[h.Key] = string(h.Value)
			}
			_ = json.Unmarshal(m.Value, &rec.Value) // dead-letter topics hold what is not JSON too
			out = append(out, rec)
		}
		r.Close()
	}
	return out
}

// Validate checks raw JSON against a contract schema ("envelope", "event", "ticket-event").
func Validate(t testing.TB, schema string, raw []byte) {
	t.Helper()
	b, ok := schemas.Get(schema)
	require.True(t, ok)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource(schema+".schema.json", doc))
	sch, err := c.Compile(schema + ".schema.json")
	require.NoError(t, err)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(v), string(raw))
}
