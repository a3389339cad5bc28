package sms

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hotline12345/gateway/channels/sms/reassembly"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/intake/store"
)

// handOffTimeout bounds one hand-off made by Run.
const handOffTimeout = 10 * time.Second

// Retry backoff for hand-offs that failed: doubling from retryMin to retryMax.
const (
	retryMin = time.Second
	retryMax = time.Minute
)

// compactChunk bounds the deletions of one compaction transaction.
const compactChunk = 1000

type retryItem struct {
	g       reassembly.Group
	next    time.Time
	attempt int
}

func (c *Channel) queueRetry(g reassembly.Group, at time.Time) {
	c.mu.Lock()
	c.retry = append(c.retry, retryItem{g: g, next: at})
	c.mu.Unlock()
	c.kick()
}

// Run releases long messages whose parts did not all arrive in time,
// retries failed hand-offs and compacts old records, until ctx ends. Call it
// once, in a goroutine the caller waits for; it returns when ctx is done.
func (c *Channel) Run(ctx context.Context) {
	nextCompact := c.clock.Now()
	for {
		if ctx.Err() != nil {
			return
		}
		now := c.clock.Now()
		c.expire(ctx, now)
		c.retryDue(ctx, now)
		if !now.Before(nextCompact) {
			c.compact(ctx, now)
			nextCompact = now.Add(c.opts.CompactEvery)
		}
		wake := nextCompact
		if dl, ok := c.asm.NextDeadline(); ok && dl.Before(wake) {
			wake = dl
		}
		if r, ok := c.nextRetry(); ok && r.Before(wake) {
			wake = r
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

// expire hands over the messages reassembly releases as incomplete.
func (c *Channel) expire(ctx context.Context, now time.Time) {
	for _, g := range c.asm.ExpireGroups(now) {
		c.log.Info("sms: long message released incomplete", "phone", smsformat.MaskPhone(g.Message.Phone),
			"parts", len(g.Parts), "missing", joinInts(g.Message.MissingParts))
		if err := c.handOffBounded(ctx, g); err != nil {
			c.log.Warn("sms: hand-off failed, will retry", "phone", smsformat.MaskPhone(g.Message.Phone), "err", err)
			c.queueRetryAfter(g, 0, now)
		}
	}
}

func (c *Channel) handOffBounded(ctx context.Context, g reassembly.Group) error {
	hctx, cancel := context.WithTimeout(ctx, handOffTimeout)
	defer cancel()
	return c.handOff(hctx, g)
}

func (c *Channel) queueRetryAfter(g reassembly.Group, attempt int, now time.Time) {
	wait := retryMin << min(attempt, 6)
	if wait > retryMax {
		wait = retryMax
	}
	c.mu.Lock()
	c.retry = append(c.retry, retryItem{g: g, next: now.Add(wait), attempt: attempt + 1})
	c.mu.Unlock()
}

// retryDue retries the hand-offs that are due, in the order they failed.
func (c *Channel) retryDue(ctx context.Context, now time.Time) {
	c.mu.Lock()
	var due []retryItem
	rest := c.retry[:0]
	for _, it := range c.retry {
		if !it.next.After(now) {
			due = append(due, it)
		} else {
			rest = append(rest, it)
		}
	}
	c.retry = rest
	c.mu.Unlock()
	for i, it := range due {
		if ctx.Err() != nil { // keep the rest for the next start (their parts are durable)
			c.mu.Lock()
			c.retry = append(c.retry, due[i:]...)
			c.mu.Unlock()
			return
		}
		if err := c.handOffBounded(ctx, it.g); err != nil {
			c.log.Warn("sms: hand-off failed again", "phone", smsformat.MaskPhone(it.g.Message.Phone), "attempt", it.attempt+1, "err", err)
			c.queueRetryAfter(it.g, it.attempt, now)
		}
	}
}

func (c *Channel) nextRetry() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for _, it := range c.retry {
		if first.IsZero() || it.next.Before(first) {
			first = it.next
		}
	}
	return first, len(c.retry) > 0
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
