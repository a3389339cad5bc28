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

// partRecord is a pending part as kept in bucketParts until the message it
// belongs to has been handed to Conversations.
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
// message was handed over, then done (kept PartRetention for late retries).
type partKeyState struct {
	Done bool      `json:"done,omitempty"`
	At   time.Time `json:"at"`
}

// groupPrefix is the bucketParts key prefix of one part position; the ref is
// hex-encoded so that no byte of it can collide with the separators.
func groupPrefix(phone, ref string, seq int) []byte {
	return []byte(phone + "\x00" + hex.EncodeToString([]byte(ref)) + "\x00" + fmt.Sprintf("%03d", seq) + "\x00")
}

func partStoreKey(p smsformat.Inbound, key string) []byte {
	return append(groupPrefix(p.Phone, p.Part.Ref, p.Part.Seq), key...)
}

// persistParts writes the parts that were not seen before, with their keys,
// in one durable transaction. fresh[i] reports whether parts[i] is new (a
// provider retry of a part, pending or already assembled, is not).
func (c *Channel) persistParts(ctx context.Context, parts []smsformat.Inbound, keys []string) ([]bool, error) {
	fresh := make([]bool, len(parts))
	now := c.clock.Now().UTC()
	err := c.db.Update(ctx, func(tx *store.Tx) error {
		clear(fresh) // fn may run more than once
		pb, ib := tx.Bucket([]byte(bucketParts)), tx.Bucket([]byte(bucketPartKeys))
		for i, p := range parts {
			if ib.Get([]byte(keys[i])) != nil {
				continue
			}
			rec := partRecord{Key: keys[i], ProviderID: p.ProviderID, Phone: p.Phone, Text: p.Text, SentAt: p.SentAt,
				DestCode: p.DestCode, Ref: p.Part.Ref, Total: p.Part.Total, Seq: p.Part.Seq, Arrived: now}
			v, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("sms: encode part: %w", err)
			}
			st, _ := json.Marshal(partKeyState{At: now})
			if err := pb.Put(partStoreKey(p, keys[i]), v); err != nil {
				return err
			}
			if err := ib.Put([]byte(keys[i]), st); err != nil {
				return err
			}
			fresh[i] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sms: cannot record parts: %w", err)
	}
	return fresh, nil
}

// consumeGroup deletes the pending records a handed-over message was made
// of and marks their keys done. It matches records by position, total and
// text, so a retry the provider sent under another id (which reassembly
// ignored as a duplicate) goes too.
func (c *Channel) consumeGroup(ctx context.Context, g reassembly.Group) error {
	now := c.clock.Now().UTC()
	err := c.db.Update(ctx, func(tx *store.Tx) error {
		pb, ib := tx.Bucket([]byte(bucketParts)), tx.Bucket([]byte(bucketPartKeys))
		st, _ := json.Marshal(partKeyState{Done: true, At: now})
		for _, p := range g.Parts {
			prefix := groupPrefix(p.Phone, p.Part.Ref, p.Part.Seq)
			var del [][]byte
			var keys []string
			cur := pb.Cursor()
			for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
				var rec partRecord
				if json.Unmarshal(v, &rec) != nil || (rec.Total == p.Part.Total && rec.Text == p.Text) {
					del = append(del, append([]byte(nil), k...))
					keys = append(keys, rec.Key)
				}
			}
			for i, k := range del {
				if err := pb.Delete(k); err != nil {
					return err
				}
				if keys[i] != "" {
					if err := ib.Put([]byte(keys[i]), st); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sms: cannot remove assembled parts: %w", err)
	}
	return nil
}

// reload puts the pending parts back into the assembler, in arrival order
// and with their original arrival times, so deadlines survive a restart.
// Messages that were already complete are queued for hand-off by Run.
func (c *Channel) reload() error {
	var recs []partRecord
	err := c.db.View(func(tx *store.Tx) error {
		return tx.Bucket([]byte(bucketParts)).ForEach(func(k, v []byte) error {
			var r partRecord
			if err := json.Unmarshal(v, &r); err != nil {
				c.log.Error("sms: corrupt pending part skipped", "err", err)
				return nil
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("sms: cannot reload pending parts: %w", err)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Arrived.Before(recs[j].Arrived) })
	defer c.reloadAt.Store(nil)
	for i := range recs {
		at := recs[i].Arrived
		c.reloadAt.Store(&at)
		if g, ok := c.asm.AddGroup(recs[i].inbound()); ok {
			c.queueRetry(*g, at)
		}
	}
	if len(recs) > 0 {
		c.log.Info("sms: pending parts reloaded", "parts", len(recs), "messages_waiting", c.asm.Len())
	}
	return nil
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

// groupKey is the de-duplication key of a message: the provider's key for a
// whole message; for one joined from parts, a digest of its parts' keys, so
// that the same set of parts (after a restart, say) gives the same key.
func (c *Channel) groupKey(g reassembly.Group) string {
	if len(g.Parts) == 0 {
		return smsformat.DedupKey(c.provider, g.Message)
	}
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
