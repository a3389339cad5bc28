package store

import "slices"

// The PostgreSQL engine's Cursor: keyset pagination over the primary key
// (bucket, key). A cursor keeps one page of neighbouring rows; moves inside
// it cost nothing, and a move past its edge reads the next page from the
// current key (key > k ascending, key < k descending), so a page never
// needs an offset and keys written in between are found where they belong.
// Pages start small (a Seek usually reads one or two keys, and values may be
// large) and double, up to pageRows, while the cursor keeps going the same
// way.

const (
	// pageRows is the most rows one query reads: ForEach's page, and a
	// cursor's once it has moved a while in one direction.
	pageRows = 256
	// firstPageRows is a cursor's page after First, Last or Seek.
	firstPageRows = 16
)

// pageQuery reads up to $2 rows of bucket $1 in key order, from key $3 for
// those that take it; desc: the rows come last first.
type pageQuery struct {
	sql  string
	desc bool
}

var (
	qFirst  = pageQuery{`SELECT key, value FROM gateway_kv WHERE bucket = $1 ORDER BY key LIMIT $2`, false}
	qLast   = pageQuery{`SELECT key, value FROM gateway_kv WHERE bucket = $1 ORDER BY key DESC LIMIT $2`, true}
	qSeek   = pageQuery{`SELECT key, value FROM gateway_kv WHERE bucket = $1 AND key >= $3 ORDER BY key LIMIT $2`, false}
	qAfter  = pageQuery{`SELECT key, value FROM gateway_kv WHERE bucket = $1 AND key > $3 ORDER BY key LIMIT $2`, false}
	qBefore = pageQuery{`SELECT key, value FROM gateway_kv WHERE bucket = $1 AND key < $3 ORDER BY key DESC LIMIT $2`, true}
)

// scan runs a page query and returns its rows in ascending key order. After
// a database error (recorded on the transaction) it returns that error.
func (b *pgBucket) scan(q pageQuery, limit int, from ...[]byte) ([]pgRow, error) {
	t := b.t
	if err := t.flush(); err != nil { // the page must show this transaction's writes
		return nil, err
	}
	args := []any{b.name, limit}
	for _, k := range from {
		args = append(args, k)
	}
	rows, err := t.tx.Query(t.ctx, q.sql, args...)
	if err != nil {
		return nil, t.fail(err)
	}
	defer rows.Close()
	var out []pgRow
	for rows.Next() {
		var r pgRow
		if err := rows.Scan(&r.k, &r.v); err != nil {
			return nil, t.fail(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, t.fail(err)
	}
	if q.desc {
		slices.Reverse(out)
	}
	return out, nil
}

// cursorAt is where a cursor is.
type cursorAt int

const (
	nowhere     cursorAt = iota // not positioned, or an empty bucket, or after a database error
	onKey                       // on rows[i], whose key is key
	deleted                     // Delete removed key, which was between rows[i-1] and rows[i]
	pastEnd                     // Seek or Next went past the last key: Prev returns the last key
	beforeStart                 // Prev went before the first key
)

type pgCursor struct {
	b     *pgBucket
	rows  []pgRow // neighbouring rows in ascending key order, read when b.gen was gen
	gen   uint64
	i     int
	key   []byte
	at    cursorAt
	limit int // rows the last query asked for
}

func (c *pgCursor) First() (key, value []byte) {
	return c.load(qFirst, firstPageRows, nowhere)
}

func (c *pgCursor) Last() (key, value []byte) {
	return c.load(qLast, firstPageRows, nowhere)
}

func (c *pgCursor) Seek(seek []byte) (key, value []byte) {
	if seek == nil {
		seek = []byte{} // nil would be NULL, which no key is >=
	}
	return c.load(qSeek, firstPageRows, pastEnd, seek)
}

func (c *pgCursor) Next() (key, value []byte) {
	switch c.at {
	case onKey, deleted:
	case beforeStart:
		return c.First()
	default:
		return nil, nil
	}
	j := c.i + 1
	if c.at == deleted {
		j = c.i // the deleted key's follower took its place
	}
	if c.fresh() && j < len(c.rows) {
		return c.move(j)
	}
	return c.load(qAfter, c.grow(), pastEnd, c.key)
}

func (c *pgCursor) Prev() (key, value []byte) {
	switch c.at {
	case onKey, deleted:
	case pastEnd:
		return c.Last()
	default:
		return nil, nil
	}
	if j := c.i - 1; c.fresh() && j >= 0 {
		return c.move(j)
	}
	return c.load(qBefore, c.grow(), beforeStart, c.key)
}

// Delete removes the key at the cursor; nothing when the cursor is on none.
// The page stays usable (its row is removed from it too), so that a loop
// deleting as it goes reads each page once.
func (c *pgCursor) Delete() error {
	b := c.b
	if err := b.checkWrite(); err != nil {
		return err
	}
	if c.at != onKey {
		return nil
	}
	fresh := c.fresh()
	if err := b.Delete(c.key); err != nil {
		return err
	}
	if fresh {
		c.rows, c.gen = slices.Delete(c.rows, c.i, c.i+1), b.gen
	} else {
		c.rows = nil
	}
	c.at = deleted
	return nil
}

// fresh reports whether the page may be used: no write to the bucket since
// it was read, other than this cursor's own Delete.
func (c *pgCursor) fresh() bool { return c.rows != nil && c.gen == c.b.gen }

// grow is the size of the next page in the direction the cursor goes.
func (c *pgCursor) grow() int { return min(2*max(c.limit, firstPageRows/2), pageRows) }

func (c *pgCursor) move(j int) (key, value []byte) {
	c.i, c.at, c.key = j, onKey, c.rows[j].k
	return c.rows[j].k, c.rows[j].v
}

// load reads a page and moves to its first row (last for a descending
// query); with no row, the cursor is at none.
func (c *pgCursor) load(q pageQuery, limit int, none cursorAt, from ...[]byte) (key, value []byte) {
	rows, err := c.b.scan(q, limit, from...)
	c.limit, c.rows, c.gen = limit, rows, c.b.gen
	switch {
	case err != nil:
		c.at, c.rows = nowhere, nil
		return nil, nil
	case len(rows) == 0:
		c.at, c.rows = none, nil
		return nil, nil
	case q.desc:
		return c.move(len(rows) - 1)
	default:
		return c.move(0)
	}
}

var _ Cursor = (*pgCursor)(nil)
