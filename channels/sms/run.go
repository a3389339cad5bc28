package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/intake/store"
)

// handOffTimeout bounds one hand-off made by Run.
const handOffTimeout = 10 * time.Second

// Retry backoff for hand-offs that failed: doubling from retryMin to retryMax
// (backoff).
const (
	retryMin = time.Second
	retryMax = time.Minute
)

// compactChunk bounds the deletions of one compaction transaction.
const compactChunk = 1000

// Run does what is due in the store's reassembly, whichever gateway
// received the parts: it releases long messages whose parts did not all
// arrive in time, retries hand-offs that failed or whose node died, and
// compacts old records, until ctx ends. Call it once, in a goroutine the
// caller waits for; it returns when ctx is done.
//
// Every node's Run sweeps the whole store rather than the groups it
// received parts of: in cluster mode a group's parts are spread over the
// nodes, and the node that received the first may be dead. The
// transactions that release a group and claim a message decide which
// node's sweep counts, so nodes sweeping at once release a group once. A
// part stored here wakes Run at once; one stored by another node is seen
// at the next sweep, at most Options.SweepEvery later.
func (c *Channel) Run(ctx context.Context) {
	nextCompact := c.clock.Now()
	for {
		if ctx.Err() != nil {
			return
		}
		now := c.clock.Now()
		wake := now.Add(c.opts.SweepEvery)
		if next, ok := c.sweep(ctx, now); ok && next.Before(wake) {
			wake = next
		}
		if !now.Before(nextCompact) {
			c.compact(ctx, now)
			nextCompact = now.Add(c.opts.CompactEvery)
		}
		if nextCompact.Before(wake) {
			wake = nextCompact
		}
		fired, stop, ok := c.timerAt(wake)
		if !ok {
			continue
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-fired:
		case <-c.wake:
			stop()
		}
	}
}

// timerAt returns a channel closed at wake on the channel's clock, or false
// when wake has passed. A clock that moved while the timer was being set
// (a test advancing it) would make the timer late, so it is set again.
func (c *Channel) timerAt(wake time.Time) (<-chan struct{}, func() bool, bool) {
	for {
		before := c.clock.Now()
		d := wake.Sub(before)
		if d <= 0 {
			return nil, nil, false
		}
		fired := make(chan struct{})
		t := c.clock.AfterFunc(d, func() { close(fired) })
		if c.clock.Now().Sub(before) <= time.Millisecond {
			return fired, t.Stop, true
		}
		t.Stop()
	}
}

// pendingGroup is a group of bucketParts as a sweep sees it.
type pendingGroup struct {
	prefix   []byte
	due      time.Time // when its wait is over
	complete bool      // left complete by an earlier version, which joined parts in memory
	force    bool      // beyond Options.MaxGroups: released now
}

// pendingReady is a message of bucketReady as a sweep sees it.
type pendingReady struct {
	key  []byte
	next time.Time
}

// pending reads what waits in the store: the groups, and the messages
// waiting for a hand-off, each in key order.
func (c *Channel) pending() (groups []pendingGroup, ready []pendingReady, err error) {
	err = c.db.View(func(tx *store.Tx) error {
		groups, ready = nil, nil
		var held heldParts
		flush := func() {
			if len(held) > 0 {
				groups = append(groups, pendingGroup{prefix: prefixOf(held[0].k), due: held.due(c.wait), complete: held.complete()})
			}
			held = held[:0]
		}
		if err := tx.Bucket([]byte(bucketParts)).ForEach(func(k, v []byte) error {
			if len(held) > 0 && !bytes.Equal(prefixOf(held[0].k), prefixOf(k)) {
				flush()
			}
			held = held.add(k, v)
			return nil
		}); err != nil {
			return err
		}
		flush()
		return tx.Bucket([]byte(bucketReady)).ForEach(func(k, v []byte) error {
			var r readyRecord
			_ = json.Unmarshal(v, &r) // a corrupt record: zero Next, claim deletes it
			ready = append(ready, pendingReady{key: bytes.Clone(k), next: r.Next})
			return nil
		})
	})
	if over := len(groups) - c.opts.MaxGroups; err == nil && over > 0 {
		oldest := make([]int, len(groups))
		for i := range oldest {
			oldest[i] = i
		}
		sort.SliceStable(oldest, func(a, b int) bool { return groups[oldest[a]].due.Before(groups[oldest[b]].due) })
		for _, i := range oldest[:over] {
			groups[i].force = true
		}
	}
	return groups, ready, err
}

// sweep hands over the queued messages that are due at now, then releases
// the groups that are due, the older of one number first. It returns when
// it next has work, false when nothing waits.
func (c *Channel) sweep(ctx context.Context, now time.Time) (time.Time, bool) {
	groups, ready, err := c.pending()
	if err != nil {
		c.log.Warn("sms: cannot read pending parts", "err", err)
		return now.Add(retryMin), true
	}
	var next time.Time
	later := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, r := range ready {
		if ctx.Err() != nil {
			return next, !next.IsZero()
		}
		if r.next.After(now) {
			later(r.next)
			continue
		}
		later(c.retryReady(ctx, r.key, now))
	}
	for _, g := range groups {
		if ctx.Err() != nil {
			return next, !next.IsZero()
		}
		if !g.force && !g.complete && g.due.After(now) {
			later(g.due)
			continue
		}
		later(c.expire(ctx, g, now))
	}
	return next, !next.IsZero()
}

