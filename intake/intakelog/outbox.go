package intakelog

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"github.com/hotline12345/gateway/intake/store"
)

// The outbox is made of lanes, each a gap-free sequence of records with a
// relayed mark: the relay publishes a lane in order and marks it up to the
// last record Kafka acknowledged.
//
// One node has one lane, "": the bucket outbox, numbered by the bucket's own
// sequence, marked under relayed_seq (the layout of every embedded store).
// In cluster mode each node appends to a lane named after itself in
// outbox_lanes, numbered under lane_seq/<node>: a sequence shared by all
// nodes would be one row every accepting transaction of every node updates,
// and on PostgreSQL all but one of the nodes' concurrent transactions would
// fail to serialize on it. The relay (one owner for the cluster) reads every
// lane, so a dead node's records are published by whoever relays.

var (
	keyRelayed   = []byte("relayed_seq")      // lane "": the last relayed seq
	prefixSeq    = []byte("lane_seq\x00")     // + lane: the lane's last seq
	prefixMarked = []byte("lane_relayed\x00") // + lane: the lane's last relayed seq
)

func u64(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func metaKey(prefix []byte, lane string) []byte { return append(bytes.Clone(prefix), lane...) }

// laneKey is the key of seq in a named lane's part of outbox_lanes.
func laneKey(lane string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(lane), 0), seq)
}

// appendFill is how full bbolt packs the pages of buckets whose keys mostly
// arrive in order (the outbox's sequence numbers, time-ordered envelope ids).
// bbolt's default (half full, for random inserts) would double their pages
// and the bytes every commit writes.
const appendFill = 0.95

// appendEncoded adds an encoded record at the end of this log's lane.
func (l *Log) appendEncoded(tx *store.Tx, v []byte) error {
	if l.lane == "" {
		b := tx.Bucket([]byte(bucketOutbox))
		b.SetFillPercent(appendFill)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(be(seq), v)
	}
	meta := tx.Bucket([]byte(bucketMeta))
	k := metaKey(prefixSeq, l.lane)
	seq := u64(meta.Get(k)) + 1
	if err := meta.Put(k, be(seq)); err != nil {
		return err
	}
	b := tx.Bucket([]byte(bucketLanes))
	b.SetFillPercent(appendFill)
	return b.Put(laneKey(l.lane, seq), v)
}

// lanes returns every lane that was ever appended to ("" first) with its last
// seq and its relayed mark: two range reads of meta, however many lanes.
func lanes(tx *store.Tx) []laneState {
	meta := tx.Bucket([]byte(bucketMeta))
	out := []laneState{{name: "", last: tx.Bucket([]byte(bucketOutbox)).Sequence(), relayed: u64(meta.Get(keyRelayed))}}
	marks := marked(tx)
	c := meta.Cursor()
	for k, v := c.Seek(prefixSeq); k != nil && bytes.HasPrefix(k, prefixSeq); k, v = c.Next() {
		name := string(k[len(prefixSeq):])
		out = append(out, laneState{name: name, last: u64(v), relayed: marks[name]})
	}
	return out
}

// marked returns the relayed mark of every named lane that has one.
func marked(tx *store.Tx) map[string]uint64 {
	out := map[string]uint64{}
	c := tx.Bucket([]byte(bucketMeta)).Cursor()
	for k, v := c.Seek(prefixMarked); k != nil && bytes.HasPrefix(k, prefixMarked); k, v = c.Next() {
		out[string(k[len(prefixMarked):])] = u64(v)
	}
	return out
}

type laneState struct {
	name          string
	last, relayed uint64
}

// bounds are where the lane's records are: the bucket, the first key after
// from, and the prefix all its keys have.
func (s laneState) bounds(from uint64) (bucket, first, prefix []byte) {
	if s.name == "" {
		return []byte(bucketOutbox), be(from), nil
	}
	return []byte(bucketLanes), laneKey(s.name, from), append([]byte(s.name), 0)
}

// laneReader reads a lane's records after its relayed mark, in order.
type laneReader struct {
	name   string
	c      store.Cursor
	prefix []byte
	head   *Record // the next record, nil at the lane's end
	err    error
}

