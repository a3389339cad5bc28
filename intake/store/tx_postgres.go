package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The PostgreSQL engine's Tx and Bucket. Reads are statements on the
// transaction's connection, one round trip each (pages of rows for ForEach
// and cursors). Writes are kept in the Tx (the last one per key) and sent
// together, in one round trip, before the COMMIT, or before a page read that
// must see them: a group of hundreds of accepts, a dozen writes each, would
// otherwise spend its time waiting for round trips, in a transaction whose
// length is what makes other nodes' transactions conflict with it. A Get
// answers from the kept writes first. PutIfAbsent alone writes at once: its
// answer is whether it stored. Keys are bytea, which PostgreSQL orders
// bytewise, as bytes.Compare does.
//
// Get and the Cursor's moves have no error to return. A database error there
// (or anywhere in the transaction) is recorded on the Tx: the transaction is
// then doomed (PostgreSQL refuses every later statement of it), every later
// operation fails at once (Get returns nil, Put its error), and the
// transaction fails when its function returns, even if that function
// returned nil: Update returns the error, or reruns the group when it is a
// serialization failure or a lost connection; View returns it. A function
// never commits having read a nil that was really an error. For the same
// reason Tx.Bucket, when looking a bucket up fails, returns a bucket whose
// operations fail, not nil.

// Errors of Put, Delete, NextSequence and Cursor.Delete that are the
// caller's, with bbolt's wording.
var (
	errKeyRequired   = errors.New("store: key required")
	errKeyTooLarge   = errors.New("store: key too large")
	errTxNotWritable = errors.New("store: tx not writable")
)

const (
	sqlBucketExists = `SELECT true FROM gateway_buckets WHERE name = $1`
	sqlCreateBucket = `INSERT INTO gateway_buckets (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`
	sqlGet          = `SELECT value FROM gateway_kv WHERE bucket = $1 AND key = $2`
	sqlPutMany      = `INSERT INTO gateway_kv (bucket, key, value)
		SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])
		ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value`
	// No conflict target's row is read under the transaction's snapshot, so
	// it takes no predicate lock (PostgreSQL checks the index with a dirty
	// snapshot). A row another transaction inserted and committed since
	// this one began is a serialization failure: the group is rerun.
	sqlInsert       = `INSERT INTO gateway_kv (bucket, key, value) VALUES ($1, $2, $3) ON CONFLICT (bucket, key) DO NOTHING`
	sqlDeleteMany   = `DELETE FROM gateway_kv WHERE (bucket, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))`
	sqlNextSequence = `UPDATE gateway_buckets SET seq = seq + 1 WHERE name = $1 RETURNING seq`
	sqlSequence     = `SELECT seq FROM gateway_buckets WHERE name = $1`
)

type pgTx struct {
	ctx      context.Context
	e        *pgEngine
	tx       pgx.Tx
	writable bool
	buckets  map[string]*pgBucket // the same name gives the same bucket
	hooks    []func()
	created  []string // buckets created: known to exist once committed
	err      error    // the first database error: the transaction is doomed
	// writes not yet sent, the last per bucket and key; order keeps them in
	// the order of their first write (a deterministic statement).
	writes map[writeKey]*write
	order  []*write
	// flushFailed: the error is a write's, of a function before the one
	// that was running (or of any, at the COMMIT).
	flushFailed bool
}

type writeKey struct{ bucket, key string }

// write is a kept Put (value non-nil) or Delete (value nil).
type write struct {
	bucket string
	key    []byte
	value  []byte
}

func newPgTx(ctx context.Context, e *pgEngine, tx pgx.Tx, writable bool) *pgTx {
	return &pgTx{ctx: ctx, e: e, tx: tx, writable: writable}
}

// fail records err as the transaction's error if it is the first, and
// returns it.
func (t *pgTx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return err
}

// bucket looks a bucket up in gateway_buckets unless the engine knows it
// exists. After a database error (in the look-up or before it) it returns a
// bucket whose operations fail with that error, never nil: nil means "no such
// bucket", and features that know their buckets exist call them unchecked.
func (t *pgTx) bucket(name []byte) Bucket {
	if b, ok := t.buckets[string(name)]; ok {
		return b
	}
	key := string(name)
	if _, ok := t.e.known.Load(key); !ok && t.err == nil {
		var exists bool
		err := t.tx.QueryRow(t.ctx, sqlBucketExists, key).Scan(&exists)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // an untyped nil, so that callers' == nil holds
		}
		if err != nil {
			_ = t.fail(err)
		} else if !slices.Contains(t.created, key) { // created here: known once committed
			t.e.known.Store(key, true)
		}
	}
	if t.buckets == nil {
		t.buckets = make(map[string]*pgBucket)
	}
	b := &pgBucket{t: t, name: key}
	t.buckets[key] = b
	return b
}

