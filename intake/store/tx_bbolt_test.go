package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// The bbolt engine's Tx, Bucket and Cursor wrap one pointer each: looking a
// bucket up and reading through it allocates nothing beyond what bbolt
// allocates. A Cursor costs one allocation more than a raw one that the
// compiler keeps on the stack, since behind an interface it escapes.
func TestWrappersAllocateNothing(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{}, "b")
	require.NoError(t, err)
	defer db.Close()
	name, key := []byte("b"), []byte("k")
	require.NoError(t, db.Update(context.Background(), func(tx *Tx) error { return tx.Bucket(name).Put(key, []byte("v")) }))
	require.NoError(t, db.eng.(boltEngine).db.View(func(btx *bbolt.Tx) error {
		tx := newBoltTx(btx)
		raw := testing.AllocsPerRun(100, func() {
			if btx.Bucket(name).Get(key) == nil || btx.Bucket(name).Sequence() != 0 {
				t.Error("unexpected contents")
			}
		})
		wrapped := testing.AllocsPerRun(100, func() {
			if tx.Bucket(name).Get(key) == nil || tx.Bucket(name).Sequence() != 0 {
				t.Error("unexpected contents")
			}
		})
		require.Equal(t, raw, wrapped, "Bucket and Get")

		raw = testing.AllocsPerRun(100, func() {
			if k, _ := btx.Bucket(name).Cursor().Seek(key); k == nil {
				t.Error("missing")
			}
		})
		wrapped = testing.AllocsPerRun(100, func() {
			if k, _ := tx.Bucket(name).Cursor().Seek(key); k == nil {
				t.Error("missing")
			}
		})
		require.LessOrEqual(t, wrapped, raw+1, "Cursor")
		return nil
	}))
}
