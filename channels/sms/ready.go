package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/intake/store"
)

// The hand-off queue. A message released from its parts waits in
// bucketReady until Conversations has it; it is deleted only after, so a
// crash in between hands it over again, under the same dedup key, which
// the hub recognises (it records the key with the message in one
// transaction): never lost, never doubled. One node at a time hands a
// message over: whoever does first moves its Next ahead by claimFor in a
// transaction (the release that queues it claims it for the releasing
// node). A node that dies mid-way leaves the claim to expire, and another
// node's Run takes the message then.

// claimFor is how long a claim keeps a message from the other nodes:
// longer than one hand-off (handOffTimeout), so that only a node that died
// or lost the store loses its claim.
const claimFor = 2 * handOffTimeout

// readyRecord is a message in bucketReady.
type readyRecord struct {
	Key        string    `json:"key"` // the message's dedup key (groupKey)
	ProviderID string    `json:"pid,omitempty"`
	Phone      string    `json:"phone"`
	Text       string    `json:"text"`
	SentAt     time.Time `json:"sent_at"`
	DestCode   string    `json:"dest,omitempty"`
	Parts      int       `json:"parts"`             // how many parts it was joined from
	Missing    []int     `json:"missing,omitempty"` // set: released incomplete
	// Next is when the message may be taken for a hand-off: a claim's
	// expiry, or a retry's time after a failed one.
	Next    time.Time `json:"next"`
	Attempt int       `json:"attempt,omitempty"` // failed hand-offs so far
}

func (r *readyRecord) inbound() smsformat.Inbound {
	return smsformat.Inbound{ProviderID: r.ProviderID, Phone: r.Phone, Text: r.Text, SentAt: r.SentAt, DestCode: r.DestCode,
		Incomplete: len(r.Missing) > 0, MissingParts: r.Missing}
}

// readyItem is a message of bucketReady with its key.
type readyItem struct {
	key []byte
	rec readyRecord
}

// readyKey orders the queue by number, then release time, so that Run
// retries one number's messages in order.
func readyKey(phone string, at time.Time, key string) []byte {
	return fmt.Appendf(nil, "%s\x00%016x\x00%s", phone, uint64(at.UnixNano()), key)
}

// handOffReady gives a message this node has claimed to Conversations,
// then removes it from the queue.
func (c *Channel) handOffReady(ctx context.Context, it readyItem) error {
	if err := c.handOff(ctx, it.rec.inbound(), it.rec.Key, it.rec.Parts); err != nil {
		return err
	}
	// Conversations has it: not given up because the caller's request ended.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handOffTimeout)
	defer cancel()
	if err := c.db.Update(dctx, func(tx *store.Tx) error {
		return tx.Bucket([]byte(bucketReady)).Delete(it.key)
	}); err != nil {
		c.log.Warn("sms: message handed over but still queued; handed over again once its claim expires (the hub ignores the repeat)",
			"dedup_key", it.rec.Key, "err", err)
	}
	return nil
}

// reschedule gives this node's claim on it up after a failed hand-off: the
// message is due again at next, with attempt failures behind it. Should
// the store refuse, the claim expires instead.
func (c *Channel) reschedule(ctx context.Context, it readyItem, next time.Time, attempt int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handOffTimeout)
	defer cancel()
	err := c.db.Update(ctx, func(tx *store.Tx) error {
		rb := tx.Bucket([]byte(bucketReady))
		var r readyRecord
		if v := rb.Get(it.key); v == nil || json.Unmarshal(v, &r) != nil {
			return nil // handed over by another node meanwhile
		}
		r.Next, r.Attempt = next.UTC(), attempt
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return rb.Put(it.key, v)
	})
	if err != nil {
		c.log.Warn("sms: cannot reschedule a hand-off; retried once its claim expires", "dedup_key", it.rec.Key, "err", err)
	}
	c.kick()
}

// claim takes the queued message under key for this node if it is due at
// now. ok is false when it is gone or another node holds it. A record that
// does not decode is deleted (corrupt).
func (c *Channel) claim(ctx context.Context, key []byte, now time.Time) (it readyItem, ok bool, err error) {
	corrupt := false
	err = c.db.Update(ctx, func(tx *store.Tx) error {
		ok, corrupt = false, false
		rb := tx.Bucket([]byte(bucketReady))
		v := rb.Get(key)
		if v == nil {
			return nil
		}
		var r readyRecord
		if json.Unmarshal(v, &r) != nil {
			corrupt = true
			return rb.Delete(key)
		}
		if r.Next.After(now) {
			return nil
		}
		r.Next = now.Add(claimFor).UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := rb.Put(key, b); err != nil {
			return err
		}
		it, ok = readyItem{key: key, rec: r}, true
		return nil
	})
	if corrupt && err == nil {
		c.log.Error("sms: corrupt queued message deleted")
	}
	return it, ok, err
}

// backoff is the wait before the next hand-off after attempt failures:
// doubling from retryMin to retryMax.
func backoff(attempt int) time.Duration {
	return min(retryMin<<min(attempt, 6), retryMax)
}
