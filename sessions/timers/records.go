package timers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/hotline12345/gateway/connectors/store"
)

// Storage layout. Both buckets must be created by store.Open (pass Buckets).
//
//	timers         due (8 bytes, big-endian unix ns) + kind + 0x00 + id → empty
//	timers_by_key  kind + 0x00 + id → due (8 bytes) [+ flagFiring]
//
// The first orders the timers for Load; the second answers Stop and replace
// in O(log n). flagFiring marks a timer whose callback has been started in
// callback mode (see Service): Stop then reports false, and a restart fires
// it again.
const (
	bucketByDue = "timers"
	bucketByKey = "timers_by_key"
	flagFiring  = 0x01
)

// Buckets are the store buckets the timer service uses: pass them to
// store.Open.
var Buckets = []string{bucketByDue, bucketByKey}

// ErrNoBuckets means the store was opened without Buckets.
var ErrNoBuckets = errors.New("timers: store opened without timers.Buckets")

// errCorrupt marks a stored record that does not decode; such records are
// skipped and logged, never fired.
var errCorrupt = errors.New("timers: corrupt record")

type buckets struct{ byDue, byKey *bbolt.Bucket }

func open(tx *store.Tx) (buckets, error) {
	b := buckets{byDue: tx.Bucket([]byte(bucketByDue)), byKey: tx.Bucket([]byte(bucketByKey))}
	if b.byDue == nil || b.byKey == nil {
		return b, ErrNoBuckets
	}
	return b, nil
}

func indexKey(k Key) []byte {
	b := make([]byte, 0, len(k.Kind)+1+len(k.ID))
	b = append(b, k.Kind...)
	b = append(b, 0)
	return append(b, k.ID...)
}

func dueKey(due int64, k Key) []byte {
	b := make([]byte, 8, 8+len(k.Kind)+1+len(k.ID))
	binary.BigEndian.PutUint64(b, uint64(due))
	b = append(b, k.Kind...)
	b = append(b, 0)
	return append(b, k.ID...)
}

// parseDueKey decodes a key of the timers bucket.
func parseDueKey(b []byte) (int64, Key, error) {
	if len(b) < 8+1+1+1 {
		return 0, Key{}, fmt.Errorf("%w: key of %d bytes", errCorrupt, len(b))
	}
	due := int64(binary.BigEndian.Uint64(b))
	rest := b[8:]
	i := bytes.IndexByte(rest, 0)
	if i <= 0 || i == len(rest)-1 {
		return 0, Key{}, fmt.Errorf("%w: key without kind or id", errCorrupt)
	}
	k := Key{Kind: string(rest[:i]), ID: string(rest[i+1:])}
	if err := k.validate(); err != nil {
		return 0, Key{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	if err := validDue(due); err != nil {
		return 0, Key{}, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return due, k, nil
}

// parseIndex decodes a value of the timers_by_key bucket.
func parseIndex(v []byte) (due int64, firing bool, err error) {
	switch {
	case len(v) == 8:
	case len(v) == 9 && v[8] == flagFiring:
		firing = true
	default:
		return 0, false, fmt.Errorf("%w: index value of %d bytes", errCorrupt, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), firing, nil
}

func indexValue(due int64, firing bool) []byte {
	b := make([]byte, 8, 9)
	binary.BigEndian.PutUint64(b, uint64(due))
	if firing {
		b = append(b, flagFiring)
	}
	return b
}

// lookup returns the stored due time of k; ok is false when there is none
// (or it is unreadable, in which case it is treated as absent).
func (b buckets) lookup(k Key) (due int64, firing, ok bool) {
	v := b.byKey.Get(indexKey(k))
	if v == nil {
		return 0, false, false
	}
	due, firing, err := parseIndex(v)
	if err != nil {
		return 0, false, false
	}
	return due, firing, true
}

// put stores k at due, replacing any earlier record of k.
func (b buckets) put(k Key, due int64) error {
	ik := indexKey(k)
	if v := b.byKey.Get(ik); v != nil {
		if old, _, err := parseIndex(v); err == nil {
			if err := b.byDue.Delete(dueKey(old, k)); err != nil {
				return err
			}
		}
	}
	if err := b.byKey.Put(ik, indexValue(due, false)); err != nil {
		return err
	}
	return b.byDue.Put(dueKey(due, k), []byte{})
}

// markFiring flags the record of k, which is due at due.
func (b buckets) markFiring(k Key, due int64) error {
	return b.byKey.Put(indexKey(k), indexValue(due, true))
}

// del removes the record of k, which is due at due.
func (b buckets) del(k Key, due int64) error {
	if err := b.byKey.Delete(indexKey(k)); err != nil {
		return err
	}
	return b.byDue.Delete(dueKey(due, k))
}
