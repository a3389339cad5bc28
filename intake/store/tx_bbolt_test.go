package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// The bbolt engine's Tx, Bucket and Cursor wrap one pointer each, and
// Tx.Bucket is no interface call: looking a bucket up by a []byte(name)
// conversion, as callers do, and reading through it allocate nothing beyond
// what bbolt allocates. A Cursor costs one allocation more than a raw one
// that the compiler keeps on the stack, since behind an interface it escapes;
// so does a key converted from a string of at most 32 bytes that is passed to
// a Bucket method.
func TestWrappersAllocateNothing(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	key := []byte("k")
	require.NoError(t, db.Update(context.Background(), func(tx *Tx) error { return tx.Bucket([]byte("b")).Put(key, []byte("v")) }))
	require.NoError(t, db.eng.(boltEngine).db.View(func(btx *bbolt.Tx) error {
		tx := newBoltTx(btx)
		raw := testing.AllocsPerRun(100, func() {
			if btx.Bucket([]byte("b")).Get(key) == nil || btx.Bucket([]byte("b")).Sequence() != 0 {
				t.Error("unexpected contents")
			}
		})
		wrapped := testing.AllocsPerRun(100, func() {
			if tx.Bucket([]byte("b")).Get(key) == nil || tx.Bucket([]byte("b")).Sequence() != 0 {
				t.Error("unexpected contents")
			}
		})
		require.Equal(t, raw, wrapped, "Bucket and Get")

		raw = testing.AllocsPerRun(100, func() {
			if k, _ := btx.Bucket([]byte("b")).Cursor().Seek(key); k == nil {
				t.Error("missing")
			}
		})
		wrapped = testing.AllocsPerRun(100, func() {
			if k, _ := tx.Bucket([]byte("b")).Cursor().Seek(key); k == nil {
				t.Error("missing")
			}
		})
		require.LessOrEqual(t, wrapped, raw+1, "Cursor")
		return nil
	}))
}
