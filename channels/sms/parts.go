package sms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12345/gateway/channels/sms/reassembly"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/intake/store"
)

// Reassembly through the store (contract §8.6). The pending parts in
// bucketParts are the truth, shared by every gateway in cluster mode, and
// no node holds a group in memory. A part is stored, and its group looked
// at, in one transaction: whichever node commits the part that completes a
// group releases it, and a node whose transaction overlapped is rerun
// (SERIALIZABLE on PostgreSQL; bbolt runs one writer at a time) and finds
// the parts gone. Releasing a group (complete; incomplete once its wait is
// over, by whichever node's Run sees it first; or ended by a part that does
// not fit) moves it to bucketReady as one message, deletes its parts and
// marks their keys done, all in one transaction, so a group is released
// once. The message leaves bucketReady only after Conversations has it
// (ready.go).

// partRecord is a pending part as kept in bucketParts until its group is
// released.
type partRecord struct {
	Key        string    `json:"key"` // the part's dedup key
	ProviderID string    `json:"pid,omitempty"`
	Phone      string    `json:"phone"`
	Text       string    `json:"text"`
	SentAt     time.Time `json:"sent_at"`
	DestCode   string    `json:"dest,omitempty"`
	Ref        string    `json:"ref"`
	Total      int       `json:"total"`
	Seq        int       `json:"seq"`
	Arrived    time.Time `json:"arrived"`
}

func (r *partRecord) inbound() smsformat.Inbound {
	return smsformat.Inbound{ProviderID: r.ProviderID, Phone: r.Phone, Text: r.Text, SentAt: r.SentAt, DestCode: r.DestCode,
		Part: &smsformat.Part{Ref: r.Ref, Total: r.Total, Seq: r.Seq}}
}

// partKeyState is the value in bucketPartKeys: a part is pending until its
// group is released, then done (kept PartRetention for late retries).
type partKeyState struct {
	Done bool      `json:"done,omitempty"`
	At   time.Time `json:"at"`
}

// groupPrefix is the bucketParts key prefix of a group (phone, UDH ref); the
// ref is hex-encoded so that no byte of it can collide with the separators.
// A part's key goes on with its Seq and its dedup key.
func groupPrefix(phone, ref string) []byte {
	return []byte(phone + "\x00" + hex.EncodeToString([]byte(ref)) + "\x00")
}

func partStoreKey(p smsformat.Inbound, key string) []byte {
	return append(groupPrefix(p.Phone, p.Part.Ref), fmt.Sprintf("%03d\x00%s", p.Part.Seq, key)...)
}

// prefixOf is the group prefix of a bucketParts key (up to its second NUL).
func prefixOf(k []byte) []byte {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return k
	}
	j := bytes.IndexByte(k[i+1:], 0)
	if j < 0 {
		return k
	}
	return k[:i+1+j+1]
}

// storedPart is a record of bucketParts as read in a transaction.
type storedPart struct {
	k   []byte
	rec partRecord
	ok  bool // false: the value did not decode; it goes with its group
}

// heldParts are the stored parts of one group, in arrival order. Fits let
// in only parts of one Total.
type heldParts []storedPart

// loadGroup reads the parts stored under prefix.
func loadGroup(pb store.Bucket, prefix []byte) heldParts {
	var held heldParts
	cur := pb.Cursor()
	for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		held = held.add(k, v)
	}
	held.sort()
	return held
}

func (h heldParts) add(k, v []byte) heldParts {
	sp := storedPart{k: bytes.Clone(k)}
	sp.ok = json.Unmarshal(v, &sp.rec) == nil && sp.rec.Total > 1 && sp.rec.Seq >= 1 && sp.rec.Seq <= sp.rec.Total
	return append(h, sp)
}

func (h heldParts) sort() {
	sort.SliceStable(h, func(i, j int) bool { return h[i].rec.Arrived.Before(h[j].rec.Arrived) })
}

// total is the group's part count; 0 when no part decoded.
func (h heldParts) total() int {
	for _, sp := range h {
		if sp.ok {
			return sp.rec.Total
		}
	}
	return 0
}

// at is the first part held at seq, or nil.
func (h heldParts) at(seq int) *smsformat.Inbound {
	for _, sp := range h {
		if sp.ok && sp.rec.Seq == seq {
			in := sp.rec.inbound()
			return &in
		}
	}
	return nil
}

// fits reports whether the part in may join the group (reassembly.Fits).
func (h heldParts) fits(in smsformat.Inbound) bool {
	total := h.total()
	return total > 0 && reassembly.Fits(total, h.at(in.Part.Seq), in)
}

// complete reports whether every Seq of the group is held.
func (h heldParts) complete() bool {
	total := h.total()
	seen := map[int]bool{}
	for _, sp := range h {
		if sp.ok && sp.rec.Total == total {
			seen[sp.rec.Seq] = true
		}
	}
	return total > 0 && len(seen) == total
}

// due is when the group's wait is over, counted from its first part's
// arrival on whichever node; zero (at once) when a record did not decode.
func (h heldParts) due(wait time.Duration) time.Time {
	var first time.Time
	for _, sp := range h {
		if !sp.ok {
			return time.Time{}
		}
		if first.IsZero() || sp.rec.Arrived.Before(first) {
			first = sp.rec.Arrived
		}
	}
	return first.Add(wait)
}

