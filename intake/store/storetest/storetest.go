// Package storetest is the store's conformance suite: the contract of
// store.DB, Tx, Bucket and Cursor (intake/store/tx.go) as tests that every
// engine runs, as Watermill runs one suite against every Pub/Sub. An engine's
// test calls Run with a function that opens its store:
//
//	func TestConformance(t *testing.T) {
//		dir := t.TempDir()
//		storetest.Run(t, func(t *testing.T, name string) *store.DB {
//			db, err := store.Open(filepath.Join(dir, name+".db"), store.Options{})
//			require.NoError(t, err)
//			return db
//		}, storetest.Features{GapFreeSequences: true})
//	}
//
// A function passed to Update may run on the store's own goroutine, where a
// test must not call FailNow: inside one the suite only collects what it
// reads, or uses assert, and checks with require after Update returns.
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
)

// Open opens the store called name, empty if it does not exist yet. Called
// again with the same name after Close, it must open the same data: the suite
// reopens stores to check durability. Names are unique within one Run; the
// suite creates its buckets with CreateBuckets and closes what it opens.
type Open func(t *testing.T, name string) *store.DB

// Features are the guarantees an engine may or may not give beyond the
// contract every engine meets; the suite checks those an engine claims.
type Features struct {
	// GapFreeSequences: NextSequence's increment is rolled back with its
	// transaction, so a bucket's committed sequence numbers are 1, 2, 3, …
	// without gaps (bbolt; the outbox's Depth counts on it). Without it an
	// engine still gives every committed NextSequence a distinct number,
	// increasing within a transaction and durable, and Sequence is at least
	// the largest committed one (ADR 0001: PostgreSQL sequences have gaps).
	GapFreeSequences bool
}

// The buckets the suite creates in every store.
const (
	bucketA = "a"
	bucketB = "b"
)

var errBoom = errors.New("storetest: boom")

// contract is the suite: one entry per rule of the store's contract.
var contract = []struct {
	name string
	test func(t *testing.T, s *suite)
}{
	{"get put delete overwrite", testGetPutDelete},
	{"PutIfAbsent stores only into a missing key", testPutIfAbsent},
	{"PutIfAbsent from many callers: one stores", testPutIfAbsentConcurrent},
	{"reads in a transaction see its own writes", testReadOwnWrites},
	{"missing key is nil, empty value is not", testMissingKey},
	{"missing bucket is nil", testMissingBucket},
	{"invalid keys are refused", testInvalidKeys},
	{"writes fail in View", testWritesFailInView},
	{"ForEach is bytewise ascending", testForEachOrder},
	{"ForEach stops at an error", testForEachError},
	{"cursor moves", testCursorMoves},
	{"cursor on an empty bucket", testCursorEmpty},
	{"cursor over many keys", testCursorMany},
	{"cursor delete while iterating", testCursorDelete},
	{"sequence", testSequence},
	{"sequence under concurrency", testSequenceConcurrent},
	{"OnCommit after commit only", testOnCommit},
	{"OnCommit once per committed Update in failing groups", testOnCommitGroups},
	{"failing fn rolls back all it wrote", testRollback},
	{"failing fn sinks only itself", testFailureIsolated},
	{"concurrent read-modify-write loses nothing", testCounter},
	{"acknowledged Updates survive reopen", testDurable},
	{"View sees committed data only", testViewCommittedOnly},
	{"View is a snapshot", testViewSnapshot},
	{"CreateBuckets", testCreateBuckets},
	{"SetFillPercent is only a hint", testFillPercent},
	{"cancelled context", testCancelledContext},
	{"closed store refuses Updates", testClosed},
}

// Run runs the store's contract against the engine that open opens.
func Run(t *testing.T, open Open, f Features) {
	for _, c := range contract {
		t.Run(c.name, func(t *testing.T) {
			c.test(t, &suite{open: open, f: f, name: strings.ReplaceAll(c.name, " ", "_")})
		})
	}
}

type suite struct {
	open Open
	f    Features
	name string
}

// named is the suite with another store name, for a subtest's own store.
func (s *suite) named(suffix string) *suite {
	return &suite{open: s.open, f: s.f, name: s.name + "_" + suffix}
}

// db opens the test's store with the suite's buckets.
func (s *suite) db(t *testing.T) *store.DB {
	t.Helper()
	db := s.open(t, s.name)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.CreateBuckets(context.Background(), bucketA, bucketB))
	return db
}

// reopen closes db and opens its store again.
func (s *suite) reopen(t *testing.T, db *store.DB) *store.DB {
	t.Helper()
	require.NoError(t, db.Close())
	return s.db(t)
}

func update(t *testing.T, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	require.NoError(t, db.Update(context.Background(), fn))
}

func view(t *testing.T, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	require.NoError(t, db.View(fn))
}

func bucket(tx *store.Tx, name string) store.Bucket { return tx.Bucket([]byte(name)) }

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// contents copies a bucket out as key → value, for comparisons.
func contents(t *testing.T, db *store.DB, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	view(t, db, func(tx *store.Tx) error {
		return bucket(tx, name).ForEach(func(k, v []byte) error { out[string(k)] = string(v); return nil })
	})
	return out
}

