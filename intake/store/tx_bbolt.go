package store

import "go.etcd.io/bbolt"

// The bbolt engine's Tx, Bucket and Cursor: thin wrappers of one pointer
// each, so that putting them in an interface does not allocate.

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

func (b boltBucket) Get(key []byte) []byte                    { return b.b.Get(key) }
func (b boltBucket) Put(key, value []byte) error              { return b.b.Put(key, value) }
func (b boltBucket) Delete(key []byte) error                  { return b.b.Delete(key) }
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
	_ Bucket = boltBucket{}
	_ Cursor = boltCursor{}
)
