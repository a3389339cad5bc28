package store

// Queued is the number of Updates waiting for the writer, for tests.
func Queued(db *DB) int { return len(db.reqs) }

// Closing tells whether Close has begun, for tests.
func Closing(db *DB) bool {
	select {
	case <-db.closing:
		return true
	default:
		return false
	}
}

// CreateBucketIn creates a bucket inside tx, as CreateBuckets does in its
// own Update, for tests that roll the creation back.
func CreateBucketIn(tx *Tx, name string) error { return tx.createBucket([]byte(name)) }
