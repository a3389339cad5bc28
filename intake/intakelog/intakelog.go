// Package intakelog is the gateway's durability boundary. A channel's request
// is acknowledged only after Accept has written, in one fsync'ed transaction,
// the envelope's outbox record (what the relay will publish to Kafka), its
// idempotency entry and its status record. Events go through the same outbox.
package intakelog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// Bucket names owned by this package.
const (
	bucketOutbox   = "outbox"       // seq (8 bytes BE) → Record JSON: the one node's lane
	bucketLanes    = "outbox_lanes" // lane \x00 seq (8 bytes BE) → Record JSON: cluster nodes' lanes
	bucketIdem     = "idem"         // idempotency key → idemEntry JSON
	bucketRequests = "requests"     // envelope id → Request JSON
	bucketNonces   = "nonces"       // scope + nonce → unix seconds
	bucketMeta     = "meta"         // relay cursor and the like
)

// Buckets lists the buckets the store must have for this package.
var Buckets = []string{bucketOutbox, bucketLanes, bucketIdem, bucketRequests, bucketNonces, bucketMeta, bucketNumberDays, bucketNumbers}

// Errors callers branch on.
var (
	// ErrConflict: the idempotency key was used before with a different body.
	ErrConflict = errors.New("intakelog: idempotency key reused with a different request")
	// ErrReplay: the nonce was used before.
	ErrReplay = errors.New("intakelog: nonce already used")
	// ErrNotFound: no such request.
	ErrNotFound = errors.New("intakelog: request not found")
)

// Record is one message for Kafka, as kept in the outbox.
type Record struct {
	Lane    string            `json:"-"` // the outbox lane it was appended to ("" for the one node's)
	Seq     uint64            `json:"-"` // its place in the lane
	Topic   string            `json:"topic"`
	Key     string            `json:"key"`
	Headers map[string]string `json:"headers"`
	Value   json.RawMessage   `json:"value"`
	At      time.Time         `json:"at"`
}

// Topics names the Kafka topics records go to.
type Topics struct{ Envelopes, Events string }

// Request is what the gateway remembers of an accepted request: enough to
// answer GET /v1/requests/{id}, to deliver replies on its channel and to keep
// its clocks.
type Request struct {
	ID               string            `json:"id"`
	Number           string            `json:"number,omitempty"` // contract §11; empty for requests accepted before numbers existed
	Channel          string            `json:"channel"`
	Status           string            `json:"status"`
	ReceivedAt       time.Time         `json:"received_at"`
	FirstResponseDue time.Time         `json:"first_response_due"`
	HandlingDue      time.Time         `json:"handling_due"`
	FirstResponseAt  *time.Time        `json:"first_response_at,omitempty"`
	HandledAt        *time.Time        `json:"handled_at,omitempty"`
	UpdatedAt        time.Time         `json:"updated_at"`
	Owner            string            `json:"owner,omitempty"`           // who may read it: "citizen:<sub>" or "partner:<name>"
	ChannelUserID    string            `json:"channel_user_id,omitempty"` // where replies go (openid, phone, …)
	SessionID        string            `json:"session_id,omitempty"`
	IdempotencyKey   string            `json:"idempotency_key"`
	Reply            string            `json:"reply,omitempty"`    // the last reply from the ticket system, for status pages
	Notice           string            `json:"notice,omitempty"`   // what the citizen must read at once (an emergency's)
	Extra            map[string]string `json:"extra,omitempty"`    // channel specifics (partner request_id, …)
	District         string            `json:"district,omitempty"` // the envelope's location.district, for reports
	// Repeat: triage found an earlier request of the citizen about the same
	// matter (triage.repeat_of), so it is not a first request (contract §9).
	Repeat bool `json:"repeat,omitempty"`
}

type idemEntry struct {
	EnvelopeID  string `json:"envelope_id"`
	Fingerprint string `json:"fingerprint,omitempty"`
	At          int64  `json:"at"`
}

// AcceptOptions qualify one Accept.
type AcceptOptions struct {
	// Fingerprint identifies the request body; a repeat of the idempotency
	// key with a different fingerprint is ErrConflict. Empty: not checked.
	Fingerprint string
	// Nonce, if set, must not have been used before in NonceScope.
	Nonce, NonceScope string
	// Owner may read the request's status later.
	Owner string
	// Extra is stored with the request.
	Extra map[string]string
	// Events are recorded in the same transaction (e.g. request.accepted).
	Events []*normalize.Event
}

// Result of Accept.
type Result struct {
	Receipt   normalize.Receipt
	Duplicate bool
	// Owner is the request's recorded owner (AcceptOptions.Owner of the
	// first Accept), so that a retry can be answered as the first one was.
	Owner string

	after []func() // the prepare hooks' Prep.After, run by Committed
}

