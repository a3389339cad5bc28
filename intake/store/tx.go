package store

// The engine-neutral transaction: what features see of the store. Every
// engine (bbolt today, PostgreSQL in cluster mode, ADR 0001) provides Tx,
// Bucket and Cursor with the semantics documented here, and the conformance
// suite intake/store/storetest checks them.
//
// Byte slices: keys and values returned by Get, PutIfAbsent, ForEach and a
// Cursor are valid only until the transaction ends and must not be
// modified; copy what must outlive it. Keys and values passed to Put must not be modified until the
// transaction ends either (an engine may keep them until the commit).
//
// Keys are compared bytewise (bytes.Compare): ForEach and Cursor.Next go in
// ascending order. A key is 1 to MaxKeySize bytes; a value may be empty but not
// nil (store []byte{}), because Get's nil means "absent".

// MaxKeySize is the longest key a Bucket accepts, in bytes.
const MaxKeySize = 32768

// Tx is a transaction: read-write inside DB.Update, read-only inside DB.View.
// It is valid only while the function it was passed to runs, and is not safe
// for concurrent use.
type Tx struct {
	// The engine's transaction: pg when set, else bolt. A field per engine
	// rather than an interface: through an interface call, every caller's
	// []byte(name) would escape to the heap.
	bolt boltTx
	pg   *pgTx
}

// Bucket returns the named bucket, or nil if the store has no such bucket
// (it was neither passed to Open nor created by CreateBuckets): callers check
// for nil where a missing bucket is a configuration error (timers.ErrNoBuckets).
// Within one transaction the same name gives the same bucket.
func (tx *Tx) Bucket(name []byte) Bucket {
	if tx.pg != nil {
		return tx.pg.bucket(name)
	}
	return tx.bolt.bucket(name)
}

// OnCommit registers fn to run once the transaction has committed durably,
// before Update returns. fn never runs if the transaction does not commit: its
// function failed, the commit failed, or it is read-only (View). When a group
// of Updates is rerun because another function in it failed, only the
// registrations of the run that commits count: fn runs once.
func (tx *Tx) OnCommit(fn func()) {
	if tx.pg != nil {
		tx.pg.onCommit(fn)
		return
	}
	tx.bolt.onCommit(fn)
}

// createBucket creates the named bucket if it does not exist (CreateBuckets).
func (tx *Tx) createBucket(name []byte) error {
	if tx.pg != nil {
		return tx.pg.createBucket(name)
	}
	return tx.bolt.createBucket(name)
}

// Bucket is an ordered set of keys and values inside a transaction. See the
// package's notes on the lifetime of byte slices.
type Bucket interface {
	// Get returns the value of key, or nil if there is none. A stored empty
	// value is returned as a non-nil empty slice.
	Get(key []byte) []byte
	// Put sets key to value, replacing any earlier value. It fails for an
	// empty key, a key longer than MaxKeySize, and in a read-only transaction.
	Put(key, value []byte) error
	// PutIfAbsent sets key to value unless key has a value: then it stores
	// nothing and returns that value (nil when it stored value). It fails as
	// Put does. Use it, not Get then Put, to claim a key that many callers
	// may claim at once (an idempotency key, a nonce): on PostgreSQL a Get of
	// a missing key locks its index page for SERIALIZABLE's checks, so every
	// other node's write to that page makes one of the two transactions
	// rerun; PutIfAbsent takes no such lock while the key is missing. It
	// waits (briefly) for another node's transaction that claimed the same
	// key, and reads nothing: a claim that races another transaction's Delete
	// of the key is ordered after it.
	PutIfAbsent(key, value []byte) (existing []byte, err error)
	// Delete removes key; deleting a missing key is not an error. It fails in
	// a read-only transaction.
	Delete(key []byte) error
	// ForEach calls fn for every key and value in ascending key order and
	// stops at the first error fn returns, which it returns. fn must not
	// modify the bucket.
	ForEach(fn func(k, v []byte) error) error
	// Cursor returns a new cursor over the bucket, not yet positioned.
	Cursor() Cursor
	// NextSequence increments the bucket's sequence and returns the new value
	// (1 for a fresh bucket). The increment belongs to the transaction: it is
	// rolled back with it and durable with its commit. It fails in a
	// read-only transaction.
	NextSequence() (uint64, error)
	// Sequence returns the bucket's sequence (0 for a fresh bucket) without
	// changing it.
	Sequence() uint64
	// SetFillPercent is a hint for the rest of the transaction: how full the
	// engine should pack pages when it splits them (bbolt's FillPercent,
	// default 0.5; 0.9 suits keys that are mostly appended). Engines without
	// pages ignore it. It never changes what is stored.
	SetFillPercent(f float64)
}

// Cursor walks a bucket in key order. Every method returns the key and value
// at the cursor's new position, or nil, nil when there is none (past either
// end, or an empty bucket); where the cursor goes after that is unspecified
// except for Seek then Prev, below. A Put or Delete on the bucket (other than
// Cursor.Delete) invalidates the position: move the cursor with First, Last or
// Seek before using it again.
type Cursor interface {
	// First moves to the first key.
	First() (key, value []byte)
	// Last moves to the last key.
	Last() (key, value []byte)
	// Next moves to the following key.
	Next() (key, value []byte)
	// Prev moves to the preceding key.
	Prev() (key, value []byte)
	// Seek moves to the first key >= seek. Past the end it returns nil, and a
	// Prev after that returns the last key.
	Seek(seek []byte) (key, value []byte)
	// Delete removes the key at the cursor; a Next after it returns the key
	// that followed the deleted one, so a loop may delete as it goes. It
	// fails in a read-only transaction.
	Delete() error
}
