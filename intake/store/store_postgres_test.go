package store_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/pgtest"
)

// The PostgreSQL engine beyond the conformance suite: several nodes on one
// database, failover, and what it does with database errors.

// stored reads a key of bucket b straight from the server of dsn, as an
// operator would: nil when there is none.
func stored(t *testing.T, dsn string, key string) []byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err, dsn)
	defer conn.Close(ctx)
	var v []byte
	err = conn.QueryRow(ctx, "SELECT value FROM gateway_kv WHERE bucket = 'b' AND key = $1", []byte(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	require.NoError(t, err)
	return v
}

func put(key, value string) func(*store.Tx) error {
	return func(tx *store.Tx) error { return tx.Bucket([]byte("b")).Put([]byte(key), []byte(value)) }
}

// Two nodes (two DBs on one database) increment one counter and one sequence
// from many goroutines each: SERIALIZABLE aborts one of two overlapping
// groups, which is rerun, so no increment is lost, and every committed
// Update's OnCommit runs exactly once.
func TestPostgresTwoNodesLoseNothing(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	nodes := []*store.DB{
		openPostgres(t, c.DSN(), store.PostgresOptions{}, "b"),
		openPostgres(t, c.DSN(), store.PostgresOptions{}, "b"),
	}
	const goroutines, each = 16, 25 // per node
	key := []byte("counter")
	var hooks atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines)
	for _, db := range nodes {
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					var ran atomic.Int64
					err := db.Update(context.Background(), func(tx *store.Tx) error {
						b := tx.Bucket([]byte("b"))
						var n uint64
						if v := b.Get(key); v != nil {
							n = binary.BigEndian.Uint64(v)
						}
						if _, err := b.NextSequence(); err != nil {
							return err
						}
						tx.OnCommit(func() { ran.Add(1) })
						return b.Put(key, binary.BigEndian.AppendUint64(nil, n+1))
					})
					if err == nil && ran.Load() != 1 {
						err = fmt.Errorf("OnCommit ran %d times", ran.Load())
					}
					if err != nil {
						errs <- err
						return
					}
					hooks.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	const total = 2 * goroutines * each
	var n, seq uint64
	require.NoError(t, nodes[0].View(func(tx *store.Tx) error {
		n = binary.BigEndian.Uint64(tx.Bucket([]byte("b")).Get(key))
		seq = tx.Bucket([]byte("b")).Sequence()
		return nil
	}))
	require.EqualValues(t, total, n, "counter")
	require.EqualValues(t, total, seq, "sequence")
	require.EqualValues(t, total, hooks.Load())
	a, b := nodes[0].Stats(), nodes[1].Stats()
	t.Logf("commits %d + %d, groups rerun after a conflict %d + %d", a.Commits, b.Commits, a.Conflicts, b.Conflicts)
	require.Positive(t, a.Conflicts+b.Conflicts, "the nodes' groups overlapped: the test exercised reruns")
}

// Two nodes claim keys with PutIfAbsent at once, as accepts claim
// idempotency keys. First random keys, as clients make them (both nodes'
// inserts land on the same index pages): no group is ever rerun, because a
// PutIfAbsent of a missing key takes no predicate lock (a Get then Put of
// each key made a third of the groups rerun in the cluster benchmark,
// docs/benchmarks.md). Then keys that every goroutine of both nodes claims:
// per key one stores, and every other claim gets its value.
func TestPostgresTwoNodesClaimKeys(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	nodes := []*store.DB{
		openPostgres(t, c.DSN(), store.PostgresOptions{}, "b"),
		openPostgres(t, c.DSN(), store.PostgresOptions{}, "b"),
	}
	const goroutines, each = 16, 40 // per node
	// claimAll has every goroutine of both nodes claim keys(n, g, i) in turn,
	// one Update each, and returns what each claim got per key ("": stored).
	claimAll := func(key func(g, i int) string) map[string][]string {
		var mu sync.Mutex
		claims := map[string][]string{}
		var wg sync.WaitGroup
		errs := make(chan error, 2*goroutines)
		for n, db := range nodes {
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						k := key(g, i)
						var got []byte
						if err := db.Update(context.Background(), func(tx *store.Tx) error {
							var err error
							got, err = tx.Bucket([]byte("b")).PutIfAbsent([]byte(k), []byte(fmt.Sprintf("node-%d/%d", n, g)))
							return err
						}); err != nil {
							errs <- err
							return
						}
						mu.Lock()
						claims[k] = append(claims[k], string(got))
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		return claims
	}

	random := claimAll(func(int, int) string { return rand.Text() })
	require.Len(t, random, 2*goroutines*each)
	for k, got := range random {
		require.Equal(t, []string{""}, got, k)
	}
	a, b := nodes[0].Stats(), nodes[1].Stats()
	t.Logf("random keys: commits %d + %d, groups rerun after a conflict %d + %d", a.Commits, b.Commits, a.Conflicts, b.Conflicts)
	require.Zero(t, a.Conflicts+b.Conflicts, "claims of distinct keys never conflict")

	shared := claimAll(func(g, i int) string { return fmt.Sprintf("shared-%d", (g+i)%each) })
	require.Len(t, shared, each)
	for k, got := range shared {
		winner := string(stored(t, c.DSN(), k))
		require.Len(t, got, 2*goroutines, k)
		stores := 0
		for _, g := range got {
			if g == "" {
				stores++
				continue
			}
			require.Equal(t, winner, g, "%s: every other claim gets the stored value", k)
		}
		require.Equal(t, 1, stores, "%s: one claim stores", k)
	}
}

// Two nodes claim the same two keys in opposite orders, each waiting inside
// its transaction for the other's first claim: their inserts wait for each
// other. PostgreSQL would find the deadlock only after deadlock_timeout (1 s
// by default, for superusers to change; 5 s here, so that the difference
// shows whatever the machine's load), stalling both groups; a claim's lock
// wait is bounded instead, its group rerun, and both Updates succeed long
// before, one node's values in both keys.
func TestPostgresClaimsInOppositeOrders(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	conn, err := pgx.Connect(context.Background(), c.DSN())
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), `ALTER SYSTEM SET deadlock_timeout = '5s'`)
	require.NoError(t, err)
	_, err = conn.Exec(context.Background(), `SELECT pg_reload_conf()`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(context.Background()))
	a := openPostgres(t, c.DSN(), store.PostgresOptions{}, "b")
	b := openPostgres(t, c.DSN(), store.PostgresOptions{}, "b")
	aFirst, bFirst := make(chan struct{}), make(chan struct{})
	var aOnce, bOnce sync.Once
	claim := func(db *store.DB, name string, first, second string, mine chan struct{}, once *sync.Once, theirs chan struct{}) error {
		return db.Update(context.Background(), func(tx *store.Tx) error {
			bk := tx.Bucket([]byte("b"))
			if _, err := bk.PutIfAbsent([]byte(first), []byte(name)); err != nil {
				return err
			}
			once.Do(func() { close(mine) })
			select { // the first run waits for the other's first claim; reruns find it done
			case <-theirs:
			case <-time.After(5 * time.Second):
				return errors.New("the other node never claimed its first key")
			}
			_, err := bk.PutIfAbsent([]byte(second), []byte(name))
			return err
		})
	}
	start := time.Now()
	errs := make(chan error, 2)
	go func() { errs <- claim(a, "a", "k1", "k2", aFirst, &aOnce, bFirst) }()
	go func() { errs <- claim(b, "b", "k2", "k1", bFirst, &bOnce, aFirst) }()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	took := time.Since(start)
	t.Logf("both claims done in %v; groups rerun: %d + %d", took, a.Stats().Conflicts, b.Stats().Conflicts)
	require.Less(t, took, 2500*time.Millisecond, "no wait for PostgreSQL's deadlock detection")
	k1, k2 := stored(t, c.DSN(), "k1"), stored(t, c.DSN(), "k2")
	require.Equal(t, k1, k2, "one node claimed both")
}

