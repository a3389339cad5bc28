package intakelog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

type fixture struct {
	log   *intakelog.Log
	db    *store.DB
	clk   *clock.Fake
	stamp normalize.Stamp
	path  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.db")
	// fsync is the store's business (intake/store tests it); here it
	// would only slow the thousands of commits down.
	db, err := store.Open(path, store.Options{NoSync: true}, intakelog.Buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	return &fixture{db: db, clk: clk, path: path,
		log: intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, clk),
		stamp: normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: 3 * time.Minute,
			Handling: 24 * time.Hour, Clock: clk}}
}

func (f *fixture) env(key, text string) *normalize.Envelope {
	e := f.stamp.New(normalize.ChannelWeb, key, "web-citizen")
	e.Content.Text = text
	return e
}

func (f *fixture) accept(t *testing.T, key, body string, o intakelog.AcceptOptions) (intakelog.Result, error) {
	t.Helper()
	if o.Fingerprint == "" && body != "" {
		o.Fingerprint = intakelog.Fingerprint([]byte(body))
	}
	return f.log.Accept(context.Background(), f.env(key, body), o)
}

// acceptMany accepts n envelopes from concurrent callers, so that they share
// group commits, as a busy gateway's do.
func (f *fixture) acceptMany(t *testing.T, n int, spec func(i int) (string, intakelog.AcceptOptions)) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		key, o := spec(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.log.Accept(context.Background(), f.env(key, "text "+key), o)
			errs <- err
		}()
		if i%256 == 255 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func (f *fixture) depth(t *testing.T) int {
	t.Helper()
	d, err := f.log.Depth()
	require.NoError(t, err)
	return d
}

func TestAcceptIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ev := normalize.NewEvent(normalize.EventRequestAccepted, f.clk.Now())
	first, err := f.accept(t, "web:k1", "pothole", intakelog.AcceptOptions{Owner: "citizen:a", Events: []*normalize.Event{ev}})
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	require.Equal(t, "citizen:a", first.Owner)
	require.Equal(t, 2, f.depth(t), "the envelope and its event")

	f.clk.Advance(time.Minute)
	again, err := f.accept(t, "web:k1", "pothole", intakelog.AcceptOptions{Owner: "citizen:b"})
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.Receipt.ID, again.Receipt.ID)
	require.True(t, first.Receipt.ReceivedAt.Equal(again.Receipt.ReceivedAt), "the first answer, not a new one")
	require.True(t, first.Receipt.HandlingDue.Equal(again.Receipt.HandlingDue))
	require.Equal(t, "citizen:a", again.Owner, "the first filer owns it")
	require.Equal(t, 3, f.depth(t), "no second envelope: only the request.duplicate event")
	recs, err := f.log.Pending(10)
	require.NoError(t, err)
	var last struct {
		Type       string `json:"type"`
		EnvelopeID string `json:"envelope_id"`
	}
	require.NoError(t, json.Unmarshal(recs[2].Value, &last))
	require.Equal(t, normalize.EventRequestDuplicate, last.Type)
	require.Equal(t, first.Receipt.ID, last.EnvelopeID)

	req, err := f.log.Request(first.Receipt.ID)
	require.NoError(t, err)
	require.Equal(t, normalize.StatusAccepted, req.Status)
	require.Equal(t, "web:k1", req.IdempotencyKey)
	_, err = f.log.Request("nope")
	require.ErrorIs(t, err, intakelog.ErrNotFound)
}

