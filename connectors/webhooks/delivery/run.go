package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

const userAgent = "hotline12345-gateway-webhooks/1"

// job is one attempt handed to a worker: the head of a group.
type job struct {
	key      []byte
	group    string
	entry    Entry
	disabled bool // the endpoint is disabled: dead-letter the group, send nothing
}

// outcome of one attempt.
type outcome struct {
	attempted  bool
	ok         bool
	gone       bool   // 410: disable the endpoint
	dead       string // permanent failure: the dead-letter reason
	wholeGroup bool
	status     int
	err        string
	retryAfter time.Duration
	hasRA      bool
}

// Run delivers messages until ctx ends or fence fails (one node passes the
// zero fence, which never fails): one scheduler
// goroutine hands due messages to Options.Workers workers. When ctx ends,
// in-flight attempts are cancelled (an aborted attempt is not counted) and
// Run returns nil once every worker stopped. The transaction that
// records an attempt's outcome checks fence first; when the check fails the
// outcome is not recorded (the lease's next holder attempts the message
// again: at least once), the other attempts are cancelled, and Run
// returns an error wrapping lease.ErrLost. Only one Run may be
// active at a time (ErrRunning).
func (q *Queue) Run(ctx context.Context, fence lease.Fence) error {
	if !q.running.TryLock() {
		return ErrRunning
	}
	defer q.running.Unlock()
	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)

	jobs := make(chan job)
	done := make(chan string, q.opts.Workers) // a worker sends once per job; busy ≤ Workers
	var wg sync.WaitGroup
	for range q.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := q.attempt(ctx, j, fence); errors.Is(err, lease.ErrLost) {
					lost(err)
				}
				done <- j.group
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	inflight := map[string]bool{}
	for {
		var timer <-chan time.Time
		var t clock.Timer
		if idle := q.opts.Workers - len(inflight); idle > 0 && ctx.Err() == nil {
			now := q.opts.Clock.Now()
			due, next, err := q.scan(now, inflight, idle)
			if err != nil {
				q.log.Error("webhook queue: cannot read the queue", "err", err)
				next = now.Add(time.Second)
			}
			for _, j := range due {
				inflight[j.group] = true
				jobs <- j
			}
			if p := q.opts.Poll; p > 0 && (next.IsZero() || next.Sub(now) > p) {
				next = now.Add(p) // another process may enqueue sooner
			}
			if len(due) < idle && !next.IsZero() {
				t = q.opts.Clock.NewTimer(next.Sub(now))
				timer = t.C()
				// A timer is relative to the clock when it is made; if the
				// clock passed next meanwhile (a fake clock advanced between
				// Now and NewTimer), do not wait for a deadline that moved.
				if !q.opts.Clock.Now().Before(next) {
					timer = fired
				}
			}
		}
		select {
		case <-ctx.Done():
			if err := context.Cause(ctx); errors.Is(err, lease.ErrLost) {
				return fmt.Errorf("delivery: stopped: %w", err)
			}
			return nil
		case <-q.wake:
		case g := <-done:
			delete(inflight, g)
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// fired is a channel that is always ready.
var fired = func() chan time.Time { c := make(chan time.Time); close(c); return c }()

// scan returns up to limit due group heads that are not in flight, and when
// the earliest other head is due (zero: none pending).
func (q *Queue) scan(now time.Time, inflight map[string]bool, limit int) (due []job, next time.Time, err error) {
	err = q.db.View(func(tx *store.Tx) error {
		disabled := map[string]bool{}
		if err := tx.Bucket([]byte(bucketEndpoints)).ForEach(func(k, v []byte) error {
			var st EndpointState
			if json.Unmarshal(v, &st) == nil && st.Disabled {
				disabled[string(k)] = true
			}
			return nil
		}); err != nil {
			return err
		}
		c := tx.Bucket([]byte(bucketQueue)).Cursor()
		var seek []byte
		for k, v := c.First(); k != nil; {
			ep := bytes.IndexByte(k, 0)
			if len(k) < 10 || ep < 1 {
				k, v = c.Next() // not one of ours
				continue
			}
			prefix := k[:len(k)-8]
			if !inflight[string(prefix)] { // no allocation for the look-up
				at, ok := queuedNextAt(v)
				dis := disabled[string(k[:ep])]
				if ok && !dis && at.After(now) {
					if next.IsZero() || at.Before(next) {
						next = at
					}
				} else {
					j := job{key: bytes.Clone(k), group: string(prefix), disabled: dis}
					if err := decodeQueued(v, &j.entry); err != nil {
						q.log.Error("webhook queue: corrupt message skipped", "key", fmt.Sprintf("%q", k), "err", err)
					} else if due = append(due, j); len(due) >= limit {
						return nil
					}
				}
			}
			seek = append(seek[:0], prefix...)
			seek[len(seek)-1] = 1 // past every key of the group (names hold no NUL)
			k, v = c.Seek(seek)
		}
		return nil
	})
	return due, next, err
}

// attempt sends one message and records the outcome; the error is
// finish's.
func (q *Queue) attempt(ctx context.Context, j job, fence lease.Fence) error {
	var o outcome
	secrets := q.secretsFor(j.entry.Endpoint)
	switch {
	case j.disabled:
		o = outcome{dead: "endpoint disabled", wholeGroup: true}
	case len(secrets) == 0:
		o = outcome{dead: "no secret registered for endpoint " + j.entry.Endpoint}
	default:
		if j.entry.Attempts == 0 {
			q.firstAttempt.WithLabelValues(j.entry.Endpoint).Observe(q.opts.Clock.Now().Sub(j.entry.EnqueuedAt).Seconds())
		}
		o = q.send(ctx, &j.entry, secrets)
		if !o.attempted { // cancelled by shutdown: not an attempt
			return nil
		}
	}
	return q.finish(ctx, j, o, fence)
}

// send makes one POST with a fresh timestamp and signature.
func (q *Queue) send(ctx context.Context, e *Entry, secrets []stdwebhook.Secret) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(e.Payload))
	if err != nil {
		return outcome{attempted: true, dead: "bad callback URL: " + err.Error()}
	}
	req.Header = SignedHeaders(secrets, e.ID, q.opts.Clock.Now(), e.Payload)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := q.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{}
		}
		if errors.Is(err, safehttp.ErrForbiddenAddress) {
			return outcome{attempted: true, dead: "forbidden destination: " + err.Error(), err: err.Error()}
		}
		return outcome{attempted: true, err: err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	o := outcome{attempted: true, status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		o.ok = true
	case resp.StatusCode == http.StatusGone:
		o.gone = true
	default:
		o.err = "HTTP " + strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			o.err += " (redirect not followed)"
		}
		o.retryAfter, o.hasRA = safehttp.RetryAfter(resp.Header, q.opts.Clock.Now())
	}
	return o
}