// An Update acknowledged before the primary crashed is on the promoted
// standby (synchronous replication), and the same DB goes on there.
func TestPostgresAcknowledgedSurvivesFailover(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Standby: true})
	db := openPostgres(t, c.DSN(), store.PostgresOptions{UnavailableBudget: time.Minute}, "b")
	require.NoError(t, db.Update(context.Background(), put("acked", "v1")))

	c.KillPrimary()
	c.Promote()
	require.Equal(t, []byte("v1"), stored(t, c.StandbyDSN(), "acked"))
	var got []byte
	require.NoError(t, db.View(func(tx *store.Tx) error {
		got = tx.Bucket([]byte("b")).Get([]byte("acked"))
		return nil
	}), "the DB's pool finds the promoted standby")
	require.Equal(t, []byte("v1"), got)
	require.NoError(t, db.Update(context.Background(), put("after", "v2")))
	require.Equal(t, []byte("v2"), stored(t, c.StandbyDSN(), "after"))
}

// An Update that arrives while no server accepts writes is retried until
// the standby is promoted, within the budget; with a budget that runs out
// first, Update and View fail with ErrUnavailable, and the DB works again once
// a primary is back.
func TestPostgresUpdateDuringFailover(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Standby: true})
	patient := openPostgres(t, c.DSN(), store.PostgresOptions{UnavailableBudget: time.Minute}, "b")
	hasty := openPostgres(t, c.DSN(), store.PostgresOptions{UnavailableBudget: 300 * time.Millisecond}, "b")
	require.NoError(t, patient.Update(context.Background(), put("warm", "v")))
	require.NoError(t, hasty.Update(context.Background(), put("warm", "v")))

	c.KillPrimary()
	start := time.Now()
	err := hasty.Update(context.Background(), put("hasty", "v"))
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.Less(t, time.Since(start), 10*time.Second, "the budget, plus an attempt at most")
	require.ErrorIs(t, hasty.View(func(*store.Tx) error { return nil }), store.ErrUnavailable)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, patient.Update(ctx, put("given up", "v")), context.DeadlineExceeded,
		"the caller's ctx ends the wait before the budget")

	done := make(chan error, 1)
	go func() { done <- patient.Update(context.Background(), put("during", "v")) }()
	require.Eventually(t, func() bool { return patient.Stats().Unavailable > 0 }, 10*time.Second, 5*time.Millisecond,
		"the Update is waiting for a server")
	select {
	case err := <-done:
		t.Fatalf("Update returned %v with no primary", err)
	default:
	}
	c.Promote()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the Update did not finish after Promote")
	}
	require.Equal(t, []byte("v"), stored(t, c.StandbyDSN(), "during"))
	require.NoError(t, hasty.Update(context.Background(), put("hasty", "v")), "works again on the new primary")
	require.Equal(t, []byte("v"), stored(t, c.StandbyDSN(), "hasty"))
}

