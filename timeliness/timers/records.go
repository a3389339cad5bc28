package timers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hotline12345/gateway/intake/store"
)

// Storage layout: one bucket (pass Buckets, or the name in Options.Bucket,
// to store.Open).
//
//	timer_records  id + 0x00 + kind → due (8 bytes, big-endian unix ns)
//
// The id comes first: ids are time-ordered (UUIDv7), so the clocks a new
// request starts sit side by side at the end of the tree and dirty one leaf
// and its path. No index by due time is kept on disk: Load puts every record
// into the in-memory queue, which orders them.
const bucketRecords = "timer_records"

// Buckets are the store buckets the timer service uses by default: pass them
// to store.Open.
var Buckets = []string{bucketRecords}

// ErrNoBuckets means the store was opened without Buckets.
var ErrNoBuckets = errors.New("timers: store opened without timers.Buckets")

// errCorrupt marks a stored record that does not decode; such records are
// skipped and logged, never fired.
var errCorrupt = errors.New("timers: corrupt record")

type buckets struct{ recs store.Bucket }

func (s *Service) open(tx *store.Tx) (buckets, error) {
	b := buckets{recs: tx.Bucket([]byte(s.opts.Bucket))}
	if b.recs == nil {
		return b, ErrNoBuckets
	}
	b.recs.SetFillPercent(0.9) // mostly appended: see the layout
	return b, nil
}

func recordKey(k Key) []byte {
	b := make([]byte, 0, len(k.ID)+1+len(k.Kind))
	b = append(b, k.ID...)
	b = append(b, 0)
	return append(b, k.Kind...)
}

// parseRecordKey decodes a key of the records bucket. A kind has no NUL
// byte, so the last NUL ends the id (which may hold one).
func parseRecordKey(b []byte) (Key, error) {
	i := bytes.LastIndexByte(b, 0)
	if i <= 0 || i == len(b)-1 {
		return Key{}, fmt.Errorf("%w: key without id or kind", errCorrupt)
	}
	k := Key{ID: string(b[:i]), Kind: string(b[i+1:])}
	if err := k.validate(); err != nil {
		return Key{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return k, nil
}

// parseValue decodes a value of the records bucket.
func parseValue(v []byte) (due int64, err error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: value of %d bytes", errCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// lookup returns the stored due time of k; ok is false when there is none
// (or it is unreadable, in which case it is treated as absent).
func (b buckets) lookup(k Key) (due int64, ok bool) {
	v := b.recs.Get(recordKey(k))
	if v == nil {
		return 0, false
	}
	due, err := parseValue(v)
	if err != nil {
		return 0, false
	}
	return due, true
}

// put stores k at due, replacing any earlier record of k.
func (b buckets) put(k Key, due int64) error {
	return b.recs.Put(recordKey(k), binary.BigEndian.AppendUint64(nil, uint64(due)))
}

// del removes the record of k.
func (b buckets) del(k Key) error { return b.recs.Delete(recordKey(k)) }
