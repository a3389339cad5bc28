package store

// Queued is the number of Updates waiting for the writer, for tests.
func Queued(db *DB) int { return len(db.reqs) }