func keys(t *testing.T, db *store.DB, name string) [][]byte {
	t.Helper()
	var out [][]byte
	view(t, db, func(tx *store.Tx) error {
		return bucket(tx, name).ForEach(func(k, _ []byte) error { out = append(out, bytes.Clone(k)); return nil })
	})
	return out
}

func testGetPutDelete(t *testing.T, s *suite) {
	db := s.db(t)
	var inTx []string
	update(t, db, func(tx *store.Tx) error {
		a := bucket(tx, bucketA)
		for _, kv := range [][2]string{{"k1", "v1"}, {"k2", "v2"}, {"gone", "x"}} {
			if err := a.Put([]byte(kv[0]), []byte(kv[1])); err != nil {
				return err
			}
		}
		inTx = append(inTx, string(a.Get([]byte("k1"))))
		if err := a.Put([]byte("k1"), []byte("v1'")); err != nil {
			return err
		}
		inTx = append(inTx, string(a.Get([]byte("k1"))))
		if err := a.Delete([]byte("gone")); err != nil {
			return err
		}
		assert.Nil(t, a.Get([]byte("gone")), "deleted in this transaction")
		if err := a.Delete([]byte("never")); err != nil {
			return fmt.Errorf("deleting a missing key: %w", err)
		}
		inTx = append(inTx, string(bucket(tx, bucketA).Get([]byte("k2"))))
		return bucket(tx, bucketB).Put([]byte("k1"), []byte("in b"))
	})
	require.Equal(t, []string{"v1", "v1'", "v2"}, inTx, "a transaction reads its own writes, through any Bucket of the name")
	require.Equal(t, map[string]string{"k1": "v1'", "k2": "v2"}, contents(t, db, bucketA))
	require.Equal(t, map[string]string{"k1": "in b"}, contents(t, db, bucketB), "buckets are separate")

	update(t, db, func(tx *store.Tx) error {
		if err := bucket(tx, bucketA).Put([]byte("k2"), []byte("v2'")); err != nil {
			return err
		}
		return bucket(tx, bucketA).Delete([]byte("k1"))
	})
	require.Equal(t, map[string]string{"k2": "v2'"}, contents(t, db, bucketA))
	db = s.reopen(t, db)
	require.Equal(t, map[string]string{"k2": "v2'"}, contents(t, db, bucketA))
	require.Equal(t, map[string]string{"k1": "in b"}, contents(t, db, bucketB))
}

// testReadOwnWrites: cursors and ForEach in a writing transaction see its
// Puts, overwrites and Deletes (an engine may keep writes until the commit),
// and a caller may reuse its key slice once Put returned (not its value:
// bbolt keeps that until the commit).
func testReadOwnWrites(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error {
		return bucket(tx, bucketA).Put([]byte("k0"), []byte("committed"))
	})
	var cursor, forEach []string
	update(t, db, func(tx *store.Tx) error {
		a := bucket(tx, bucketA)
		key := []byte("k?")
		for _, c := range "1234" {
			key[1] = byte(c)
			if err := a.Put(key, []byte{'v', byte(c)}); err != nil { // the same key slice every time
				return err
			}
		}
		for _, op := range []error{a.Delete([]byte("k2")), a.Put([]byte("k3"), []byte("v3'")),
			a.Delete([]byte("k0")), a.Put([]byte("k4"), nil), a.Delete([]byte("k1")), a.Put([]byte("k1"), []byte("v1'"))} {
			if op != nil {
				return op
			}
		}
		c := a.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			cursor = append(cursor, string(k)+"="+string(v))
		}
		return a.ForEach(func(k, v []byte) error { forEach = append(forEach, string(k)+"="+string(v)); return nil })
	})
	want := []string{"k1=v1'", "k3=v3'", "k4="}
	require.Equal(t, want, cursor)
	require.Equal(t, want, forEach)
	require.Equal(t, map[string]string{"k1": "v1'", "k3": "v3'", "k4": ""}, contents(t, db, bucketA))
}

func testMissingKey(t *testing.T, s *suite) {
	db := s.db(t)
	// read returns, for "absent" and "empty": whether Get gave nil, and the length.
	read := func(tx *store.Tx) []any {
		a := bucket(tx, bucketA)
		absent, empty := a.Get([]byte("absent")), a.Get([]byte("empty"))
		return []any{absent == nil, empty == nil, len(empty)}
	}
	want := []any{true, false, 0} // absent is nil; an empty value is not
	var got [][]any
	update(t, db, func(tx *store.Tx) error {
		got = append(got, []any{bucket(tx, bucketA).Get([]byte("absent")) == nil})
		if err := bucket(tx, bucketA).Put([]byte("empty"), []byte{}); err != nil {
			return err
		}
		got = append(got, read(tx))
		return nil
	})
	require.Equal(t, [][]any{{true}, want}, got, "in the writing transaction")
	update(t, db, func(tx *store.Tx) error { got = [][]any{read(tx)}; return nil })
	require.Equal(t, [][]any{want}, got, "in a later Update")
	view(t, db, func(tx *store.Tx) error { got = [][]any{read(tx)}; return nil })
	require.Equal(t, [][]any{want}, got, "in a View")
	db = s.reopen(t, db)
	view(t, db, func(tx *store.Tx) error { got = [][]any{read(tx)}; return nil })
	require.Equal(t, [][]any{want}, got, "after reopening")
}

