package intakelog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
)

// Buckets of request numbers (normalize/number.go has the format).
const (
	bucketNumberDays = "number_days" // YYMMDD → highest sequence used (8 bytes BE); never compacted
	bucketNumbers    = "numbers"     // number → envelope id (look-ups); compacted with the request
)

// errNumberTaken: a number about to be stored belongs to another request.
// The counter never hands one out twice, so this means the store was
// changed behind the gateway's back; the request fails rather than share.
var errNumberTaken = errors.New("intakelog: request number already belongs to another request")

// numberer hands out request numbers: per day, a counter in memory, loaded
// from the store the first time the day is needed (bucketNumberDays holds
// the highest sequence any committed transaction used) and advanced under a
// mutex, so that concurrent requests never share one. The accepting
// transaction records the sequence (see putNumber), so a restart continues
// above every number that was ever acknowledged. A sequence whose
// transaction fails, or which a repeated idempotency key makes unnecessary,
// is a gap: it is never handed out again by this process, and it was never
// shown to anyone.
//
// Several nodes on one shared store (cluster mode) reserve blocks instead:
// a reservation raises the day's high-water mark by the block in its own
// transaction, and the node hands out the block's numbers. Numbers stay
// unique; they are no longer in order across nodes, and a node's unused
// block is a gap.
type numberer struct {
	mu    sync.Mutex
	last  map[string]uint64 // day → highest sequence handed out
	limit map[string]uint64 // day → end of the reserved block (cluster mode)
	// pending: day → closed when the reservation under way ends
	pending map[string]chan struct{}
	load    func(day string) (uint64, error)
	// reserve, when set, reserves the next n sequences of day and returns
	// the first.
	reserve func(day string, n uint64) (uint64, error)
	block   uint64
}

func newNumberer(db *store.DB, block uint64) *numberer {
	n := &numberer{last: map[string]uint64{}, limit: map[string]uint64{}, pending: map[string]chan struct{}{}, block: block, load: func(day string) (uint64, error) {
		var seq uint64
		err := db.View(func(tx *store.Tx) error {
			seq = storedSeq(tx, day)
			return nil
		})
		return seq, err
	}}
	if block > 0 {
		n.reserve = func(day string, size uint64) (uint64, error) {
			var first uint64
			err := db.Update(context.Background(), func(tx *store.Tx) error {
				first = storedSeq(tx, day) + 1
				return tx.Bucket([]byte(bucketNumberDays)).Put([]byte(day), binary.BigEndian.AppendUint64(nil, first+size-1))
			})
			return first, err
		}
	}
	return n
}

// next returns the next number of the day of at. A day's entry is kept for
// the life of the process (one per day): dropping it while a transaction
// with one of its numbers is still to commit could hand that number out
// again. tx is the caller's transaction, if it is in one: in cluster mode
// the number is then taken in it (a second Update would wait for the very
// transaction it runs in).
func (n *numberer) next(tx *store.Tx, at time.Time) (number, day string, seq uint64, err error) {
	day = normalize.NumberDay(at)
	if n.reserve != nil {
		seq, err = n.nextShared(tx, day)
	} else {
		seq, err = n.nextLocal(day)
	}
	if err != nil {
		return "", "", 0, err
	}
	number, err = normalize.FormatNumber(day, seq)
	if err != nil {
		return "", "", 0, fmt.Errorf("intakelog: %w", err)
	}
	return number, day, seq, nil
}

func (n *numberer) nextLocal(day string) (uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	last, ok := n.last[day]
	if !ok {
		var err error
		if last, err = n.load(day); err != nil {
			return 0, fmt.Errorf("intakelog: cannot load the request numbers of %s: %w", day, err)
		}
	}
	n.last[day] = last + 1
	return last + 1, nil
}

// take hands out the next number of the day's block, if one is left.
func (n *numberer) take(day string) (uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if last, ok := n.last[day]; ok && last < n.limit[day] {
		n.last[day] = last + 1
		return last + 1, true
	}
	return 0, false
}

// adopt makes [first, end] the day's block unless another block with
// numbers left was adopted meanwhile (then this one is a gap).
func (n *numberer) adopt(day string, first, end uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if last, ok := n.last[day]; !ok || last >= n.limit[day] {
		n.last[day], n.limit[day] = first-1, end
	}
}

