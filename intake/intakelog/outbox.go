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
// seq and its relayed mark.
func lanes(tx *store.Tx) []laneState {
	meta := tx.Bucket([]byte(bucketMeta))
	out := []laneState{{name: "", last: tx.Bucket([]byte(bucketOutbox)).Sequence(), relayed: u64(meta.Get(keyRelayed))}}
	c := meta.Cursor()
	for k, v := c.Seek(prefixSeq); k != nil && bytes.HasPrefix(k, prefixSeq); k, v = c.Next() {
		out = append(out, laneState{name: string(k[len(prefixSeq):]), last: u64(v)})
	}
	for i := 1; i < len(out); i++ {
		out[i].relayed = u64(meta.Get(metaKey(prefixMarked, out[i].name)))
	}
	return out
}

type laneState struct {
	name          string
	last, relayed uint64
}

// read returns up to max records of the lane after its relayed mark.
func (s laneState) read(tx *store.Tx, max int) ([]Record, error) {
	var out []Record
	if s.last <= s.relayed || max <= 0 {
		return nil, nil
	}
	bucket, from := []byte(bucketOutbox), be(s.relayed+1)
	var prefix []byte
	if s.name != "" {
		bucket, from, prefix = []byte(bucketLanes), laneKey(s.name, s.relayed+1), append([]byte(s.name), 0)
	}
	c := tx.Bucket(bucket).Cursor()
	for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(out) < max; k, v = c.Next() {
		r, err := decodeRecord(v)
		if err != nil {
			return nil, corrupt(k, err)
		}
		r.Lane, r.Seq = s.name, binary.BigEndian.Uint64(k[len(k)-8:])
		out = append(out, r)
	}
	return out, nil
}

// Pending returns up to max records not yet relayed, in order within each
// lane; the lane read first changes with every call, so that a busy lane does
// not hold the others back.
func (l *Log) Pending(max int) ([]Record, error) {
	var out []Record
	err := l.db.View(func(tx *store.Tx) error {
		ls := lanes(tx)
		first := int(l.turn.Add(1) % int64(len(ls)))
		for i := range ls {
			recs, err := ls[(first+i)%len(ls)].read(tx, max-len(out))
			if err != nil {
				return err
			}
			out = append(out, recs...)
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
// most 2,000 in all per call (*n counts them).
func (l *Log) compactOutbox(tx *store.Tx, cutoff time.Time, n *int) error {
	for _, s := range lanes(tx) {
		bucket, from := []byte(bucketOutbox), []byte(nil)
		var prefix []byte
		if s.name != "" {
			prefix = append([]byte(s.name), 0)
			bucket, from = []byte(bucketLanes), prefix
		}
		c := tx.Bucket(bucket).Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && *n < 2000; k, v = c.Next() {
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