// SignedHeaders returns the Standard Webhooks headers for one attempt,
// with one "v1," signature per secret, space-separated.
func SignedHeaders(secrets []stdwebhook.Secret, id string, ts time.Time, payload []byte) http.Header {
	h := stdwebhook.Headers(secrets[0], id, ts, payload)
	if len(secrets) > 1 {
		sigs := make([]string, len(secrets))
		for i, s := range secrets {
			sigs[i] = stdwebhook.Sign(s, id, ts, payload)
		}
		h.Set(stdwebhook.HeaderSignature, strings.Join(sigs, " "))
	}
	return h
}

// finish persists an outcome: delete on success, schedule the next attempt,
// or move to the dead letters, in a transaction that checks fence first. It
// outlives ctx briefly so that a delivery that succeeded just before shutdown
// is not sent again. It returns the transaction's error, logged already.
func (q *Queue) finish(ctx context.Context, j job, o outcome, fence lease.Fence) error {
	now := q.opts.Clock.Now().UTC()
	attempts := j.entry.Attempts
	if o.attempted {
		attempts++
	}
	var delay time.Duration
	if !o.ok && !o.gone && o.dead == "" {
		d, ok := q.opts.Schedule.Backoff(attempts, q.opts.Rand)
		if !ok {
			o.dead = fmt.Sprintf("gave up after %d attempts", attempts)
		} else {
			delay = d
			if o.hasRA {
				delay = max(delay, min(o.retryAfter, q.opts.MaxRetryAfter))
			}
		}
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var dead string
	found := false // the message was still queued: the outcome was recorded
	err := q.db.Update(pctx, func(tx *store.Tx) error {
		dead, found = "", false
		if err := fence.Check(tx); err != nil {
			return err
		}
		b := tx.Bucket([]byte(bucketQueue))
		v := b.Get(j.key)
		if v == nil {
			return nil
		}
		var e Entry
		if err := decodeQueued(v, &e); err != nil || e.ID != j.entry.ID {
			return nil
		}
		found = true
		e.Attempts = attempts
		if o.attempted {
			e.LastStatus, e.LastError = o.status, o.err
		}
		switch {
		case o.ok:
			return b.Delete(j.key)
		case o.gone:
			if err := putEndpoint(tx, EndpointState{Name: e.Endpoint, Disabled: true, DisabledAt: &now,
				Reason: "HTTP 410 Gone from " + e.URL}); err != nil {
				return err
			}
			dead = "endpoint answered 410 Gone; endpoint disabled"
		case o.dead != "" && o.wholeGroup:
			dead = o.dead
			return deadGroup(tx, j.key[:len(j.key)-8], dead, now)
		case o.dead != "":
			dead = o.dead
		default:
			st, err := getEndpoint(tx, e.Endpoint)
			if err != nil {
				return err
			}
			if !st.Disabled {
				e.NextAt = now.Add(delay)
				return putQueued(b, j.key, &e)
			}
			dead = "endpoint disabled"
		}
		if err := b.Delete(j.key); err != nil {
			return err
		}
		return toDead(tx, &e, dead, now)
	})
	log := q.log.With("endpoint", j.entry.Endpoint, "webhook_id", j.entry.ID, "type", j.entry.Type,
		"attempt", attempts, "status", o.status)
	switch {
	case errors.Is(err, lease.ErrLost):
		log.Warn("webhook queue: lease lost: the attempt is not recorded; the next holder repeats it", "err", err)
	case err != nil:
		log.Error("webhook queue: cannot record the attempt; it will be repeated", "err", err)
	case !found:
		log.Debug("webhook attempt not recorded: the message left the queue meanwhile")
	case o.ok:
		q.deliveries.WithLabelValues(j.entry.Endpoint, outcomeDelivered).Inc()
		log.Debug("webhook delivered")
	case dead != "":
		q.deliveries.WithLabelValues(j.entry.Endpoint, outcomeDeadLetter).Inc()
		log.Warn("webhook moved to the dead letters", "reason", dead, "err", o.err)
	default:
		q.deliveries.WithLabelValues(j.entry.Endpoint, outcomeRetry).Inc()
		log.Info("webhook attempt failed; will retry", "err", o.err, "retry_in", delay.String())
	}
	return err
}

// deadGroup moves every message of a group to the dead letters.
func deadGroup(tx *store.Tx, prefix []byte, reason string, now time.Time) error {
	c := tx.Bucket([]byte(bucketQueue)).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Seek(prefix) {
		var e Entry
		corrupt := decodeQueued(v, &e) != nil || e.ID == ""
		if err := c.Delete(); err != nil {
			return err
		}
		if corrupt { // undeliverable and unlistable; dropping it unblocks the group
			continue
		}
		if err := toDead(tx, &e, reason, now); err != nil {
			return err
		}
	}
	return nil
}
