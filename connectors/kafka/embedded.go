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

// EmbeddedConfig places the embedded broker.
type EmbeddedConfig struct {
	Addr string // listen host:port; port 0 picks a free one
	// Advertise is the host:port the broker tells clients to connect to
	// (its metadata); empty: the listen address. A container listening on
	// 0.0.0.0 must not tell its clients to dial 0.0.0.0.
	Advertise  string
	Dir        string // its data
	Partitions int32  // of each topic it creates
}

// StartEmbedded starts the broker and creates topics that do not exist yet.
func StartEmbedded(cfg EmbeddedConfig, topics ...string) (*Embedded, error) {
	addr, dir, partitions := cfg.Addr, cfg.Dir, cfg.Partitions
	listening := "" // the real address, for bootstrapping (the advertised one may resolve only elsewhere)
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
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err == nil {
				listening = ln.Addr().String()
			}
			if err != nil || cfg.Advertise == "" {
				return ln, err
			}
			return advertised{Listener: ln, addr: advertisedAddr(cfg.Advertise)}, nil
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka: cannot start the embedded broker on %s: %w", addr, err)
	}
	return &Embedded{c: c, addr: listening}, nil
}

// advertised is a listener whose Addr, which the broker puts in its
// metadata, is the address clients should dial.
type advertised struct {
	net.Listener
	addr net.Addr
}

func (a advertised) Addr() net.Addr { return a.addr }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// Addr is the broker's listen address, for clients on this machine (those
// elsewhere use the advertised one).
func (e *Embedded) Addr() string { return e.addr }

// Close flushes the broker's state to disk and stops it. Idempotent.
func (e *Embedded) Close() { e.c.Close() }