func testMissingBucket(t *testing.T, s *suite) {
	db := s.db(t)
	var missing, present []bool
	read := func(tx *store.Tx) error {
		missing = append(missing, tx.Bucket([]byte("absent")) == nil) // a nil interface, not a typed nil
		present = append(present, tx.Bucket([]byte(bucketA)) != nil)
		return nil
	}
	update(t, db, read)
	view(t, db, read)
	require.Equal(t, []bool{true, true}, missing)
	require.Equal(t, []bool{true, true}, present)
}

func testInvalidKeys(t *testing.T, s *suite) {
	db := s.db(t)
	for _, c := range []struct {
		name string
		key  []byte
	}{
		{"a nil key", nil},
		{"an empty key", []byte{}},
		{"a key longer than MaxKeySize", bytes.Repeat([]byte{'k'}, store.MaxKeySize+1)},
	} {
		var putErr error
		err := db.Update(context.Background(), func(tx *store.Tx) error {
			putErr = bucket(tx, bucketA).Put(c.key, []byte("v"))
			return putErr
		})
		require.Error(t, putErr, "Put refuses %s", c.name)
		require.ErrorIs(t, err, putErr)
		err = db.Update(context.Background(), func(tx *store.Tx) error {
			_, putErr = bucket(tx, bucketA).PutIfAbsent(c.key, []byte("v"))
			return putErr
		})
		require.Error(t, putErr, "PutIfAbsent refuses %s", c.name)
		require.ErrorIs(t, err, putErr)
	}
	longest := bytes.Repeat([]byte{'k'}, store.MaxKeySize)
	update(t, db, func(tx *store.Tx) error { return bucket(tx, bucketA).Put(longest, []byte("v")) })
	require.Equal(t, map[string]string{string(longest): "v"}, contents(t, db, bucketA))
}

func testWritesFailInView(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error { return bucket(tx, bucketA).Put([]byte("k"), []byte("v")) })
	var errs []error
	view(t, db, func(tx *store.Tx) error {
		a := bucket(tx, bucketA)
		_, seqErr := a.NextSequence()
		c := a.Cursor()
		first, _ := c.First()
		assert.Equal(t, []byte("k"), first)
		_, insErr := a.PutIfAbsent([]byte("new"), []byte("w"))
		_, presentErr := a.PutIfAbsent([]byte("k"), []byte("w"))
		errs = []error{a.Put([]byte("k"), []byte("w")), a.Put([]byte("new"), []byte("w")), a.Delete([]byte("k")), seqErr, c.Delete(),
			insErr, presentErr}
		return nil
	})
	for i, what := range []string{"Put", "Put of a new key", "Delete", "NextSequence", "Cursor.Delete",
		"PutIfAbsent of a new key", "PutIfAbsent of a present key"} {
		require.Error(t, errs[i], what)
	}
	require.Equal(t, map[string]string{"k": "v"}, contents(t, db, bucketA))
	var seq uint64
	view(t, db, func(tx *store.Tx) error { seq = bucket(tx, bucketA).Sequence(); return nil })
	require.Zero(t, seq)
}

// orderKeys are in bytewise ascending order: prefixes before their
// extensions, 0x00 and 0xff at the edges, big-endian numbers by value.
var orderKeys = [][]byte{
	{0x00}, {0x00, 0x00}, u64(1), u64(255), u64(256), u64(1 << 40), {0x00, 0x01}, {0x01},
	[]byte("A"), []byte("a"), []byte("a\x00"), []byte("aa"), []byte("ab"), []byte("b"),
	[]byte("请求"), {0xff}, {0xff, 0x00}, {0xff, 0xff},
}

// forEach returns the keys ForEach visits, and whether every value was its key.
func forEach(b store.Bucket) (keys [][]byte, valuesMatch bool, err error) {
	valuesMatch = true
	err = b.ForEach(func(k, v []byte) error {
		keys = append(keys, bytes.Clone(k))
		valuesMatch = valuesMatch && bytes.Equal(k, v)
		return nil
	})
	return keys, valuesMatch, err
}

func testForEachOrder(t *testing.T, s *suite) {
	require.True(t, slices.IsSortedFunc(orderKeys, bytes.Compare), "the test's own table")
	db := s.db(t)
	shuffled := slices.Clone(orderKeys)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	check := func(what string, tx *store.Tx, name string, want [][]byte) {
		got, match, err := forEach(bucket(tx, name))
		assert.NoError(t, err, what)
		assert.True(t, match, "%s: the value that goes with each key", what)
		assert.Equal(t, want, got, what)
	}
	update(t, db, func(tx *store.Tx) error {
		for _, k := range shuffled {
			if err := bucket(tx, bucketA).Put(k, k); err != nil {
				return err
			}
		}
		check("within the writing transaction", tx, bucketA, orderKeys)
		return nil
	})
	view(t, db, func(tx *store.Tx) error {
		check("after the commit", tx, bucketA, orderKeys)
		check("an empty bucket", tx, bucketB, nil)
		return nil
	})
}