// Nodes starting at once on an empty database create the schema once,
// without colliding.
func TestPostgresConcurrentOpen(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	const nodes = 8
	dbs := make([]*store.DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = store.OpenPostgres(context.Background(), c.DSN(), store.PostgresOptions{MaxConns: 2}, "b", "c")
		}()
	}
	wg.Wait()
	for i := range nodes {
		require.NoError(t, errs[i])
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	for i, db := range dbs {
		require.NoError(t, db.Update(context.Background(), put(string(rune('a'+i)), "v")))
	}
	var keys int
	require.NoError(t, dbs[0].View(func(tx *store.Tx) error {
		require.NotNil(t, tx.Bucket([]byte("c")))
		return tx.Bucket([]byte("b")).ForEach(func(_, _ []byte) error { keys++; return nil })
	}))
	require.Equal(t, nodes, keys)
}

// A database error inside Get, which cannot return it, is not lost: the
// transaction fails although its function returned nil, and later
// operations in it fail at once. Here statements time out
// (statement_timeout, shorter than the groups' lock_timeout) on a table
// another session holds locked.
func TestPostgresErrorInGetFailsTheTransaction(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	db := openPostgres(t, c.DSN()+"&statement_timeout=50", store.PostgresOptions{}, "b")
	require.NoError(t, db.Update(context.Background(), put("k", "v")))

	ctx := context.Background()
	locker, err := pgx.Connect(ctx, c.PrimaryDSN())
	require.NoError(t, err)
	defer locker.Close(ctx)
	lock, err := locker.Begin(ctx)
	require.NoError(t, err)
	_, err = lock.Exec(ctx, "LOCK TABLE gateway_kv IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	var got []byte
	var putErr error
	err = db.Update(ctx, func(tx *store.Tx) error {
		b := tx.Bucket([]byte("b"))
		got = b.Get([]byte("k"))
		putErr = b.Put([]byte("k2"), []byte("v"))
		return nil // as a careless function would
	})
	require.ErrorContains(t, err, "57014", "Update fails with Get's error (query_canceled)")
	require.Nil(t, got)
	require.ErrorContains(t, putErr, "57014", "the doomed transaction refuses what follows")
	err = db.View(func(tx *store.Tx) error {
		_, _ = tx.Bucket([]byte("b")).Cursor().First()
		return nil
	})
	require.ErrorContains(t, err, "57014", "View too, from a cursor")

	require.NoError(t, lock.Rollback(ctx))
	require.Nil(t, stored(t, c.PrimaryDSN(), "k2"))
	require.NoError(t, db.Update(ctx, put("k2", "v")))

	// A bucket another node created after this one opened is looked up;
	// a failed look-up gives a bucket that fails, not nil (no such bucket).
	other := openPostgres(t, c.DSN(), store.PostgresOptions{})
	require.NoError(t, other.CreateBuckets(ctx, "late"))
	lock, err = locker.Begin(ctx)
	require.NoError(t, err)
	_, err = lock.Exec(ctx, "LOCK TABLE gateway_buckets IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	var missing bool
	err = db.Update(ctx, func(tx *store.Tx) error {
		b := tx.Bucket([]byte("late"))
		if missing = b == nil; missing {
			return nil
		}
		putErr = b.Put([]byte("k"), []byte("v"))
		return nil
	})
	require.False(t, missing)
	require.ErrorContains(t, err, "57014")
	require.ErrorContains(t, putErr, "57014")
	require.NoError(t, lock.Rollback(ctx))
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		return tx.Bucket([]byte("late")).Put([]byte("k"), []byte("v"))
	}))
}

