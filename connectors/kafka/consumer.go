package kafka

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ErrPoison marks a record that can never be processed: it goes to the
// dead-letter topic with the reason, and the consumer moves on.
var ErrPoison = errors.New("kafka: record cannot be processed")

// Consumer reads a topic in a consumer group, at least once: an offset is
// committed only after the record was handled (or dead-lettered).
type Consumer struct {
	r      *kafkago.Reader
	dlq    string
	p      *Producer
	logger *slog.Logger
	lag    *Lag
}

// NewConsumer returns a consumer of topic in group; poison records go to dlq.
func NewConsumer(brokers []string, group, topic, dlq string, p *Producer, logger *slog.Logger) *Consumer {
	return &Consumer{r: kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, GroupID: group, Topic: topic,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond, StartOffset: kafkago.FirstOffset,
		CommitInterval: 0, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second}),
		dlq: dlq, p: p, logger: logger}
}

// ReportLag makes the consumer keep l up to date with how far it is behind
// (call it before Run). It returns c.
func (c *Consumer) ReportLag(l *Lag) *Consumer { c.lag = l; return c }

// Run handles records until ctx ends. A transient error from handle is
// retried with backoff (the record is not skipped); an error wrapping
// ErrPoison dead-letters the record.
func (c *Consumer) Run(ctx context.Context, handle func(ctx context.Context, key, value []byte) error) {
	defer c.r.Close()
	for ctx.Err() == nil {
		m, err := c.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("consumer: fetch failed", "topic", c.r.Config().Topic, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		c.lag.start(m)
		delay := 100 * time.Millisecond
		for ctx.Err() == nil {
			err = handle(ctx, m.Key, m.Value)
			if err == nil {
				break
			}
			if errors.Is(err, ErrPoison) {
				err = c.deadLetter(ctx, m, err)
				if err == nil {
					break
				}
			}
			c.logger.Warn("consumer: will retry record", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
			sleep(ctx, delay)
			delay = min(delay*2, 10*time.Second)
		}
		if ctx.Err() != nil {
			return
		}
		c.lag.done(m)
		if err := c.r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
			c.logger.Warn("consumer: commit failed (the record may be seen again)", "err", err)
		}
	}
}

func (c *Consumer) deadLetter(ctx context.Context, m kafkago.Message, why error) error {
	c.logger.Warn("consumer: dead-lettering record", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", why.Error())
	return c.p.Produce(ctx, []Message{{Topic: c.dlq, Key: m.Key, Value: m.Value, Headers: map[string]string{
		"reason": why.Error(), "source-topic": m.Topic, "source-partition": strconv.Itoa(m.Partition),
		"source-offset": strconv.FormatInt(m.Offset, 10)}}})
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
