package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// flakyProducer fails its first failures calls (after writing part of the
// batch, as a timeout can), then succeeds.
type flakyProducer struct {
	mu       sync.Mutex
	failures int
	calls    int
	got      []kafka.Message // everything that reached "Kafka", duplicates included
}

func (p *flakyProducer) Produce(_ context.Context, msgs []kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.calls <= p.failures {
		p.got = append(p.got, msgs[:len(msgs)/2]...) // an unknown outcome: half made it
		return errors.New("kafka: request timed out")
	}
	p.got = append(p.got, msgs...)
	return nil
}

func (p *flakyProducer) messages() []kafka.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]kafka.Message(nil), p.got...)
}

func newLog(t testing.TB) *intakelog.Log {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "g.db"), store.Options{NoSync: true}, intakelog.Buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, clock.System)
}

func accept(t testing.TB, l *intakelog.Log, n int, citizens int) []string {
	t.Helper()
	st := normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: time.Minute, Handling: time.Hour, Clock: clock.System}
	var ids []string
	for i := range n {
		e := st.New(normalize.ChannelWeb, fmt.Sprintf("web:%d-%s", i, normalize.NewID()), fmt.Sprintf("citizen-%d", i%citizens))
		e.Content.Text = "x"
		_, err := l.Accept(context.Background(), e, intakelog.AcceptOptions{})
		require.NoError(t, err)
		ids = append(ids, e.ID)
	}
	return ids
}

func fast(r *Relay) *Relay {
	r.minDelay, r.maxDelay, r.batch = time.Millisecond, 4*time.Millisecond, 7
	return r
}

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func envelopeIDs(t *testing.T, msgs []kafka.Message) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		var e struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(m.Value, &e))
		out = append(out, e.ID)
	}
	return out
}

// firstOccurrences drops repeats, keeping the order in which ids first appeared.
func firstOccurrences(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// Kafka fails N times, then recovers: every record is published, in log
// order, each citizen's records in order, and the log is empty afterwards.
func TestRelayRetriesUntilEverythingIsPublishedInOrder(t *testing.T) {
	for _, failures := range []int{0, 1, 5} {
		t.Run(fmt.Sprintf("%d failures", failures), func(t *testing.T) {
			l := newLog(t)
			ids := accept(t, l, 40, 3)
			p := &flakyProducer{failures: failures}
			r := fast(New(l, p, clock.System, quiet()))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { r.Run(ctx, lease.Fence{}); close(done) }()
			t.Cleanup(func() { cancel(); <-done })

			require.Eventually(t, func() bool { d, _ := l.Depth(); return d == 0 }, 10*time.Second, time.Millisecond)
			got := envelopeIDs(t, p.messages())
			require.Equal(t, ids, firstOccurrences(got), "nothing lost, log order kept")
			if failures == 0 {
				require.Equal(t, ids, got, "no failure, no duplicate")
			}
			// The counter and the health flag follow the mark that emptied
			// the log: wait for them.
			require.Eventually(t, func() bool {
				st := r.Stats()
				return st.Published == int64(len(ids)) && st.Healthy
			}, 5*time.Second, time.Millisecond)
			st := r.Stats()
			require.EqualValues(t, failures, st.Errors)
			require.EqualValues(t, len(ids), st.Published)
			require.True(t, st.Healthy)

			// What arrives later is relayed at once (wake-up, not the safety poll).
			more := accept(t, l, 3, 3)
			require.Eventually(t, func() bool { d, _ := l.Depth(); return d == 0 }, 900*time.Millisecond, time.Millisecond)
			require.Equal(t, append(ids, more...), firstOccurrences(envelopeIDs(t, p.messages())))
		})
	}
}

// Records of one citizen go out in the order they were accepted, with the
// record key that keeps them on one partition.
func TestRelayKeepsHeadersAndKeys(t *testing.T) {
	l := newLog(t)
	accept(t, l, 5, 1)
	p := &flakyProducer{}
	require.NoError(t, fast(New(l, p, clock.System, quiet())).Drain(context.Background()))
	msgs := p.messages()
	require.Len(t, msgs, 5)
	for _, m := range msgs {
		require.Equal(t, "intake.envelopes", m.Topic)
		require.Equal(t, string(msgs[0].Key), string(m.Key))
		require.Equal(t, "envelope/v1", m.Headers["schema"])
		require.NotEmpty(t, m.Headers["idempotency-key"])
	}
}

// Drain gives up when its context ends and leaves the records for next time;
// Run returns when its context ends.
func TestDrainAndRunStop(t *testing.T) {
	l := newLog(t)
	ids := accept(t, l, 10, 2)
	p := &flakyProducer{failures: 1 << 30}
	r := fast(New(l, p, clock.System, quiet()))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.Error(t, r.Drain(ctx))
	d, _ := l.Depth()
	require.Equal(t, len(ids), d, "nothing marked while Kafka refuses")

	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(rctx, lease.Fence{}); close(done) }()
	require.Eventually(t, func() bool { return r.Stats().Errors > 2 }, 5*time.Second, time.Millisecond)
	require.False(t, r.Stats().Healthy)
	rcancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}

	p.mu.Lock()
	p.failures = 0
	p.mu.Unlock()
	require.NoError(t, r.Drain(context.Background()))
	d, _ = l.Depth()
	require.Zero(t, d)
	require.Equal(t, ids, firstOccurrences(envelopeIDs(t, p.messages())))
}

