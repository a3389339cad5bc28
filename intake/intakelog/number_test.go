package intakelog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
)

func (f *fixture) reopen(t *testing.T) {
	t.Helper()
	require.NoError(t, f.db.Close())
	db, err := store.Open(f.path, store.Options{NoSync: true}, intakelog.Buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	f.db = db
	f.log = intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, f.clk)
}

// number checks that n is a valid number of day and returns its sequence.
func number(t *testing.T, n, day string) uint64 {
	t.Helper()
	d, seq, err := normalize.ParseNumber(n)
	require.NoError(t, err, n)
	require.Equal(t, day, d, n)
	return seq
}

// 10,000 requests from 64 goroutines get 10,000 distinct valid numbers of
// their day; after a restart the next numbers are above every earlier one
// and none is handed out twice.
func TestNumbersAreUniqueUnderConcurrencyAndAcrossRestarts(t *testing.T) {
	f := newFixture(t)
	day := normalize.NumberDay(f.clk.Now()) // 2026-03-02 17:30 in Beijing
	require.Equal(t, "260302", day)
	const total, workers = 10_000, 64
	var (
		mu   sync.Mutex
		seen = map[string]string{} // number → envelope id
		wg   sync.WaitGroup
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				env := f.env(fmt.Sprintf("web:%d", i), "text")
				res, err := f.log.Accept(context.Background(), env, intakelog.AcceptOptions{})
				if err != nil {
					errs <- err
					return
				}
				if res.Receipt.Number == "" || res.Receipt.Number != env.Number {
					errs <- fmt.Errorf("receipt %q, envelope %q", res.Receipt.Number, env.Number)
					return
				}
				mu.Lock()
				if prev, dup := seen[env.Number]; dup {
					errs <- fmt.Errorf("number %s given to %s and %s", env.Number, prev, env.ID)
				}
				seen[env.Number] = env.ID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, seen, total)
	var highest uint64
	for n, id := range seen {
		highest = max(highest, number(t, n, day))
		req, err := f.log.RequestByNumber(n)
		require.NoError(t, err)
		require.Equal(t, id, req.ID)
		require.Equal(t, n, req.Number)
	}
	require.Equal(t, uint64(total), highest, "no gaps when every transaction commits")

	f.reopen(t)
	for i := range 50 {
		env := f.env(fmt.Sprintf("web:after-%d", i), "text")
		_, err := f.log.Accept(context.Background(), env, intakelog.AcceptOptions{})
		require.NoError(t, err)
		require.Greater(t, number(t, env.Number, day), highest, env.Number)
		require.NotContains(t, seen, env.Number)
		seen[env.Number] = env.ID
	}
	// Numbers of earlier requests are still found after the restart.
	for n, id := range seen {
		req, err := f.log.RequestByNumber(n)
		require.NoError(t, err)
		require.Equal(t, id, req.ID)
	}
}

// The envelope on Kafka and the status record carry the number the receipt
// gave; a repeat of the idempotency key gets the first request's number.
func TestNumberIsOnTheEnvelopeAndRepeatsGetTheFirst(t *testing.T) {
	f := newFixture(t)
	first, err := f.accept(t, "web:same", "body", intakelog.AcceptOptions{})
	require.NoError(t, err)
	number(t, first.Receipt.Number, "260302")

	recs, err := f.log.Pending(10)
	require.NoError(t, err)
	var env normalize.Envelope
	require.NoError(t, json.Unmarshal(recs[0].Value, &env))
	require.Equal(t, first.Receipt.Number, env.Number)
	require.NoError(t, env.Validate())
	req, err := f.log.Request(first.Receipt.ID)
	require.NoError(t, err)
	require.Equal(t, first.Receipt.Number, req.Number)

	again, err := f.accept(t, "web:same", "body", intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.Receipt.Number, again.Receipt.Number)
	require.Equal(t, first.Receipt, again.Receipt)
}