// Hook runs inside the accepting transaction of a new envelope, so that
// what other components keep about it (timers, sessions) is exactly as durable.
type Hook func(tx *store.Tx, env *normalize.Envelope) error

// Log is the intake log.
type Log struct {
	db     *store.DB
	topics Topics
	now    func() time.Time

	mu       sync.RWMutex
	hooks    []Hook
	preps    []func(*normalize.Envelope) Prep
	accepted []func(*normalize.Envelope)

	numbers *numberer
	lane    string // the outbox lane this log appends to

	wake chan struct{}
}

// New returns the log over db with the gateway's clock.
func New(db *store.DB, topics Topics, clk clock.Clock, opts ...Option) *Log {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return &Log{db: db, topics: topics, now: clk.Now, numbers: newNumberer(db, o.numberBlock), lane: o.lane, wake: make(chan struct{}, 1)}
}

// Option qualifies New.
type Option func(*options)

type options struct {
	numberBlock uint64
	lane        string
}

// SharedNumbers makes request numbers safe for several nodes on one shared
// store: each node reserves blocks of size numbers (cluster mode).
func SharedNumbers(size uint64) Option { return func(o *options) { o.numberBlock = size } }

// Lane makes this log append to an outbox lane of its own, name (a node id),
// so that nodes sharing a store never write the same sequence (cluster mode;
// see outbox.go).
func Lane(name string) Option { return func(o *options) { o.lane = name } }

// OnAccept registers a hook that runs in the transaction of every new envelope.
func (l *Log) OnAccept(h Hook) { l.mu.Lock(); l.hooks = append(l.hooks, h); l.mu.Unlock() }

// AfterAccept registers a callback run after a new envelope is durable
// (not for duplicates). It must not block.
func (l *Log) AfterAccept(f func(*normalize.Envelope)) {
	l.mu.Lock()
	l.accepted = append(l.accepted, f)
	l.mu.Unlock()
}

// Wake is signalled after every commit that added outbox records.
func (l *Log) Wake() <-chan struct{} { return l.wake }

func (l *Log) notify() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Fingerprint returns a stable digest of a request body for AcceptOptions.
func Fingerprint(body []byte) string {
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:])
}

// UseNonce records a single-use nonce durably (for signed requests that do not
// create an envelope, such as status look-ups).
func (l *Log) UseNonce(ctx context.Context, scope, nonce string) error {
	return l.db.Update(ctx, func(tx *store.Tx) error { return useNonce(tx, scope, nonce, l.now()) })
}

func useNonce(tx *store.Tx, scope, nonce string, now time.Time) error {
	k := []byte(scope + "\x00" + nonce)
	prev, err := tx.Bucket([]byte(bucketNonces)).PutIfAbsent(k, binary.BigEndian.AppendUint64(nil, uint64(now.Unix())))
	switch {
	case err != nil:
		return err
	case prev != nil:
		return ErrReplay
	}
	return nil
}

// AppendEvent adds an event to the outbox inside tx.
func (l *Log) AppendEvent(tx *store.Tx, ev *normalize.Event) error {
	r, err := l.eventRecord(ev, l.now())
	if err != nil {
		return err
	}
	return l.appendEncoded(tx, r)
}

// EventRecord encodes ev as an outbox record, for AppendRecord in a later
// transaction: encoding outside the store's single writer.
func (l *Log) EventRecord(ev *normalize.Event) ([]byte, error) { return l.eventRecord(ev, l.now()) }

// AppendRecord appends a record made by EventRecord to the outbox in tx.
// Call Notify after the commit.
func (l *Log) AppendRecord(tx *store.Tx, record []byte) error { return l.appendEncoded(tx, record) }

func (l *Log) eventRecord(ev *normalize.Event, now time.Time) ([]byte, error) {
	value, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("intakelog: cannot encode event: %w", err)
	}
	r, err := encodeRecord(&Record{Topic: l.topics.Events, Key: ev.Key(), Value: value, At: now.UTC(),
		Headers: map[string]string{"schema": normalize.SchemaEvent, "channel": ev.Channel, "idempotency-key": ev.ID}})
	if err != nil {
		return nil, fmt.Errorf("intakelog: cannot encode event: %w", err)
	}
	return r, nil
}

