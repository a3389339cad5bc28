// Package kafka connects the gateway to Kafka: an embedded Kafka-wire
// broker (kfake, persisted to disk) when no brokers are configured, a producer
// for the relay and a group consumer for ticket events, all speaking the real
// protocol through segmentio/kafka-go so that the embedded broker and a real
// cluster are used the same way.
package kafka

import (
	"fmt"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is a single-node Kafka-wire-compatible broker persisted to disk.
// Every produced batch is fsync'ed before it is acknowledged, so that the
// relay's "published" means durable even for the embedded broker.
type Embedded struct {
	c    *kfake.Cluster
	addr string
}

// StartEmbedded starts the broker on addr (host:port; port 0 picks a free
// one) with its data under dir, and creates topics that do not exist yet.
func StartEmbedded(addr, dir string, partitions int32, topics ...string) (*Embedded, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("kafka: cannot create %s: %w", dir, err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ClusterID("intake-gateway"),
		kfake.DataDir(dir),
		kfake.SyncWrites(),
		kfake.DefaultNumPartitions(int(partitions)),
		kfake.SeedTopics(partitions, topics...),
		kfake.AllowAutoTopicCreation(),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka: cannot start the embedded broker on %s: %w", addr, err)
	}
	return &Embedded{c: c, addr: c.ListenAddrs()[0]}, nil
}

// Addr is the broker's listen address, for clients.
func (e *Embedded) Addr() string { return e.addr }

// Close flushes the broker's state to disk and stops it. Idempotent.
func (e *Embedded) Close() { e.c.Close() }