func TestAcceptConflictOnADifferentBody(t *testing.T) {
	f := newFixture(t)
	_, err := f.accept(t, "web:k1", "pothole", intakelog.AcceptOptions{})
	require.NoError(t, err)
	_, err = f.accept(t, "web:k1", "a different pothole", intakelog.AcceptOptions{})
	require.ErrorIs(t, err, intakelog.ErrConflict)
	require.Equal(t, 1, f.depth(t))
	// Without fingerprints (channels that have no body of their own) it is a duplicate.
	res, err := f.log.Accept(context.Background(), f.env("web:k1", "x"), intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.True(t, res.Duplicate)
}

func TestNonceIsSingleUse(t *testing.T) {
	f := newFixture(t)
	o := intakelog.AcceptOptions{Nonce: "n1", NonceScope: "app:k1"}
	_, err := f.accept(t, "app:k1:r1", "a", o)
	require.NoError(t, err)
	// Replayed: refused even though the idempotency key would be a duplicate,
	// and with another key it creates nothing.
	_, err = f.accept(t, "app:k1:r1", "a", o)
	require.ErrorIs(t, err, intakelog.ErrReplay)
	_, err = f.accept(t, "app:k1:r2", "b", o)
	require.ErrorIs(t, err, intakelog.ErrReplay)
	require.Equal(t, 1, f.depth(t))
	// Scopes are independent; UseNonce shares the same space.
	_, err = f.accept(t, "app:k2:r1", "a", intakelog.AcceptOptions{Nonce: "n1", NonceScope: "app:k2"})
	require.NoError(t, err)
	require.ErrorIs(t, f.log.UseNonce(context.Background(), "app:k1", "n1"), intakelog.ErrReplay)
	require.NoError(t, f.log.UseNonce(context.Background(), "app:k1", "n2"))
	require.ErrorIs(t, f.log.UseNonce(context.Background(), "app:k1", "n2"), intakelog.ErrReplay)
}

func TestPendingAndMarkRelayedKeepOrder(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 10 {
		res, err := f.accept(t, fmt.Sprintf("web:%d", i), fmt.Sprintf("text %d", i), intakelog.AcceptOptions{})
		require.NoError(t, err)
		ids = append(ids, res.Receipt.ID)
	}
	recs, err := f.log.Pending(4)
	require.NoError(t, err)
	require.Len(t, recs, 4)
	for i, r := range recs {
		var env normalize.Envelope
		require.NoError(t, json.Unmarshal(r.Value, &env))
		require.Equal(t, ids[i], env.ID, "oldest first")
		require.Equal(t, "intake.envelopes", r.Topic)
		require.Equal(t, env.CitizenKey, r.Key)
		require.Equal(t, map[string]string{"schema": "envelope/v1", "channel": "web", "idempotency-key": env.IdempotencyKey}, r.Headers)
		if i > 0 {
			require.Greater(t, r.Seq, recs[i-1].Seq)
		}
	}
	ctx := context.Background()
	require.NoError(t, f.log.MarkRelayed(ctx, recs[:4]))
	rest, err := f.log.Pending(100)
	require.NoError(t, err)
	require.Len(t, rest, 6)
	require.Equal(t, recs[3].Seq+1, rest[0].Seq)
	require.Equal(t, 6, f.depth(t))

	// Marking an older position never moves the cursor back.
	require.NoError(t, f.log.MarkRelayed(ctx, recs[:1]))
	require.Equal(t, 6, f.depth(t))

	// Events emitted later come after, in the same outbox.
	ev := normalize.NewEvent(normalize.EventSLAWarning, f.clk.Now())
	ev.EnvelopeID = ids[0]
	require.NoError(t, f.log.Emit(ctx, ev))
	rest, err = f.log.Pending(100)
	require.NoError(t, err)
	require.Len(t, rest, 7)
	last := rest[len(rest)-1]
	require.Equal(t, "intake.events", last.Topic)
	require.Equal(t, ids[0], last.Key)
	require.Equal(t, "event/v1", last.Headers["schema"])

	require.NoError(t, f.log.MarkRelayed(ctx, []intakelog.Record{last}))
	require.Zero(t, f.depth(t))
	none, err := f.log.Pending(100)
	require.NoError(t, err)
	require.Empty(t, none)
}

// The outbox survives a restart of the store with its relay cursor.
func TestPendingSurvivesReopen(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		_, err := f.accept(t, fmt.Sprintf("web:%d", i), "x", intakelog.AcceptOptions{})
		require.NoError(t, err)
	}
	recs, err := f.log.Pending(1)
	require.NoError(t, err)
	require.NoError(t, f.log.MarkRelayed(context.Background(), recs[:1]))
	require.NoError(t, f.db.Close())

	db, err := store.Open(f.path, store.Options{}, intakelog.Buckets...)
	require.NoError(t, err)
	defer db.Close()
	l := intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, f.clk)
	rest, err := l.Pending(10)
	require.NoError(t, err)
	require.Len(t, rest, 2)
	require.Equal(t, recs[0].Seq+1, rest[0].Seq)
}