// A failed transaction leaves a gap; its number is not handed out again and
// finds nothing.
func TestFailedTransactionLeavesAGap(t *testing.T) {
	f := newFixture(t)
	one, err := f.accept(t, "web:1", "x", intakelog.AcceptOptions{})
	require.NoError(t, err)
	var lost string
	boom := errors.New("boom")
	err = f.db.Update(context.Background(), func(tx *store.Tx) error {
		env := f.env("web:2", "x")
		if _, err := f.log.AcceptTx(tx, env, intakelog.AcceptOptions{}); err != nil {
			return err
		}
		lost = env.Number
		return boom
	})
	require.ErrorIs(t, err, boom)
	three, err := f.accept(t, "web:3", "x", intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3}, []uint64{number(t, one.Receipt.Number, "260302"), number(t, lost, "260302"),
		number(t, three.Receipt.Number, "260302")})
	_, err = f.log.RequestByNumber(lost)
	require.ErrorIs(t, err, intakelog.ErrNotFound)
	_, err = f.log.RequestByNumber(one.Receipt.Number[:11] + "x")
	require.ErrorIs(t, err, normalize.ErrBadNumber)
}

// The date is the request's in Beijing: at 16:00 UTC a new day's sequence
// starts at 1.
func TestNumbersStartAgainEachDayInBeijing(t *testing.T) {
	f := newFixture(t)
	f.clk.Set(time.Date(2026, 3, 2, 15, 59, 59, 0, time.UTC))
	a, err := f.accept(t, "web:a", "x", intakelog.AcceptOptions{})
	require.NoError(t, err)
	f.clk.Set(time.Date(2026, 3, 2, 16, 0, 0, 0, time.UTC))
	b, err := f.accept(t, "web:b", "x", intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(1), number(t, a.Receipt.Number, "260302"))
	require.Equal(t, uint64(1), number(t, b.Receipt.Number, "260303"))
}

// Compaction forgets a handled request's look-up entry with the request,
// but never its day's high-water mark.
func TestCompactForgetsTheNumberNotTheSequence(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	res, err := f.accept(t, "web:old", "x", intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.NoError(t, f.log.UpdateRequest(ctx, res.Receipt.ID, func(_ *store.Tx, r *intakelog.Request) (bool, error) {
		at := f.clk.Now()
		r.HandledAt = &at
		return true, nil
	}))
	f.clk.Advance(intakelog.RequestRetention + time.Hour)
	for {
		n, err := f.log.Compact(ctx, time.Hour)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	_, err = f.log.RequestByNumber(res.Receipt.Number)
	require.ErrorIs(t, err, intakelog.ErrNotFound)

	// Back on the old request's day (a clock set back): the sequence goes on.
	f.clk.Advance(-intakelog.RequestRetention - time.Hour)
	f.reopen(t)
	next, err := f.accept(t, "web:next", "x", intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(2), number(t, next.Receipt.Number, "260302"))
}

// Three "nodes" (logs) on one store, as in cluster mode, hand out distinct
// numbers from blocks they reserve; a node that starts again (a new log)
// continues above every block ever reserved.
func TestSharedNumbersAcrossNodes(t *testing.T) {
	f := newFixture(t)
	day := normalize.NumberDay(f.clk.Now())
	topics := intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}
	nodes := []*intakelog.Log{
		intakelog.New(f.db, topics, f.clk, intakelog.SharedNumbers(10)),
		intakelog.New(f.db, topics, f.clk, intakelog.SharedNumbers(10)),
		intakelog.New(f.db, topics, f.clk, intakelog.SharedNumbers(10)),
	}
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
		wg   sync.WaitGroup
	)
	for n, l := range nodes {
		for w := range 4 {
			wg.Go(func() {
				for i := range 50 {
					env := f.env(fmt.Sprintf("node%d:%d:%d", n, w, i), "text")
					var err error
					if w%2 == 0 {
						_, err = l.Accept(context.Background(), env, intakelog.AcceptOptions{})
					} else { // inside a caller's transaction, as a chat's first message is
						err = f.db.Update(context.Background(), func(tx *store.Tx) error {
							_, err := l.AcceptTx(tx, env, intakelog.AcceptOptions{})
							return err
						})
					}
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					assert.False(t, seen[env.Number], "number %s handed out twice", env.Number)
					seen[env.Number] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	require.Len(t, seen, 600)
	var highest uint64
	for n := range seen {
		highest = max(highest, number(t, n, day))
	}
	require.LessOrEqual(t, highest, uint64(600+3*4*10), "at most one unused block per node and caller")
	restarted := intakelog.New(f.db, topics, f.clk, intakelog.SharedNumbers(10))
	env := f.env("after-restart", "text")
	_, err := restarted.Accept(context.Background(), env, intakelog.AcceptOptions{})
	require.NoError(t, err)
	require.Greater(t, number(t, env.Number, day), highest)
}
