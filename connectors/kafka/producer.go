package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Message is one record to produce.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers map[string]string
}

// Producer writes records with acks=all. A lone record is sent at once: the
// writer's batch timer is a millisecond, not kafka-go's default second.
type Producer struct {
	w       *kafkago.Writer
	brokers []string
}

// NewProducer returns a producer for the brokers.
func NewProducer(brokers []string) *Producer {
	return &Producer{brokers: brokers, w: &kafkago.Writer{
		Addr:         kafkago.TCP(brokers...),
		Balancer:     &kafkago.Murmur2Balancer{}, // same partition for a key as Java clients choose
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: time.Millisecond,
		// kafka-go allocates room for BatchSize messages in every batch, one
		// batch per partition per WriteMessages: a large size is garbage on
		// every relay round. A backlog still drains in a few batches.
		BatchSize:    100,
		BatchBytes:   8 << 20,
		MaxAttempts:  1, // the relay retries, with its own backoff, forever
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		Transport:    &kafkago.Transport{DialTimeout: 3 * time.Second, MetadataTTL: 30 * time.Second},
	}}
}

// Produce writes msgs and returns once all are acknowledged by all in-sync
// replicas. An error means some may have been written: retry them all.
func (p *Producer) Produce(ctx context.Context, msgs []Message) error {
	km := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		km[i] = kafkago.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
		for k, v := range m.Headers {
			km[i].Headers = append(km[i].Headers, kafkago.Header{Key: k, Value: []byte(v)})
		}
	}
	if err := p.w.WriteMessages(ctx, km...); err != nil {
		return fmt.Errorf("kafka: produce: %w", err)
	}
	return nil
}

// Close releases the producer's connections.
func (p *Producer) Close() error { return p.w.Close() }

// Ping checks that a broker answers a metadata request.
func Ping(ctx context.Context, brokers []string) error {
	var errs []error
	for _, b := range brokers {
		d := kafkago.Dialer{Timeout: 2 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("kafka: no broker reachable: %w", errors.Join(errs...))
}

// EnsureTopics creates topics that do not exist yet (partitions, replication
// factor). Existing topics are left as they are.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, topics ...string) error {
	d := kafkago.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("kafka: dial %s: %w", brokers[0], err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("kafka: find controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("kafka: dial controller: %w", err)
	}
	defer cc.Close()
	cfgs := make([]kafkago.TopicConfig, len(topics))
	for i, t := range topics {
		cfgs[i] = kafkago.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication}
	}
	if err := cc.CreateTopics(cfgs...); err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	return nil
}