func TestCompactRemovesOnlyWhatIsRelayedAndOld(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const retention = 72 * time.Hour
	for i := range 5 {
		_, err := f.accept(t, fmt.Sprintf("web:%d", i), "x", intakelog.AcceptOptions{Nonce: fmt.Sprint(i), NonceScope: "app:k1"})
		require.NoError(t, err)
	}
	recs, _ := f.log.Pending(100)
	require.NoError(t, f.log.MarkRelayed(ctx, recs[:3])) // 3 of 5 relayed

	n, err := f.log.Compact(ctx, retention)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is old yet")

	f.clk.Advance(retention + time.Minute)
	n, err = f.log.Compact(ctx, retention)
	require.NoError(t, err)
	require.Equal(t, 3+5+5, n, "3 relayed outbox records, 5 idempotency keys, 5 nonces")
	require.Equal(t, 2, f.depth(t), "records not yet in Kafka are never compacted")
	// The keys are forgotten: the same key now makes a new request.
	res, err := f.accept(t, "web:0", "x", intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.False(t, res.Duplicate)
}

// A gateway that runs for a long time does not grow: after each period's
// compaction the store holds about one retention's worth of records.
func TestCompactBoundsGrowth(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const retention, perPeriod = time.Hour, 500
	var sizes []int64
	count := func(bucket string) int {
		n := 0
		require.NoError(t, f.db.View(func(tx *store.Tx) error {
			return tx.Bucket([]byte(bucket)).ForEach(func(_, _ []byte) error { n++; return nil })
		}))
		return n
	}
	for period := range 6 {
		f.acceptMany(t, perPeriod, func(i int) (string, intakelog.AcceptOptions) {
			ev := normalize.NewEvent(normalize.EventRequestAccepted, f.clk.Now())
			return fmt.Sprintf("web:%d-%d", period, i), intakelog.AcceptOptions{Nonce: fmt.Sprintf("%d-%d", period, i),
				NonceScope: "app:k1", Events: []*normalize.Event{ev}}
		})
		recs, err := f.log.Pending(10 * perPeriod)
		require.NoError(t, err)
		require.NoError(t, f.log.MarkRelayed(ctx, recs))
		f.clk.Advance(retention + time.Second)
		for { // Compact works in bounded chunks; run it until it has nothing left.
			n, err := f.log.Compact(ctx, retention)
			require.NoError(t, err)
			if n == 0 {
				break
			}
		}
		require.Zero(t, count("outbox"), "period %d", period)
		require.Zero(t, count("idem"), "period %d", period)
		require.Zero(t, count("nonces"), "period %d", period)
		fi, err := os.Stat(f.path)
		require.NoError(t, err)
		sizes = append(sizes, fi.Size())
	}
	require.LessOrEqual(t, sizes[len(sizes)-1], 2*sizes[1], "the file grows with every period: %v", sizes)
}

// One Compact call touches a bounded number of records, so that it never
// holds the single writer (and every citizen's request) for long.
func TestCompactWorksInBoundedChunks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.acceptMany(t, 4500, func(i int) (string, intakelog.AcceptOptions) {
		return fmt.Sprintf("web:%d", i), intakelog.AcceptOptions{}
	})
	recs, err := f.log.Pending(5000)
	require.NoError(t, err)
	require.Len(t, recs, 4500)
	require.NoError(t, f.log.MarkRelayed(ctx, recs))
	f.clk.Advance(2 * time.Hour)
	n, err := f.log.Compact(ctx, time.Hour)
	require.NoError(t, err)
	require.LessOrEqual(t, n, 4*2000)
	require.Greater(t, n, 0)
	total := n
	for n > 0 {
		n, err = f.log.Compact(ctx, time.Hour)
		require.NoError(t, err)
		total += n
	}
	require.Equal(t, 4500+4500, total, "every outbox record and idempotency key, eventually")
}