// Emit records events durably; they reach Kafka through the relay.
func (l *Log) Emit(ctx context.Context, evs ...*normalize.Event) error {
	if err := l.db.Update(ctx, func(tx *store.Tx) error {
		for _, ev := range evs {
			if err := l.AppendEvent(tx, ev); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	l.notify()
	return nil
}

// Notify tells the relay that a transaction made elsewhere appended records.
func (l *Log) Notify() { l.notify() }

// Request returns the status record of an envelope.
func (l *Log) Request(id string) (*Request, error) {
	var req *Request
	err := l.db.View(func(tx *store.Tx) error {
		var err error
		req, err = getRequest(tx, id)
		return err
	})
	return req, err
}

// UpdateRequest changes a request's record in its own durable transaction.
// fn returns false to leave the record unchanged; extra runs in the same
// transaction (for events).
func (l *Log) UpdateRequest(ctx context.Context, id string, fn func(tx *store.Tx, r *Request) (bool, error)) error {
	err := l.db.Update(ctx, func(tx *store.Tx) error { return l.UpdateRequestTx(tx, id, fn) })
	if err == nil {
		l.notify()
	}
	return err
}

// UpdateRequestTx is UpdateRequest inside a caller's transaction.
func (l *Log) UpdateRequestTx(tx *store.Tx, id string, fn func(tx *store.Tx, r *Request) (bool, error)) error {
	req, err := getRequest(tx, id)
	if err != nil {
		return err
	}
	changed, err := fn(tx, req)
	if err != nil || !changed {
		return err
	}
	req.UpdatedAt = l.now().UTC()
	return putRequest(tx, req)
}

// RequestTx reads a request's status record inside the caller's transaction
// (ErrNotFound when there is none).
func RequestTx(tx *store.Tx, id string) (*Request, error) { return getRequest(tx, id) }

func getRequest(tx *store.Tx, id string) (*Request, error) {
	v := tx.Bucket([]byte(bucketRequests)).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var r Request
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("intakelog: corrupt request %s: %w", id, err)
	}
	return &r, nil
}

func putRequest(tx *store.Tx, r *Request) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketRequests)).Put([]byte(r.ID), v)
}

// RequestRetention is the least time a handled request's record is kept: the
// timeliness report and status look-ups read them.
const RequestRetention = 35 * 24 * time.Hour

// Compact deletes relayed outbox records, idempotency entries and nonces
// older than retention, and handled request records not updated within
// max(retention, RequestRetention). It works in bounded chunks so that it
// never holds the writer for long.
func (l *Log) Compact(ctx context.Context, retention time.Duration) (int, error) {
	cutoff := l.now().Add(-retention)
	reqCutoff := l.now().Add(-max(retention, RequestRetention))
	total := 0
	for _, step := range []func(tx *store.Tx, n *int) error{
		func(tx *store.Tx, n *int) error { return l.compactOutbox(tx, cutoff, n) },
		func(tx *store.Tx, n *int) error { // idempotency entries
			c := tx.Bucket([]byte(bucketIdem)).Cursor()
			for k, v := c.First(); k != nil && *n < 2000; k, v = c.Next() {
				var e idemEntry
				if json.Unmarshal(v, &e) == nil && time.Unix(e.At, 0).Before(cutoff) {
					if err := c.Delete(); err != nil {
						return err
					}
					*n++
				}
			}
			return nil
		},
		func(tx *store.Tx, n *int) error { // nonces older than the retention
			c := tx.Bucket([]byte(bucketNonces)).Cursor()
			for k, v := c.First(); k != nil && *n < 2000; k, v = c.Next() {
				if len(v) == 8 && time.Unix(int64(binary.BigEndian.Uint64(v)), 0).Before(cutoff) {
					if err := c.Delete(); err != nil {
						return err
					}
					*n++
				}
			}
			return nil
		},
		func(tx *store.Tx, n *int) error { // requests closed long ago
			c := tx.Bucket([]byte(bucketRequests)).Cursor()
			for k, v := c.First(); k != nil && *n < 2000; k, v = c.Next() {
				var r Request
				if json.Unmarshal(v, &r) == nil && r.UpdatedAt.Before(reqCutoff) && r.HandledAt != nil {
					if err := c.Delete(); err != nil {
						return err
					}
					if err := deleteNumber(tx, r.Number, r.ID); err != nil {
						return err
					}
					*n++
				}
			}
			return nil
		},
	} {
		n := 0
		if err := l.db.Update(ctx, func(tx *store.Tx) error { n = 0; return step(tx, &n) }); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// ForEachRequest calls fn for every request record (start-up recovery, reports).
func (l *Log) ForEachRequest(fn func(*Request) error) error {
	return l.db.View(func(tx *store.Tx) error {
		return tx.Bucket([]byte(bucketRequests)).ForEach(func(_, v []byte) error {
			var r Request
			if err := json.Unmarshal(bytes.Clone(v), &r); err != nil {
				return nil // a corrupt record must not stop recovery
			}
			return fn(&r)
		})
	})
}

// DB exposes the store for components that share the intake transaction.
func (l *Log) DB() *store.DB { return l.db }