// retryReady claims and hands over a queued message. It returns when it is
// due again (zero: handed over, or another node has it).
func (c *Channel) retryReady(ctx context.Context, key []byte, now time.Time) time.Time {
	it, ok, err := c.claim(ctx, key, now)
	if err != nil {
		c.log.Warn("sms: cannot claim a queued message", "err", err)
		return now.Add(retryMin)
	}
	if !ok {
		return time.Time{}
	}
	if err := c.handOffBounded(ctx, it); err != nil {
		c.log.Warn("sms: hand-off failed again", "phone", smsformat.MaskPhone(it.rec.Phone), "attempt", it.rec.Attempt+1, "err", err)
		next := now.Add(backoff(it.rec.Attempt))
		c.reschedule(ctx, it, next, it.rec.Attempt+1)
		return next
	}
	return time.Time{}
}

// expire releases a due group and hands the message over. It returns when
// there is work again (zero: none).
func (c *Channel) expire(ctx context.Context, g pendingGroup, now time.Time) time.Time {
	it, ok, err := c.releaseDue(ctx, g.prefix, now, g.force)
	if err != nil {
		c.log.Warn("sms: cannot release a long message", "err", err)
		return now.Add(retryMin)
	}
	if !ok {
		return time.Time{} // another node released it
	}
	if m := it.rec; len(m.Missing) > 0 {
		c.log.Info("sms: long message released incomplete", "phone", smsformat.MaskPhone(m.Phone),
			"parts", m.Parts, "missing", joinInts(m.Missing))
	}
	if err := c.handOffBounded(ctx, it); err != nil {
		c.log.Warn("sms: hand-off failed, will retry", "phone", smsformat.MaskPhone(it.rec.Phone), "err", err)
		next := now.Add(backoff(0))
		c.reschedule(ctx, it, next, 1)
		return next
	}
	return time.Time{}
}

func (c *Channel) handOffBounded(ctx context.Context, it readyItem) error {
	hctx, cancel := context.WithTimeout(ctx, handOffTimeout)
	defer cancel()
	return c.handOffReady(hctx, it)
}

// compact deletes done part keys older than PartRetention and sent message
// ids older than SentRetention, in bounded transactions.
func (c *Channel) compact(ctx context.Context, now time.Time) {
	partsBefore := now.Add(-c.opts.PartRetention)
	n1, err := c.compactBucket(ctx, bucketPartKeys, func(v []byte) bool {
		var st partKeyState
		return json.Unmarshal(v, &st) == nil && st.Done && st.At.Before(partsBefore)
	})
	if err != nil {
		c.log.Warn("sms: compaction failed", "bucket", bucketPartKeys, "err", err)
	}
	sentBefore := now.Add(-c.opts.SentRetention)
	n2, err := c.compactBucket(ctx, bucketSent, func(v []byte) bool {
		var r sentRecord
		return json.Unmarshal(v, &r) == nil && r.At.Before(sentBefore)
	})
	if err != nil {
		c.log.Warn("sms: compaction failed", "bucket", bucketSent, "err", err)
	}
	if n1+n2 > 0 {
		c.log.Info("sms: compacted", "part_keys", n1, "sent", n2)
	}
}

func (c *Channel) compactBucket(ctx context.Context, bucket string, expired func(v []byte) bool) (int, error) {
	total := 0
	var after []byte
	for {
		var keys [][]byte
		var last []byte
		scanned := 0
		if err := c.db.View(func(tx *store.Tx) error {
			cur := tx.Bucket([]byte(bucket)).Cursor()
			k, v := cur.First()
			if after != nil {
				k, v = cur.Seek(after)
				if k != nil && string(k) == string(after) {
					k, v = cur.Next()
				}
			}
			for ; k != nil && len(keys) < compactChunk && scanned < 20*compactChunk; k, v = cur.Next() {
				scanned++
				last = append(last[:0], k...)
				if expired(v) {
					keys = append(keys, append([]byte(nil), k...))
				}
			}
			return nil
		}); err != nil {
			return total, err
		}
		if len(keys) > 0 {
			if err := c.db.Update(ctx, func(tx *store.Tx) error {
				b := tx.Bucket([]byte(bucket))
				for _, k := range keys {
					// Check again: a record may have been renewed since the scan.
					if v := b.Get(k); v != nil && expired(v) {
						if err := b.Delete(k); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				return total, err
			}
			total += len(keys)
		}
		if last == nil || (len(keys) < compactChunk && scanned < 20*compactChunk) {
			return total, nil
		}
		after = last
	}
}