func testForEachError(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error {
		for _, k := range []string{"a", "b", "c", "d"} {
			if err := bucket(tx, bucketA).Put([]byte(k), []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	var seen []string
	var err error
	view(t, db, func(tx *store.Tx) error {
		err = bucket(tx, bucketA).ForEach(func(k, _ []byte) error {
			seen = append(seen, string(k))
			if string(k) == "b" {
				return errBoom
			}
			return nil
		})
		return nil
	})
	require.ErrorIs(t, err, errBoom)
	require.Equal(t, []string{"a", "b"}, seen)
}

// move is one cursor step: "first", "last", "next", "prev", "seek:<key>".
func move(c store.Cursor, step string) (k, v []byte) {
	switch {
	case step == "first":
		return c.First()
	case step == "last":
		return c.Last()
	case step == "next":
		return c.Next()
	case step == "prev":
		return c.Prev()
	case strings.HasPrefix(step, "seek:"):
		return c.Seek([]byte(strings.TrimPrefix(step, "seek:")))
	}
	panic("storetest: unknown cursor step " + step)
}

// cursorCases walk the bucket {b: B, d: D, f: F}; "" stands for nil, nil.
var cursorCases = []struct {
	name  string
	steps []string
	want  []string
}{
	{"first", []string{"first"}, []string{"b"}},
	{"last", []string{"last"}, []string{"f"}},
	{"forward to the end", []string{"first", "next", "next", "next"}, []string{"b", "d", "f", ""}},
	{"backward to the start", []string{"last", "prev", "prev", "prev"}, []string{"f", "d", "b", ""}},
	{"prev from first", []string{"first", "prev"}, []string{"b", ""}},
	{"next from last", []string{"last", "next"}, []string{"f", ""}},
	{"both ways", []string{"first", "next", "prev", "next", "next", "prev"}, []string{"b", "d", "b", "d", "f", "d"}},
	{"seek before the first", []string{"seek:a"}, []string{"b"}},
	{"seek the empty key", []string{"seek:"}, []string{"b"}},
	{"seek an existing key", []string{"seek:d"}, []string{"d"}},
	{"seek between keys", []string{"seek:c"}, []string{"d"}},
	{"seek past a key by one byte", []string{"seek:d\x00"}, []string{"f"}},
	{"seek the last", []string{"seek:f"}, []string{"f"}},
	{"seek past the end", []string{"seek:g"}, []string{""}},
	{"seek past the end then prev", []string{"seek:g", "prev"}, []string{"", "f"}},
	{"seek then next", []string{"seek:c", "next", "next"}, []string{"d", "f", ""}},
	{"seek then prev", []string{"seek:c", "prev", "prev"}, []string{"d", "b", ""}},
	{"seek again", []string{"seek:e", "seek:a", "seek:f"}, []string{"f", "b", "f"}},
}

// walk runs every cursor case in tx and returns what each step gave, as
// "key" or "key=value mismatch".
func walk(tx *store.Tx) [][]string {
	var out [][]string
	for _, c := range cursorCases {
		cur := bucket(tx, bucketA).Cursor()
		var got []string
		for _, step := range c.steps {
			k, v := move(cur, step)
			switch {
			case k == nil && v != nil:
				got = append(got, "nil key with a value")
			case k != nil && string(v) != strings.ToUpper(string(k)):
				got = append(got, string(k)+"="+string(v)+" mismatch")
			default:
				got = append(got, string(k))
			}
		}
		out = append(out, got)
	}
	return out
}

func testCursorMoves(t *testing.T, s *suite) {
	db := s.db(t)
	put := func(tx *store.Tx) error {
		for _, k := range []string{"f", "b", "d"} {
			if err := bucket(tx, bucketA).Put([]byte(k), []byte(strings.ToUpper(k))); err != nil {
				return err
			}
		}
		return nil
	}
	check := func(t *testing.T, got [][]string) {
		require.Len(t, got, len(cursorCases))
		for i, c := range cursorCases {
			require.Equal(t, c.want, got[i], c.name)
		}
	}
	var got [][]string
	t.Run("in the writing transaction", func(t *testing.T) {
		err := db.Update(context.Background(), func(tx *store.Tx) error {
			if err := put(tx); err != nil {
				return err
			}
			got = walk(tx)
			return errBoom // leave the bucket empty for the next subtests
		})
		require.ErrorIs(t, err, errBoom)
		check(t, got)
	})
	update(t, db, put)
	t.Run("in a View", func(t *testing.T) {
		view(t, db, func(tx *store.Tx) error { got = walk(tx); return nil })
		check(t, got)
	})
	t.Run("in an Update", func(t *testing.T) {
		update(t, db, func(tx *store.Tx) error { got = walk(tx); return nil })
		check(t, got)
	})
}

func testCursorEmpty(t *testing.T, s *suite) {
	db := s.db(t)
	steps := []string{"first", "last", "seek:", "seek:a", "seek:\xff"}
	var got []bool
	view(t, db, func(tx *store.Tx) error {
		for _, step := range steps {
			k, v := move(bucket(tx, bucketA).Cursor(), step)
			got = append(got, k == nil && v == nil)
		}
		return nil
	})
	require.Equal(t, []bool{true, true, true, true, true}, got, "nil, nil for %v", steps)
}

// many is enough keys to span many pages of a B+tree.
const many = 5000

func testCursorMany(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error {
		for i := range many {
			if err := bucket(tx, bucketA).Put(u64(uint64(i)*2), u64(uint64(i))); err != nil { // even keys only
				return err
			}
		}
		return nil
	})
	var forward, backward [][]byte
	valuesMatch := true
	seeks := []uint64{0, 1, 777, 2*many - 3, 2*many - 2, 2*many - 1}
	var sought [][]byte
	var afterEnd []byte
	view(t, db, func(tx *store.Tx) error {
		c := bucket(tx, bucketA).Cursor()
		for k, v := c.First(); k != nil && len(forward) <= many; k, v = c.Next() { // bounded: a broken cursor must not hang
			forward = append(forward, bytes.Clone(k))
			valuesMatch = valuesMatch && binary.BigEndian.Uint64(v)*2 == binary.BigEndian.Uint64(k)
		}
		for k, _ := c.Last(); k != nil && len(backward) <= many; k, _ = c.Prev() {
			backward = append(backward, bytes.Clone(k))
		}
		for _, n := range seeks {
			k, _ := c.Seek(u64(n))
			sought = append(sought, bytes.Clone(k))
		}
		afterEnd, _ = c.Prev()
		afterEnd = bytes.Clone(afterEnd)
		return nil
	})
	want := make([][]byte, many)
	for i := range want {
		want[i] = u64(uint64(i) * 2)
	}
	require.Equal(t, want, forward, "forward")
	require.True(t, valuesMatch)
	slices.Reverse(want)
	require.Equal(t, want, backward, "backward")
	require.Equal(t, [][]byte{u64(0), u64(2), u64(778), u64(2*many - 2), u64(2*many - 2), nil}, sought)
	require.Equal(t, u64(2*many-2), afterEnd, "prev after seeking past the end")
}

func testCursorDelete(t *testing.T, s *suite) {
	fill := func(t *testing.T, db *store.DB) {
		update(t, db, func(tx *store.Tx) error {
			for i := range many {
				if err := bucket(tx, bucketA).Put(u64(uint64(i)), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// deleteWhile walks the bucket forward, deleting the keys del chooses,
	// and returns the keys it visited.
	deleteWhile := func(t *testing.T, db *store.DB, del func(i int) bool) [][]byte {
		var visited [][]byte
		update(t, db, func(tx *store.Tx) error {
			visited = nil
			c := bucket(tx, bucketA).Cursor()
			for k, _ := c.First(); k != nil && len(visited) <= many; k, _ = c.Next() {
				visited = append(visited, bytes.Clone(k))
				if del(len(visited) - 1) {
					if err := c.Delete(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		return visited
	}
	all := make([][]byte, many)
	for i := range all {
		all[i] = u64(uint64(i))
	}
	t.Run("every other while going forward", func(t *testing.T) {
		db := s.named("odd").db(t)
		fill(t, db)
		require.Equal(t, all, deleteWhile(t, db, func(i int) bool { return i%2 == 0 }),
			"a Next after a Delete goes to the following key")
		var odd [][]byte
		for i := 1; i < many; i += 2 {
			odd = append(odd, u64(uint64(i)))
		}
		require.Equal(t, odd, keys(t, db, bucketA))
	})
	t.Run("all while going forward", func(t *testing.T) {
		db := s.named("all").db(t)
		fill(t, db)
		require.Equal(t, all, deleteWhile(t, db, func(int) bool { return true }))
		require.Empty(t, keys(t, db, bucketA))
	})
	t.Run("seek again after each delete", func(t *testing.T) {
		db := s.named("seek").db(t)
		update(t, db, func(tx *store.Tx) error {
			for _, k := range []string{"g1/1", "g1/2", "g2/1", "g2/2", "g2/3", "g3/1"} {
				if err := bucket(tx, bucketA).Put([]byte(k), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		update(t, db, func(tx *store.Tx) error { // the webhook queue's deadGroup
			prefix := []byte("g2/")
			c := bucket(tx, bucketA).Cursor()
			n := 0
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
				if n++; n > 3 {
					return fmt.Errorf("%q is still there after its Delete", k)
				}
				if err := c.Delete(); err != nil {
					return err
				}
			}
			return nil
		})
		require.Equal(t, map[string]string{"g1/1": "v", "g1/2": "v", "g3/1": "v"}, contents(t, db, bucketA))
	})
}

// sequence reads the sequence of a bucket.
func sequence(t *testing.T, db *store.DB, name string) uint64 {
	t.Helper()
	var n uint64
	view(t, db, func(tx *store.Tx) error { n = bucket(tx, name).Sequence(); return nil })
	return n
}

func testSequence(t *testing.T, s *suite) {
	db := s.db(t)
	require.Zero(t, sequence(t, db, bucketA), "a fresh bucket")
	var got []uint64 // NextSequence, then Sequence, three times
	update(t, db, func(tx *store.Tx) error {
		a := bucket(tx, bucketA)
		got = nil
		for range 3 {
			n, err := a.NextSequence()
			if err != nil {
				return err
			}
			got = append(got, n, a.Sequence())
		}
		return nil
	})
	require.Zero(t, sequence(t, db, bucketB), "each bucket has its own")
	require.Len(t, got, 6)
	for i := 0; i < 6; i += 2 {
		require.Equal(t, got[i], got[i+1], "Sequence is the last NextSequence")
		if i > 0 {
			require.Greater(t, got[i], got[i-2], "increasing")
		}
	}
	last := got[4]
	if s.f.GapFreeSequences {
		require.Equal(t, []uint64{1, 1, 2, 2, 3, 3}, got)
	}

	var rolledBack uint64
	err := db.Update(context.Background(), func(tx *store.Tx) error {
		n, err := bucket(tx, bucketA).NextSequence()
		if err != nil {
			return err
		}
		rolledBack = n
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)
	require.Greater(t, rolledBack, last)
	if s.f.GapFreeSequences {
		require.Equal(t, last, sequence(t, db, bucketA), "a failed Update's increment is rolled back")
	}

	var next uint64
	update(t, db, func(tx *store.Tx) error {
		n, err := bucket(tx, bucketA).NextSequence()
		next = n
		return err
	})
	require.Greater(t, next, last)
	if s.f.GapFreeSequences {
		require.Equal(t, last+1, next)
	}
	db = s.reopen(t, db)
	require.Equal(t, next, sequence(t, db, bucketA), "durable across reopen")
	update(t, db, func(tx *store.Tx) error {
		n, err := bucket(tx, bucketA).NextSequence()
		got = []uint64{n}
		return err
	})
	require.Greater(t, got[0], next, "increasing across reopen")
}

// run calls fn(i) for i in [0, n) on n goroutines and returns their errors.
func run(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

func testSequenceConcurrent(t *testing.T, s *suite) {
	db := s.db(t)
	const n = 200
	fails := func(i int) bool { return i%10 == 9 }
	seqs := make([]uint64, n)
	for i, err := range run(n, func(i int) error {
		return db.Update(context.Background(), func(tx *store.Tx) error {
			seq, err := bucket(tx, bucketA).NextSequence()
			if err != nil {
				return err
			}
			if fails(i) {
				return errBoom
			}
			seqs[i] = seq // the run of fn that commits is the last one
			return bucket(tx, bucketA).Put(u64(seq), fmt.Appendf(nil, "%d", i))
		})
	}) {
		if fails(i) {
			require.ErrorIs(t, err, errBoom)
		} else {
			require.NoError(t, err)
		}
	}
	var committed []uint64
	for i, seq := range seqs {
		if !fails(i) {
			committed = append(committed, seq)
		}
	}
	slices.Sort(committed)
	require.Equal(t, len(committed), len(slices.Compact(slices.Clone(committed))), "distinct")
	if s.f.GapFreeSequences {
		for i, seq := range committed {
			require.EqualValues(t, i+1, seq, "without gaps")
		}
		require.EqualValues(t, len(committed), sequence(t, db, bucketA))
	} else {
		require.GreaterOrEqual(t, sequence(t, db, bucketA), committed[len(committed)-1])
	}
	stored := contents(t, db, bucketA)
	require.Len(t, stored, len(committed))
	for i, seq := range seqs {
		if !fails(i) {
			require.Equal(t, fmt.Sprint(i), stored[string(u64(seq))])
		}
	}
}

func testOnCommit(t *testing.T, s *suite) {
	db := s.db(t)
	t.Run("after the commit, before Update returns, seeing the data", func(t *testing.T) {
		var ran, ranBefore int
		var seen []byte
		update(t, db, func(tx *store.Tx) error {
			ran = 0
			tx.OnCommit(func() {
				ran++
				_ = db.View(func(tx *store.Tx) error {
					seen = bytes.Clone(bucket(tx, bucketA).Get([]byte("k")))
					return nil
				})
			})
			ranBefore = ran
			return bucket(tx, bucketA).Put([]byte("k"), []byte("v"))
		})
		require.Zero(t, ranBefore, "not before the commit")
		require.Equal(t, 1, ran)
		require.Equal(t, []byte("v"), seen)
	})
	t.Run("in order of registration", func(t *testing.T) {
		var order []int
		update(t, db, func(tx *store.Tx) error {
			for i := range 3 {
				tx.OnCommit(func() { order = append(order, i) })
			}
			return nil
		})
		require.Equal(t, []int{0, 1, 2}, order)
	})
	t.Run("not after a failed fn", func(t *testing.T) {
		ran := false
		err := db.Update(context.Background(), func(tx *store.Tx) error {
			tx.OnCommit(func() { ran = true })
			if err := bucket(tx, bucketA).Put([]byte("k2"), []byte("v")); err != nil {
				return err
			}
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		require.False(t, ran)
	})
	t.Run("never in a View", func(t *testing.T) {
		ran := false
		view(t, db, func(tx *store.Tx) error {
			tx.OnCommit(func() { ran = true })
			return nil
		})
		update(t, db, func(*store.Tx) error { return nil }) // a commit after the View
		require.False(t, ran)
	})
}

func testOnCommitGroups(t *testing.T, s *suite) {
	db := s.db(t)
	const n = 300
	var mu sync.Mutex
	ran := make([]int, n)
	for i, err := range run(n, func(i int) error {
		return db.Update(context.Background(), func(tx *store.Tx) error {
			tx.OnCommit(func() { mu.Lock(); ran[i]++; mu.Unlock() })
			if i%5 == 0 {
				return errBoom
			}
			return bucket(tx, bucketA).Put(u64(uint64(i)), []byte("v"))
		})
	}) {
		if i%5 == 0 {
			require.ErrorIs(t, err, errBoom)
			require.Zero(t, ran[i], "update %d failed", i)
		} else {
			require.NoError(t, err)
			require.Equal(t, 1, ran[i], "update %d committed", i)
		}
	}
}

func testRollback(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error {
		if err := bucket(tx, bucketA).Put([]byte("keep"), []byte("v")); err != nil {
			return err
		}
		if err := bucket(tx, bucketA).Put([]byte("over"), []byte("v")); err != nil {
			return err
		}
		_, err := bucket(tx, bucketB).NextSequence()
		return err
	})
	seq := sequence(t, db, bucketB)
	var writeErr error
	err := db.Update(context.Background(), func(tx *store.Tx) error {
		a, b := bucket(tx, bucketA), bucket(tx, bucketB)
		_, seqErr := b.NextSequence()
		writeErr = errors.Join(a.Put([]byte("new"), []byte("v")), a.Put([]byte("over"), []byte("changed")),
			a.Delete([]byte("keep")), b.Put([]byte("new"), []byte("v")), seqErr)
		if writeErr != nil {
			return writeErr
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	require.NoError(t, writeErr)
	require.ErrorIs(t, err, errBoom, "Update returns fn's error")
	require.Equal(t, map[string]string{"keep": "v", "over": "v"}, contents(t, db, bucketA))
	require.Empty(t, contents(t, db, bucketB))
	if s.f.GapFreeSequences {
		require.Equal(t, seq, sequence(t, db, bucketB))
	}
}

func testFailureIsolated(t *testing.T, s *suite) {
	db := s.db(t)
	const n = 400
	for i, err := range run(n, func(i int) error {
		return db.Update(context.Background(), func(tx *store.Tx) error {
			if err := bucket(tx, bucketA).Put(u64(uint64(i)), []byte("v")); err != nil {
				return err
			}
			if i%7 == 0 {
				return errBoom // after writing: its write must go, the others' stay
			}
			return nil
		})
	}) {
		if i%7 == 0 {
			require.ErrorIs(t, err, errBoom)
		} else {
			require.NoError(t, err, "update %d", i)
		}
	}
	stored := contents(t, db, bucketA)
	for i := range n {
		_, ok := stored[string(u64(uint64(i)))]
		require.Equal(t, i%7 != 0, ok, "update %d", i)
	}
}

func testCounter(t *testing.T, s *suite) {
	db := s.db(t)
	const goroutines, each = 32, 25
	key := []byte("counter")
	for _, err := range run(goroutines, func(g int) error {
		for j := range each {
			if err := db.Update(context.Background(), func(tx *store.Tx) error {
				a := bucket(tx, bucketA)
				var n uint64
				if v := a.Get(key); v != nil {
					n = binary.BigEndian.Uint64(v)
				}
				return a.Put(key, u64(n+1))
			}); err != nil {
				return err
			}
			if j%5 == g%5 { // failing Updates in the same groups: the others are rerun
				if err := db.Update(context.Background(), func(tx *store.Tx) error {
					if err := bucket(tx, bucketA).Put(key, u64(0)); err != nil {
						return err
					}
					return errBoom
				}); !errors.Is(err, errBoom) {
					return fmt.Errorf("a failing update returned %v", err)
				}
			}
		}
		return nil
	}) {
		require.NoError(t, err)
	}
	require.Equal(t, map[string]string{"counter": string(u64(goroutines * each))}, contents(t, db, bucketA))
}

func testDurable(t *testing.T, s *suite) {
	db := s.db(t)
	const n = 300
	for _, err := range run(n, func(i int) error {
		return db.Update(context.Background(), func(tx *store.Tx) error {
			if _, err := bucket(tx, bucketB).NextSequence(); err != nil {
				return err
			}
			return bucket(tx, bucketA).Put(u64(uint64(i)), fmt.Appendf(nil, "v%d", i))
		})
	}) {
		require.NoError(t, err) // acknowledged
	}
	seq := sequence(t, db, bucketB)
	require.GreaterOrEqual(t, seq, uint64(n))
	db = s.reopen(t, db)
	stored := contents(t, db, bucketA)
	require.Len(t, stored, n)
	for i := range n {
		require.Equal(t, fmt.Sprintf("v%d", i), stored[string(u64(uint64(i)))])
	}
	require.Equal(t, seq, sequence(t, db, bucketB))
}

// within bounds a wait that would otherwise hang the suite.
const within = 10 * time.Second

func testViewCommittedOnly(t *testing.T, s *suite) {
	db := s.db(t)
	written, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), func(tx *store.Tx) error {
			if err := bucket(tx, bucketA).Put([]byte("k"), []byte("v")); err != nil {
				return err
			}
			once.Do(func() { close(written) })
			<-release
			return nil
		})
	}()
	select {
	case <-written:
	case <-time.After(within):
		t.Fatal("the Update's fn did not run")
	}
	var before, after []byte
	view(t, db, func(tx *store.Tx) error { before = bucket(tx, bucketA).Get([]byte("k")); return nil })
	close(release)
	require.NoError(t, <-done)
	view(t, db, func(tx *store.Tx) error { after = bytes.Clone(bucket(tx, bucketA).Get([]byte("k"))); return nil })
	require.Nil(t, before, "written, not committed")
	require.Equal(t, []byte("v"), after, "committed")
}

func testViewSnapshot(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error { return bucket(tx, bucketA).Put([]byte("k"), []byte("old")) })
	var first, again, k2, last []byte
	var updateErr error
	view(t, db, func(tx *store.Tx) error {
		first = bytes.Clone(bucket(tx, bucketA).Get([]byte("k")))
		done := make(chan error, 1)
		go func() {
			done <- db.Update(context.Background(), func(tx *store.Tx) error {
				if err := bucket(tx, bucketA).Put([]byte("k"), []byte("new")); err != nil {
					return err
				}
				return bucket(tx, bucketA).Put([]byte("k2"), []byte("new"))
			})
		}()
		select {
		case updateErr = <-done:
		case <-time.After(within):
			updateErr = errors.New("an Update waits for an open View")
			return nil // let it go on
		}
		again = bytes.Clone(bucket(tx, bucketA).Get([]byte("k")))
		k2 = bucket(tx, bucketA).Get([]byte("k2"))
		last, _ = bucket(tx, bucketA).Cursor().Last()
		last = bytes.Clone(last)
		return nil
	})
	require.NoError(t, updateErr)
	require.Equal(t, []byte("old"), first)
	require.Equal(t, []byte("old"), again, "a View keeps the state it began with")
	require.Nil(t, k2)
	require.Equal(t, []byte("k"), last)
	require.Equal(t, map[string]string{"k": "new", "k2": "new"}, contents(t, db, bucketA))
}

func testCreateBuckets(t *testing.T, s *suite) {
	db := s.db(t)
	var before bool
	update(t, db, func(tx *store.Tx) error {
		before = tx.Bucket([]byte("c")) == nil
		return bucket(tx, bucketA).Put([]byte("k"), []byte("v"))
	})
	require.True(t, before, "not there yet")
	require.NoError(t, db.CreateBuckets(context.Background(), "c", bucketA, "d"), "existing ones are left as they are")
	require.NoError(t, db.CreateBuckets(context.Background(), "c"), "idempotent")
	update(t, db, func(tx *store.Tx) error { return bucket(tx, "c").Put([]byte("kc"), []byte("vc")) })
	require.Equal(t, map[string]string{"k": "v"}, contents(t, db, bucketA))
	db = s.reopen(t, db)
	require.Equal(t, map[string]string{"kc": "vc"}, contents(t, db, "c"))
	var d bool
	view(t, db, func(tx *store.Tx) error { d = tx.Bucket([]byte("d")) != nil; return nil })
	require.True(t, d, "durable")
}

func testFillPercent(t *testing.T, s *suite) {
	db := s.db(t)
	for _, f := range []float64{0.1, 0.5, 0.9, 1} {
		update(t, db, func(tx *store.Tx) error {
			a := bucket(tx, bucketA)
			a.SetFillPercent(f)
			for i := range 1000 {
				if err := a.Put(fmt.Appendf(nil, "%.1f/%04d", f, i), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.Len(t, contents(t, db, bucketA), 4000)
	db = s.reopen(t, db)
	require.Len(t, contents(t, db, bucketA), 4000)
}

func testCancelledContext(t *testing.T, s *suite) {
	db := s.db(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.Update(ctx, func(tx *store.Tx) error { return bucket(tx, bucketA).Put([]byte("k"), []byte("v")) })
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
		return // the write may or may not be durable
	}
	require.Equal(t, map[string]string{"k": "v"}, contents(t, db, bucketA), "a nil error means committed")
}

func testClosed(t *testing.T, s *suite) {
	db := s.db(t)
	update(t, db, func(tx *store.Tx) error { return bucket(tx, bucketA).Put([]byte("k"), []byte("v")) })
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "idempotent")
	require.ErrorIs(t, db.Update(context.Background(), func(*store.Tx) error { return nil }), store.ErrClosed)
}