// keep records a write (value nil: a Delete) for flush.
func (t *pgTx) keep(bucket string, key, value []byte) {
	k := writeKey{bucket, string(key)}
	if w, ok := t.writes[k]; ok {
		w.value = value
		return
	}
	if t.writes == nil {
		t.writes = make(map[writeKey]*write)
	}
	w := &write{bucket: bucket, key: bytes.Clone(key), value: value}
	t.writes[k] = w
	t.order = append(t.order, w)
}

// flush sends the kept writes in one round trip: one statement for the
// puts, one for the deletes (each key is in one of them only, so their order
// does not matter). A failure dooms the transaction.
func (t *pgTx) flush() error {
	if t.err != nil || len(t.order) == 0 {
		return t.err
	}
	var put, del struct {
		buckets []string
		keys    [][]byte
		values  [][]byte
	}
	// In key order: two nodes whose transactions write the same keys then
	// take their row locks in the same order, and never deadlock over them
	// (PutIfAbsent's inserts, in call order, may: see beginGroup).
	slices.SortFunc(t.order, func(a, b *write) int {
		return cmp.Or(strings.Compare(a.bucket, b.bucket), bytes.Compare(a.key, b.key))
	})
	for _, w := range t.order {
		if w.value == nil {
			del.buckets, del.keys = append(del.buckets, w.bucket), append(del.keys, w.key)
			continue
		}
		put.buckets, put.keys, put.values = append(put.buckets, w.bucket), append(put.keys, w.key), append(put.values, w.value)
	}
	t.writes, t.order = nil, nil
	batch := &pgx.Batch{}
	if len(put.keys) > 0 {
		batch.Queue(sqlPutMany, put.buckets, put.keys, put.values)
	}
	if len(del.keys) > 0 {
		batch.Queue(sqlDeleteMany, del.buckets, del.keys)
	}
	if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
		t.flushFailed = true
		return t.fail(err)
	}
	return nil
}

// onCommit keeps fn for after the COMMIT; a View never commits, and a rerun
// starts from a new pgTx, so only the run that commits runs its hooks.
func (t *pgTx) onCommit(fn func()) { t.hooks = append(t.hooks, fn) }

func (t *pgTx) createBucket(name []byte) error {
	if !t.writable {
		return errTxNotWritable
	}
	if t.err != nil {
		return t.err
	}
	if _, err := t.tx.Exec(t.ctx, sqlCreateBucket, string(name)); err != nil {
		return t.fail(err)
	}
	t.created = append(t.created, string(name))
	return nil
}

type pgBucket struct {
	t    *pgTx
	name string
	// gen counts the bucket's writes in this transaction: a cursor's page
	// read before the last write is not used again.
	gen uint64
}

// pgRow is a key and its value.
type pgRow struct{ k, v []byte }

func (b *pgBucket) Get(key []byte) []byte {
	t := b.t
	if t.err != nil {
		return nil
	}
	if w, ok := t.writes[writeKey{b.name, string(key)}]; ok {
		return w.value // nil once deleted
	}
	var v []byte
	err := t.tx.QueryRow(t.ctx, sqlGet, b.name, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		_ = t.fail(err)
		return nil
	}
	if v == nil {
		v = []byte{} // a stored empty value is not "absent"
	}
	return v
}

func (b *pgBucket) Put(key, value []byte) error {
	if err := b.checkPut(key); err != nil {
		return err
	}
	// A copy of the value: a stored empty value is not nil (nil marks a
	// Delete, and would be NULL). (Callers must not modify it before the
	// commit anyway: bbolt keeps their slice.)
	b.gen++ // a page a cursor read before is stale
	b.t.keep(b.name, key, append([]byte{}, value...))
	return nil
}