// persistParts stores the parts that were not seen before, with their keys,
// in one durable transaction, and releases in it every group that one of
// them completes or ends (a part that does not fit the group held under
// its reference). fresh[i] reports whether parts[i] is new (a provider
// retry, of a pending part or of one already released, is not);
// released[i] are the messages parts[i] released, claimed for this node's
// hand-off (ready.go). started reports whether a part began a group.
func (c *Channel) persistParts(ctx context.Context, parts []smsformat.Inbound, keys []string) (fresh []bool, released [][]readyItem, started bool, err error) {
	now := c.clock.Now().UTC()
	err = c.db.Update(ctx, func(tx *store.Tx) error {
		// fn may run more than once: start afresh.
		fresh, released, started = make([]bool, len(parts)), make([][]readyItem, len(parts)), false
		pb, ib := tx.Bucket([]byte(bucketParts)), tx.Bucket([]byte(bucketPartKeys))
		for i, p := range parts {
			if ib.Get([]byte(keys[i])) != nil {
				continue
			}
			prefix := groupPrefix(p.Phone, p.Part.Ref)
			held := loadGroup(pb, prefix)
			if len(held) > 0 && !held.fits(p) {
				it, ok, err := c.release(tx, held, now)
				if err != nil {
					return err
				}
				if ok {
					released[i] = append(released[i], it)
				}
				held = nil
			}
			rec := partRecord{Key: keys[i], ProviderID: p.ProviderID, Phone: p.Phone, Text: p.Text, SentAt: p.SentAt,
				DestCode: p.DestCode, Ref: p.Part.Ref, Total: p.Part.Total, Seq: p.Part.Seq, Arrived: now}
			v, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("sms: encode part: %w", err)
			}
			st, _ := json.Marshal(partKeyState{At: now})
			k := partStoreKey(p, keys[i])
			if err := pb.Put(k, v); err != nil {
				return err
			}
			if err := ib.Put([]byte(keys[i]), st); err != nil {
				return err
			}
			fresh[i] = true
			held = append(held, storedPart{k: k, rec: rec, ok: true})
			if len(held) == 1 {
				started = true
			}
			if held.complete() {
				it, ok, err := c.release(tx, held, now)
				if err != nil {
					return err
				}
				if ok {
					released[i] = append(released[i], it)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("sms: cannot record parts: %w", err)
	}
	return fresh, released, started, nil
}

// releaseDue releases the group under prefix if it is still due at now:
// complete, or its wait is over, or force (beyond Options.MaxGroups). It
// reads the group again in its transaction, so a group another node has
// released meanwhile (or a newer group under the same reference, not yet
// due) is left alone. ok reports whether this call released it.
func (c *Channel) releaseDue(ctx context.Context, prefix []byte, now time.Time, force bool) (readyItem, bool, error) {
	var it readyItem
	var ok bool
	err := c.db.Update(ctx, func(tx *store.Tx) error {
		ok = false
		held := loadGroup(tx.Bucket([]byte(bucketParts)), prefix)
		if len(held) == 0 || !(force || held.complete() || !held.due(c.wait).After(now)) {
			return nil
		}
		var err error
		it, ok, err = c.release(tx, held, now)
		return err
	})
	if err != nil {
		return readyItem{}, false, fmt.Errorf("sms: cannot release parts: %w", err)
	}
	return it, ok, nil
}

// release joins held into one message, queues it in bucketReady claimed by
// this node (ready.go), deletes the parts and marks their keys done, in tx.
// ok is false when no part decoded (the records are only deleted).
func (c *Channel) release(tx *store.Tx, held heldParts, now time.Time) (readyItem, bool, error) {
	pb, ib := tx.Bucket([]byte(bucketParts)), tx.Bucket([]byte(bucketPartKeys))
	st, _ := json.Marshal(partKeyState{Done: true, At: now})
	var parts []smsformat.Inbound
	for _, sp := range held {
		if err := pb.Delete(sp.k); err != nil {
			return readyItem{}, false, err
		}
		if !sp.ok {
			continue
		}
		parts = append(parts, sp.rec.inbound())
		if err := ib.Put([]byte(sp.rec.Key), st); err != nil {
			return readyItem{}, false, err
		}
	}
	if len(parts) == 0 {
		return readyItem{}, false, nil
	}
	g := reassembly.Join(held.total(), parts)
	m := g.Message
	it := readyItem{rec: readyRecord{Key: c.groupKey(g), ProviderID: m.ProviderID, Phone: m.Phone, Text: m.Text, SentAt: m.SentAt,
		DestCode: m.DestCode, Parts: len(g.Parts), Missing: m.MissingParts, Next: now.Add(claimFor)}}
	it.key = readyKey(m.Phone, now, it.rec.Key)
	v, err := json.Marshal(it.rec)
	if err != nil {
		return readyItem{}, false, fmt.Errorf("sms: encode message: %w", err)
	}
	if err := tx.Bucket([]byte(bucketReady)).Put(it.key, v); err != nil {
		return readyItem{}, false, err
	}
	return it, true, nil
}

// seenKey reports whether a whole message with key was handed over before
// (within PartRetention).
func (c *Channel) seenKey(key string) bool {
	seen := false
	_ = c.db.View(func(tx *store.Tx) error {
		seen = tx.Bucket([]byte(bucketPartKeys)).Get([]byte(key)) != nil
		return nil
	})
	return seen
}

// markKey records that a whole message was handed over.
func (c *Channel) markKey(ctx context.Context, key string) error {
	st, _ := json.Marshal(partKeyState{Done: true, At: c.clock.Now().UTC()})
	return c.db.Update(ctx, func(tx *store.Tx) error {
		return tx.Bucket([]byte(bucketPartKeys)).Put([]byte(key), st)
	})
}

// groupKey is the de-duplication key of a message joined from parts: a
// digest of its parts' keys, so that the same set of parts gives the same
// key.
func (c *Channel) groupKey(g reassembly.Group) string {
	keys := make([]string, len(g.Parts))
	for i, p := range g.Parts {
		keys[i] = smsformat.DedupKey(c.provider, p)
	}
	sort.Strings(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\n")))
	return c.provider + ":parts:" + hex.EncodeToString(sum[:])
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