func (r *laneReader) load(k, v []byte) {
	r.head = nil
	if k == nil || !bytes.HasPrefix(k, r.prefix) {
		return
	}
	rec, err := decodeRecord(v)
	if err != nil {
		r.err = corrupt(k, err)
		return
	}
	rec.Lane, rec.Seq = r.name, binary.BigEndian.Uint64(k[len(k)-8:])
	r.head = &rec
}

// Pending returns up to max records not yet relayed, each lane's in order,
// the lanes' merged oldest first (by the time each record was appended): the
// order in which the nodes accepted them, up to their clocks' skew, so that
// one citizen's requests accepted on two nodes reach Kafka in order.
func (l *Log) Pending(max int) ([]Record, error) {
	var out []Record
	err := l.db.View(func(tx *store.Tx) error {
		var rs []*laneReader
		for _, s := range lanes(tx) {
			if s.last <= s.relayed {
				continue
			}
			bucket, first, prefix := s.bounds(s.relayed + 1)
			r := &laneReader{name: s.name, c: tx.Bucket(bucket).Cursor(), prefix: prefix}
			r.load(r.c.Seek(first))
			rs = append(rs, r)
		}
		for len(out) < max {
			var next *laneReader
			for _, r := range rs {
				if r.err != nil {
					return r.err
				}
				if r.head != nil && (next == nil || r.head.At.Before(next.head.At)) {
					next = r
				}
			}
			if next == nil {
				return nil
			}
			out = append(out, *next.head)
			next.load(next.c.Next())
		}
		return nil
	})
	return out, err
}

// MarkRelayed records that recs (a Pending answer, or its beginning) are in
// Kafka: each lane is marked up to its last record among them.
func (l *Log) MarkRelayed(ctx context.Context, recs []Record) error {
	return l.db.Update(ctx, func(tx *store.Tx) error { return MarkRelayedTx(tx, recs) })
}

// MarkRelayedTx is MarkRelayed inside the caller's transaction (a relay under
// a lease checks its fence in the same one).
func MarkRelayedTx(tx *store.Tx, recs []Record) error {
	upTo := map[string]uint64{}
	for _, r := range recs {
		upTo[r.Lane] = max(upTo[r.Lane], r.Seq)
	}
	meta := tx.Bucket([]byte(bucketMeta))
	for lane, seq := range upTo {
		k := keyRelayed
		if lane != "" {
			k = metaKey(prefixMarked, lane)
		}
		if u64(meta.Get(k)) >= seq {
			continue
		}
		if err := meta.Put(k, be(seq)); err != nil {
			return err
		}
	}
	return nil
}

// Depth is how many records wait for the relay. A lane's sequence numbers are
// contiguous (a rolled-back transaction rolls its sequence back too) and only
// relayed records are ever deleted, so this is a subtraction per lane, not a
// scan.
func (l *Log) Depth() (int, error) {
	n := 0
	err := l.db.View(func(tx *store.Tx) error {
		for _, s := range lanes(tx) {
			if s.last > s.relayed {
				n += int(s.last - s.relayed)
			}
		}
		return nil
	})
	return n, err
}

// compactOutbox deletes relayed records older than cutoff, lane by lane, at
// most 2,000 in all per call (*n counts them). It reads the relayed marks
// only: the lanes' last seqs are what every accept writes.
func (l *Log) compactOutbox(tx *store.Tx, cutoff time.Time, n *int) error {
	ls := []laneState{{name: "", relayed: u64(tx.Bucket([]byte(bucketMeta)).Get(keyRelayed))}}
	for name, relayed := range marked(tx) {
		ls = append(ls, laneState{name: name, relayed: relayed})
	}
	for _, s := range ls {
		bucket, first, prefix := s.bounds(0)
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(first); k != nil && bytes.HasPrefix(k, prefix) && *n < 2000; k, v = c.Next() {
			if binary.BigEndian.Uint64(k[len(k)-8:]) > s.relayed {
				break
			}
			if at, err := recordAt(v); err == nil && at.After(cutoff) {
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
			*n++
		}
	}
	return nil
}