// countingProducer records when each Produce call happened.
type countingProducer struct {
	mu    sync.Mutex
	calls []time.Time
	n     int
}

func (p *countingProducer) Produce(_ context.Context, msgs []kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, time.Now())
	p.n += len(msgs)
	return nil
}

func (p *countingProducer) stats() (calls, records int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls), p.n
}

// A lone record is published at once; records that arrive while the relay
// lingers after a publish go out together, not one produce request (and one
// broker fsync) each. The relay's clock is a fake: no wall time is judged.
func TestRelayBatchesAStreamButNotALoneRecord(t *testing.T) {
	l := newLog(t)
	p := &countingProducer{}
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	r := New(l, p, clk, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, lease.Fence{}); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-r.Idle()

	// The lone record goes out without the clock moving: no linger first.
	accept(t, l, 1, 1)
	require.Eventually(t, func() bool { _, n := p.stats(); return n == 1 }, 5*time.Second, time.Millisecond)

	// The relay now lingers (its one timer); what arrives meanwhile waits.
	require.NoError(t, clk.BlockUntil(ctx, 1))
	const stream = 100
	for range stream {
		accept(t, l, 1, 1)
	}
	calls0, n0 := p.stats()
	require.Equal(t, 1, n0, "nothing is published while lingering")
	clk.Advance(r.linger)
	require.Eventually(t, func() bool { _, n := p.stats(); return n == 1+stream }, 5*time.Second, time.Millisecond)
	calls, _ := p.stats()
	require.Equal(t, 1, calls-calls0, "the records that arrived while lingering go out in one produce request")
}

// A relay running under a lease records what it published only while the
// lease is held with its fence's token: once another node took the lease,
// the batch it just published stays unmarked (the new holder publishes it
// again) and Run returns.
func TestRelayStopsWhenItsFenceFails(t *testing.T) {
	const ttl = 15 * time.Second
	for _, tc := range []struct {
		name string
		lost bool
	}{
		{"lease held", false},
		{"lease taken by another node", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(filepath.Join(t.TempDir(), "g.db"), store.Options{NoSync: true}, slices.Concat(intakelog.Buckets, lease.Buckets)...)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			l := intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, clock.System)
			ids := accept(t, l, 5, 2)

			clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)) // the leases' clock
			mine := lease.New(db, "relay", "node-a", ttl, clk)
			_, _, ok, err := mine.Acquire(context.Background())
			require.NoError(t, err)
			require.True(t, ok)
			if tc.lost { // this node stalled past its lease; another took it
				clk.Advance(ttl + time.Second)
				_, _, ok, err = lease.New(db, "relay", "node-b", ttl, clk).Acquire(context.Background())
				require.NoError(t, err)
				require.True(t, ok)
			}

			p := &flakyProducer{}
			r := fast(New(l, p, clock.System, quiet()))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { r.Run(ctx, mine.Fence()); close(done) }()
			t.Cleanup(func() { cancel(); <-done })

			if !tc.lost {
				require.Eventually(t, func() bool { d, _ := l.Depth(); return d == 0 }, 10*time.Second, time.Millisecond)
				require.Equal(t, ids, envelopeIDs(t, p.messages()))
				return
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its fence failed")
			}
			require.Equal(t, ids, envelopeIDs(t, p.messages()), "published once, before the check")
			d, err := l.Depth()
			require.NoError(t, err)
			require.Equal(t, len(ids), d, "not marked: the next holder publishes them again")
			require.Zero(t, r.Stats().Published)
		})
	}
}