// nextShared hands out a number from the node's block, reserving a new
// block when it is used up. The mutex is never held across a store write:
// a caller inside a transaction may be waiting for it on the store's writer.
func (n *numberer) nextShared(tx *store.Tx, day string) (uint64, error) {
	for {
		if seq, ok := n.take(day); ok {
			return seq, nil
		}
		if tx != nil {
			// In the caller's transaction (a chat's first message): take
			// the one number above the day's high-water mark there, no
			// block; the transaction's commit makes it the node's own.
			seq := storedSeq(tx, day) + 1
			if err := tx.Bucket([]byte(bucketNumberDays)).Put([]byte(day), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
				return 0, fmt.Errorf("intakelog: cannot reserve a request number of %s: %w", day, err)
			}
			return seq, nil
		}
		// One reservation at a time; the others wait for it.
		n.mu.Lock()
		if ch := n.pending[day]; ch != nil {
			n.mu.Unlock()
			<-ch
			continue
		}
		ch := make(chan struct{})
		n.pending[day] = ch
		n.mu.Unlock()
		first, err := n.reserve(day, n.block)
		if err == nil {
			n.adopt(day, first, first+n.block-1)
		}
		n.mu.Lock()
		delete(n.pending, day)
		close(ch)
		n.mu.Unlock()
		if err != nil {
			return 0, fmt.Errorf("intakelog: cannot reserve request numbers of %s: %w", day, err)
		}
	}
}

func storedSeq(tx *store.Tx, day string) uint64 {
	v := tx.Bucket([]byte(bucketNumberDays)).Get([]byte(day))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// putNumber records, in the accepting transaction, that number (the seq-th
// of day) belongs to envelope id. Transactions commit in any order, so the
// day's high-water mark only ever rises. With shared numbers the mark is
// already at least seq (the block's reservation, or the chat's own
// transaction, set it), and a block is the node's alone, so its numbers
// are free by construction: reading the mark or the number here (a read of
// an absent key locks its index page for SERIALIZABLE's checks) would make
// accepting transactions conflict with other nodes' reservations and
// accepts, whose numbers sit on the same pages.
func (n *numberer) putNumber(tx *store.Tx, number, day string, seq uint64, id string) error {
	nb := tx.Bucket([]byte(bucketNumbers))
	nb.SetFillPercent(appendFill) // numbers rise within a day and from day to day
	if n.reserve != nil {
		return nb.Put([]byte(number), []byte(id))
	}
	if prev := nb.Get([]byte(number)); prev != nil && string(prev) != id {
		return fmt.Errorf("%w: %s", errNumberTaken, number)
	}
	if err := nb.Put([]byte(number), []byte(id)); err != nil {
		return err
	}
	if storedSeq(tx, day) >= seq {
		return nil
	}
	return tx.Bucket([]byte(bucketNumberDays)).Put([]byte(day), binary.BigEndian.AppendUint64(nil, seq))
}

// RequestByNumber returns the status record of the request with the given
// number: ErrNotFound when there is none (or it was compacted away), an
// error wrapping normalize.ErrBadNumber when number is not a well-formed
// request number (its check digit says a digit was mistyped).
func (l *Log) RequestByNumber(number string) (*Request, error) {
	if _, _, err := normalize.ParseNumber(number); err != nil {
		return nil, err
	}
	var req *Request
	err := l.db.View(func(tx *store.Tx) error {
		id := tx.Bucket([]byte(bucketNumbers)).Get([]byte(number))
		if id == nil {
			return fmt.Errorf("%w: number %s", ErrNotFound, number)
		}
		var err error
		req, err = getRequest(tx, string(id))
		return err
	})
	return req, err
}

// deleteNumber forgets the look-up entry of a compacted request (the day's
// high-water mark stays: the number is never handed out again).
func deleteNumber(tx *store.Tx, number, id string) error {
	if number == "" {
		return nil
	}
	nb := tx.Bucket([]byte(bucketNumbers))
	if v := nb.Get([]byte(number)); v == nil || string(v) != id {
		return nil
	}
	return nb.Delete([]byte(number))
}
