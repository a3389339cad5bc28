// Package relay moves the intake log's outbox to Kafka. It publishes records
// in log order, marks them relayed only after Kafka acknowledged them, and
// retries with capped exponential backoff for as long as Kafka is away. A
// timeout is an unknown outcome: the batch is sent again and consumers
// de-duplicate by id (at-least-once).
//
// In cluster mode the relay runs under a lease (Run with its fence): it records a
// publish only while its lease's fence holds, and stops when it fails.
package relay

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

// Producer is what the relay needs of Kafka.
type Producer interface {
	Produce(ctx context.Context, msgs []kafka.Message) error
}

// Relay is the outbox publisher. Run it once; stop it by
// cancelling its context.
type Relay struct {
	log      *intakelog.Log
	p        Producer
	logger   *slog.Logger
	clock    clock.Clock
	batch    int
	linger   time.Duration
	minDelay time.Duration
	maxDelay time.Duration

	published atomic.Int64
	errors    atomic.Int64
	lagNs     atomic.Int64 // age of the oldest unpublished record at the last attempt
	healthy   atomic.Bool
	idle      chan struct{}
}

// New returns a relay from log to p. Its clock paces the linger and the
// retries (the gateway passes clock.System: they pace real I/O, whatever
// time the rest of a test sees).
func New(log *intakelog.Log, p Producer, clk clock.Clock, logger *slog.Logger) *Relay {
	return &Relay{log: log, p: p, clock: clk, logger: logger, batch: 2000, linger: 5 * time.Millisecond, minDelay: 100 * time.Millisecond,
		maxDelay: 10 * time.Second, idle: make(chan struct{}, 1)}
}

// Run publishes until ctx ends or fence fails (one node passes the zero
// fence, which never fails). On return everything
// that was published is marked, unless fence failed; unpublished records
// stay in the log for the next start. Before it marks a batch published it
// checks fence in a store transaction; when the check fails (lease.ErrLost)
// the batch is left unmarked (the lease's next holder publishes it again:
// at least once) and Run returns.
func (r *Relay) Run(ctx context.Context, fence lease.Fence) {
	delay := r.minDelay
	for {
		n, err := r.once(ctx, fence)
		switch {
		case errors.Is(err, lease.ErrLost):
			r.logger.Warn("relay: lease lost, stopping", "err", err)
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			r.errors.Add(1)
			r.healthy.Store(false)
			r.logger.Warn("relay: kafka unavailable, will retry", "err", err, "retry_in", delay)
			if !clock.Sleep(ctx, r.clock, delay) {
				return
			}
			delay = min(delay*2, r.maxDelay)
			continue
		case n > 0:
			delay = r.minDelay
			r.healthy.Store(true)
			// A lone record went out at once. Under a steady stream, a short
			// pause lets the next batch fill: every produce request costs the
			// broker an fsync, on the disk the store fsyncs on too. A full
			// batch means a backlog: no pause.
			if n < r.batch && r.linger > 0 && !clock.Sleep(ctx, r.clock, r.linger) {
				return
			}
			continue // there may be more
		}
		r.healthy.Store(true)
		select {
		case r.idle <- struct{}{}:
		default:
		}
		t := r.clock.NewTimer(time.Second) // safety net; wake-ups cover the normal case
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.log.Wake():
		case <-t.C():
		}
		t.Stop()
	}
}

// Drain publishes what is pending until nothing is left or ctx ends; used at
// shutdown after intake has stopped. It holds no lease (the zero fence).
func (r *Relay) Drain(ctx context.Context) error {
	for {
		n, err := r.once(ctx, lease.Fence{})
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

func (r *Relay) once(ctx context.Context, fence lease.Fence) (int, error) {
	recs, err := r.log.Pending(r.batch)
	if err != nil || len(recs) == 0 {
		r.lagNs.Store(0)
		return 0, err
	}
	r.lagNs.Store(int64(r.clock.Now().Sub(recs[0].At)))
	msgs := make([]kafka.Message, len(recs))
	for i, rec := range recs {
		msgs[i] = kafka.Message{Topic: rec.Topic, Key: []byte(rec.Key), Value: rec.Value, Headers: rec.Headers}
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = r.p.Produce(pctx, msgs)
	cancel()
	if err != nil {
		return 0, err
	}
	// Mark even if ctx is ending: the records are in Kafka. The fence is
	// checked in the marking transaction: a relay that lost its lease
	// leaves the mark to the new holder.
	mctx, mcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer mcancel()
	if err := r.log.DB().Update(mctx, func(tx *store.Tx) error {
		if err := fence.Check(tx); err != nil {
			return err
		}
		return intakelog.MarkRelayedTx(tx, recs)
	}); err != nil {
		return 0, err
	}
	r.published.Add(int64(len(recs)))
	return len(recs), nil
}

// Stats for metrics.
type Stats struct {
	Published, Errors int64
	Lag               time.Duration
	Healthy           bool
}

// Stats returns counters since start.
func (r *Relay) Stats() Stats {
	return Stats{Published: r.published.Load(), Errors: r.errors.Load(), Lag: time.Duration(r.lagNs.Load()), Healthy: r.healthy.Load()}
}

// Idle receives a value whenever the relay found nothing to publish; tests use it.
func (r *Relay) Idle() <-chan struct{} { return r.idle }