// PutIfAbsent inserts at once, in a statement of its own, rather than
// keeping the write: whether it stored is its answer. A key with a kept
// write is answered from it.
func (b *pgBucket) PutIfAbsent(key, value []byte) ([]byte, error) {
	if err := b.checkPut(key); err != nil {
		return nil, err
	}
	t := b.t
	if w, ok := t.writes[writeKey{b.name, string(key)}]; ok {
		if w.value != nil {
			return w.value, nil
		}
		b.gen++ // deleted in this transaction: absent, and now put
		w.value = append([]byte{}, value...)
		return nil, nil
	}
	// The insert waits for another transaction's insert of the same key, at
	// most the group's lock_timeout (beginGroup): two nodes claiming two keys
	// in opposite orders wait for each other.
	if value == nil {
		value = []byte{} // nil (not allowed, tx.go) would be NULL, as Put guards against
	}
	tag, err := t.tx.Exec(t.ctx, sqlInsert, b.name, key, value) // encoded before Exec returns: no copy
	if err != nil {
		return nil, t.fail(err)
	}
	if tag.RowsAffected() == 1 {
		b.gen++
		return nil, nil
	}
	// The key has a value (rarely: a repeat); reading it locks its page.
	v := b.Get(key)
	switch {
	case t.err != nil:
		return nil, t.err
	case v == nil: // under SERIALIZABLE a row that stopped the insert is visible
		return nil, t.fail(fmt.Errorf("store: %s key neither inserted nor found", b.name))
	}
	return v, nil
}

func (b *pgBucket) Delete(key []byte) error {
	if err := b.checkWrite(); err != nil {
		return err
	}
	b.gen++
	b.t.keep(b.name, key, nil)
	return nil
}

// checkPut fails a Put of an invalid key, or in a read-only or doomed
// transaction.
func (b *pgBucket) checkPut(key []byte) error {
	switch {
	case !b.t.writable:
		return errTxNotWritable
	case len(key) == 0:
		return errKeyRequired
	case len(key) > MaxKeySize:
		return errKeyTooLarge
	}
	return b.t.err
}

// checkWrite fails a write in a read-only or doomed transaction.
func (b *pgBucket) checkWrite() error {
	if !b.t.writable {
		return errTxNotWritable
	}
	return b.t.err
}

// ForEach reads the bucket in pages of pageRows keys (keyset pagination: each
// page starts after the last key of the one before), calling fn between
// queries: the connection cannot run fn's own statements while a query's
// rows are being read.
func (b *pgBucket) ForEach(fn func(k, v []byte) error) error {
	rows, err := b.scan(qFirst, pageRows)
	for {
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r.k, r.v); err != nil {
				return err
			}
		}
		if len(rows) < pageRows {
			return nil
		}
		rows, err = b.scan(qAfter, pageRows, rows[len(rows)-1].k)
	}
}

func (b *pgBucket) Cursor() Cursor { return &pgCursor{b: b} }

func (b *pgBucket) NextSequence() (uint64, error) {
	if err := b.checkWrite(); err != nil {
		return 0, err
	}
	var n int64
	if err := b.t.tx.QueryRow(b.t.ctx, sqlNextSequence, b.name).Scan(&n); err != nil {
		return 0, b.t.fail(err)
	}
	return uint64(n), nil
}

// Sequence returns 0 after a database error, which dooms the transaction.
func (b *pgBucket) Sequence() uint64 {
	t := b.t
	if t.err != nil {
		return 0
	}
	var n int64
	if err := t.tx.QueryRow(t.ctx, sqlSequence, b.name).Scan(&n); err != nil {
		_ = t.fail(err)
		return 0
	}
	return uint64(n)
}

// SetFillPercent is a hint for engines with pages; PostgreSQL's heap and
// index pages are not the store's to pack.
func (b *pgBucket) SetFillPercent(float64) {}

// isConflict reports a failure that a rerun of the transaction cures:
// serialization_failure (40001), deadlock_detected (40P01), or
// lock_not_available (55P03: the group's bounded wait for another
// transaction's lock ran out, beginGroup).
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01" || pgErr.Code == "55P03")
}

// isUnavailable reports an error that says no read-write server can be
// reached now (a failover, a restart, a network fault), not that the
// statement was wrong: connection errors, and the server's own refusals of
// class 08 (connection exception), 57P01–57P03 (shutting down, crashed,
// starting up) and 25006 (a read-only server: a standby, or a primary being
// demoted).
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "25006":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

var _ Bucket = (*pgBucket)(nil)
