package store

import (
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The bbolt engine, and its Tx, Bucket and Cursor: thin wrappers of one
// pointer each, so that putting them in an interface does not allocate.

// boltEngine runs DB's groups in bbolt transactions, as DB did before it had
// engines: one bbolt.Update per group, its OnCommit hooks run by bbolt after
// the fsync.
type boltEngine struct{ db *bbolt.DB }

func (e boltEngine) update(batch []*commitReq) (int, error) {
	failed := -1
	err := e.db.Update(func(btx *bbolt.Tx) error {
		tx := newBoltTx(btx)
		for i, r := range batch {
			if err := r.fn(tx); err != nil {
				failed = i
				return err
			}
		}
		return nil
	})
	return failed, err
}

func (e boltEngine) view(fn func(*Tx) error) error {
	return e.db.View(func(tx *bbolt.Tx) error { return fn(newBoltTx(tx)) })
}

func (e boltEngine) close() error { return e.db.Close() }

func (e boltEngine) stats(st *Stats) {
	tx := e.db.Stats().TxStats
	st.PagesWritten, st.WriteTime, st.SpillTime = tx.GetWrite(), tx.GetWriteTime(), tx.GetSpillTime()
}

type boltTx struct{ tx *bbolt.Tx }

func newBoltTx(tx *bbolt.Tx) *Tx { return &Tx{bolt: boltTx{tx}} }

func (t boltTx) bucket(name []byte) Bucket {
	b := t.tx.Bucket(name)
	if b == nil {
		return nil // an untyped nil, so that callers' == nil holds
	}
	return boltBucket{b}
}

func (t boltTx) onCommit(fn func()) { t.tx.OnCommit(fn) }

func (t boltTx) createBucket(name []byte) error {
	_, err := t.tx.CreateBucketIfNotExists(name)
	return err
}

type boltBucket struct{ b *bbolt.Bucket }

func (b boltBucket) Get(key []byte) []byte       { return b.b.Get(key) }
func (b boltBucket) Put(key, value []byte) error { return b.b.Put(key, value) }
func (b boltBucket) Delete(key []byte) error     { return b.b.Delete(key) }

func (b boltBucket) PutIfAbsent(key, value []byte) ([]byte, error) {
	if !b.b.Writable() {
		return nil, berrors.ErrTxNotWritable
	}
	if v := b.b.Get(key); v != nil {
		return v, nil
	}
	return nil, b.b.Put(key, value)
}
func (b boltBucket) ForEach(fn func(k, v []byte) error) error { return b.b.ForEach(fn) }
func (b boltBucket) Cursor() Cursor                           { return boltCursor{b.b.Cursor()} }
func (b boltBucket) NextSequence() (uint64, error)            { return b.b.NextSequence() }
func (b boltBucket) Sequence() uint64                         { return b.b.Sequence() }

// SetFillPercent sets the field on bbolt's bucket, which a writable
// transaction keeps for the rest of its life (tx.Bucket returns the same
// *bbolt.Bucket each time), as the callers' assignments did before.
func (b boltBucket) SetFillPercent(f float64) { b.b.FillPercent = f }

type boltCursor struct{ c *bbolt.Cursor }

func (c boltCursor) First() (key, value []byte)           { return c.c.First() }
func (c boltCursor) Last() (key, value []byte)            { return c.c.Last() }
func (c boltCursor) Next() (key, value []byte)            { return c.c.Next() }
func (c boltCursor) Prev() (key, value []byte)            { return c.c.Prev() }
func (c boltCursor) Seek(seek []byte) (key, value []byte) { return c.c.Seek(seek) }
func (c boltCursor) Delete() error                        { return c.c.Delete() }

var (
	_ engine = boltEngine{}
	_ Bucket = boltBucket{}
	_ Cursor = boltCursor{}
)