// PostgreSQL's B-tree cannot index a key of more than about 2,700 bytes that
// does not compress (store.MaxKeySize is 32,768): the write fails with
// SQLSTATE 54000 when it is sent, at the commit, and only its own Update
// fails, though it shares a group with others (which is split until it is
// alone).
func TestPostgresIncompressibleLongKey(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	db := openPostgres(t, c.DSN(), store.PostgresOptions{}, "b")
	long := make([]byte, 4000)
	_, _ = rand.Read(long)
	var wg sync.WaitGroup
	var longErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		longErr = db.Update(context.Background(), put(string(long), "v"))
	}()
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, db.Update(context.Background(), put(fmt.Sprintf("short-%d", i), "v")))
		}()
	}
	wg.Wait()
	require.ErrorContains(t, longErr, "54000")
	for i := range 16 {
		require.Equal(t, []byte("v"), stored(t, c.PrimaryDSN(), fmt.Sprintf("short-%d", i)))
	}
}

// A bucket created by an Update that then fails does not exist afterwards,
// though that Update looked it up.
func TestPostgresBucketOfAFailedUpdate(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	db := openPostgres(t, c.DSN(), store.PostgresOptions{})
	boom := errors.New("boom")
	require.ErrorIs(t, db.Update(context.Background(), func(tx *store.Tx) error {
		if err := store.CreateBucketIn(tx, "gone"); err != nil {
			return err
		}
		if tx.Bucket([]byte("gone")) == nil {
			return errors.New("not there after its creation")
		}
		return boom
	}), boom)
	var missing bool
	require.NoError(t, db.Update(context.Background(), func(tx *store.Tx) error {
		missing = tx.Bucket([]byte("gone")) == nil
		return nil
	}))
	require.True(t, missing)
}
