// Package delivery is the durable, ordered outbound webhook queue: status
// webhooks the gateway posts to partners (Suishenban, Yiwangtongban).
//
// A message is written to the store before Enqueue returns and leaves it only
// when the partner answered 2xx, or when it is moved to the dead-letter store
// (schedule exhausted, endpoint disabled by a 410, forbidden address). Every
// attempt is a Standard Webhooks POST with the message's stable webhook-id
// ("msg_…", assigned at enqueue) and a fresh webhook-timestamp and signature.
//
// Order: messages are keyed by (endpoint, request key, sequence). A message
// is not attempted while an earlier message with the same endpoint and
// request key is pending, so one request's status changes arrive in order;
// different requests proceed independently. Attempt counts and next-attempt
// times are persisted after each attempt, so a restart resumes the schedule
// where it stopped. Delivery is at least once: a partner de-duplicates by
// webhook-id.
package delivery

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/internal/clock"

	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/store"
)

// Bucket names owned by this package.
const (
	bucketQueue     = "webhook_queue"     // endpoint \0 request key \0 seq (8 bytes BE) → next attempt (8 bytes) + Entry JSON
	bucketDead      = "webhook_dead"      // message id → Entry JSON
	bucketEndpoints = "webhook_endpoints" // endpoint name → EndpointState JSON
)

// Buckets lists the buckets the store must have for this package.
var Buckets = []string{bucketQueue, bucketDead, bucketEndpoints}

// Message types the gateway sends (contract §3).
const (
	TypeStatus     = "request.status"
	TypeTimeliness = "request.timeliness"
	TypeSurvey     = "request.survey" // contract §9: the follow-up survey's link
)

// Limits on message identity fields; they are parts of store keys.
const (
	maxEndpointLen   = 64
	maxRequestKeyLen = 256
)

// Errors callers branch on.
var (
	// ErrInvalidMessage: a Message field is missing or malformed; a
	// programming or configuration error, never worth retrying.
	ErrInvalidMessage = errors.New("delivery: invalid message")
	// ErrUnknownEndpoint: no signing secret is registered for the endpoint.
	ErrUnknownEndpoint = errors.New("delivery: unknown endpoint")
	// ErrNotFound: no dead letter (or endpoint) with that id.
	ErrNotFound = errors.New("delivery: not found")
	// ErrEndpointDisabled: the endpoint was disabled (it answered 410); an
	// operator enables it again before replaying its dead letters.
	ErrEndpointDisabled = errors.New("delivery: endpoint disabled")
	// ErrRunning: Run was called while another Run is active.
	ErrRunning = errors.New("delivery: queue already running")
)

// Message is one webhook to send.
type Message struct {
	// Endpoint names the receiver (the partner's channel name); its secrets
	// sign the message and a 410 from it disables all its messages.
	Endpoint string
	// URL is the callback URL; it must be http(s) and, unless its host is in
	// Options.AllowHosts, not a literal loopback/private/metadata address.
	URL string
	// RequestKey orders messages: those with the same Endpoint and
	// RequestKey are delivered one after another, in enqueue order.
	RequestKey string
	// Type is the message type ("request.status"), for operators.
	Type string
	// Payload is the JSON body, sent unchanged on every attempt.
	Payload []byte
}

// Entry is a message as stored: pending in the queue, or in the dead-letter
// store. It is also the admin API's view of a message.
type Entry struct {
	ID         string          `json:"id"` // the webhook-id
	Endpoint   string          `json:"endpoint"`
	URL        string          `json:"url"`
	RequestKey string          `json:"request_key"`
	Type       string          `json:"type"`
	Payload    json.RawMessage `json:"payload"`
	EnqueuedAt time.Time       `json:"enqueued_at"`
	Attempts   int             `json:"attempts"`
	NextAt     time.Time       `json:"next_attempt_at,omitzero"`
	LastStatus int             `json:"last_status,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
	// Reason and DiedAt are set on dead letters.
	Reason string     `json:"reason,omitempty"`
	DiedAt *time.Time `json:"died_at,omitempty"`
}

// EndpointState is what the queue keeps about an endpoint.
type EndpointState struct {
	Name       string     `json:"name"`
	Disabled   bool       `json:"disabled"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	// Pending and Dead are counted when listed, not stored.
	Pending int `json:"pending"`
	Dead    int `json:"dead"`
}

// Options configure a Queue. The zero value works with real time, the
// default schedule and public addresses only.
type Options struct {
	// AllowHosts may be reached although loopback or private (webhooks.allow_hosts).
	AllowHosts []string
	// Secrets per endpoint. Every message is signed with each secret of its
	// endpoint (space-separated signatures), so that a partner verifying with
	// either the old or the new secret accepts it during a rotation.
	// Register adds endpoints later.
	Secrets map[string][]stdwebhook.Secret
	// Clock is the time source (nil: clock.System); tests pass a fake one.
	Clock clock.Clock
	// Rand returns a value in [0, 1) for the retry jitter.
	Rand func() float64
	// Schedule is the retry schedule; nil means safehttp.DefaultSchedule.
	Schedule safehttp.Schedule
	// Timeout bounds one attempt; 0 means safehttp.DefaultTimeout (15 s).
	Timeout time.Duration
	// MaxRetryAfter caps a partner's Retry-After (default 24 h).
	MaxRetryAfter time.Duration
	// Resolver for callback host names; nil means the system resolver.
	Resolver safehttp.Resolver
	// Workers bounds concurrent attempts (default 4).
	Workers int
	Logger  *slog.Logger
	// Poll, when set, makes Run look at the store at least this often: other
	// processes sharing the store enqueue too (cluster mode), and only a
	// local Enqueue wakes Run.
	Poll time.Duration
}

// Queue is the durable webhook queue. Enqueue and the admin methods are safe
// for concurrent use, also while Run is active.
type Queue struct {
	db     *store.DB
	opts   Options
	client *http.Client
	log    *slog.Logger

	mu      sync.RWMutex
	secrets map[string][]stdwebhook.Secret

	wake    chan struct{}
	running sync.Mutex

	deliveries   *prometheus.CounterVec   // gateway_webhook_deliveries_total
	firstAttempt *prometheus.HistogramVec // gateway_webhook_first_attempt_seconds
}

// New returns a queue over db, which must have been opened with Buckets.
func New(db *store.DB, opts Options) *Queue {
	if opts.Clock == nil {
		opts.Clock = clock.System
	}
	if opts.Schedule == nil {
		opts.Schedule = safehttp.DefaultSchedule
	}
	if opts.Timeout <= 0 {
		opts.Timeout = safehttp.DefaultTimeout
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = 24 * time.Hour
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	q := &Queue{db: db, opts: opts, log: opts.Logger, secrets: map[string][]stdwebhook.Secret{},
		wake: make(chan struct{}, 1), deliveries: newDeliveries(), firstAttempt: newFirstAttempt(),
		client: safehttp.NewClient(safehttp.Options{AllowHosts: opts.AllowHosts, Timeout: opts.Timeout,
			Resolver: opts.Resolver})}
	for ep, s := range opts.Secrets {
		q.secrets[ep] = append([]stdwebhook.Secret(nil), s...)
	}
	return q
}

// Register sets the signing secrets of endpoint (the first is current; all
// sign). Messages for an endpoint without secrets are refused by Enqueue.
func (q *Queue) Register(endpoint string, secrets ...stdwebhook.Secret) error {
	if err := checkName(endpoint); err != nil {
		return err
	}
	var ok []stdwebhook.Secret
	for _, s := range secrets {
		if !s.IsZero() {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return fmt.Errorf("%w: endpoint %q: no secret", ErrInvalidMessage, endpoint)
	}
	q.mu.Lock()
	q.secrets[endpoint] = ok
	q.mu.Unlock()
	return nil
}

func (q *Queue) secretsFor(endpoint string) []stdwebhook.Secret {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.secrets[endpoint]
}

// CheckURL says whether url may be used as a callback: http(s), with a
// host, and not a literal forbidden address unless allowed. Names are
// checked again after resolution, at connect time.
func (q *Queue) CheckURL(url string) error { return safehttp.CheckURL(url, q.opts.AllowHosts) }

// Notify wakes the scheduler; call it after committing a transaction in
// which EnqueueTx was used.
func (q *Queue) Notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Enqueue records m durably and returns once it is fsync'ed. A message for
// an endpoint disabled by a 410 goes straight to the dead-letter store (and
// Enqueue returns nil): it is kept for an operator to replay.
func (q *Queue) Enqueue(ctx context.Context, m Message) error {
	if err := q.check(m); err != nil {
		return err
	}
	id := newID()
	now := q.opts.Clock.Now().UTC()
	if err := q.db.Update(ctx, func(tx *store.Tx) error { return q.put(tx, m, id, now) }); err != nil {
		return fmt.Errorf("delivery: cannot enqueue: %w", err)
	}
	q.Notify()
	return nil
}

// EnqueueTx records m inside the caller's transaction, so that the message
// is exactly as durable as the caller's own change (e.g. an intake Accept).
// The caller calls Notify after the commit.
func (q *Queue) EnqueueTx(tx *store.Tx, m Message) error {
	if err := q.check(m); err != nil {
		return err
	}
	return q.put(tx, m, newID(), q.opts.Clock.Now().UTC())
}

func (q *Queue) check(m Message) error {
	if err := checkName(m.Endpoint); err != nil {
		return err
	}
	if m.RequestKey == "" || len(m.RequestKey) > maxRequestKeyLen || strings.IndexByte(m.RequestKey, 0) >= 0 {
		return fmt.Errorf("%w: request key must be 1 to %d bytes without NUL", ErrInvalidMessage, maxRequestKeyLen)
	}
	if m.Type == "" {
		return fmt.Errorf("%w: type required", ErrInvalidMessage)
	}
	if !json.Valid(m.Payload) {
		return fmt.Errorf("%w: payload is not JSON", ErrInvalidMessage)
	}
	if err := q.CheckURL(m.URL); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	if len(q.secretsFor(m.Endpoint)) == 0 {
		return fmt.Errorf("%w: %q has no secret", ErrUnknownEndpoint, m.Endpoint)
	}
	return nil
}

func checkName(endpoint string) error {
	if endpoint == "" || len(endpoint) > maxEndpointLen || strings.IndexByte(endpoint, 0) >= 0 {
		return fmt.Errorf("%w: endpoint must be 1 to %d bytes without NUL", ErrInvalidMessage, maxEndpointLen)
	}
	return nil
}

// newID returns "msg_" and a time-ordered UUIDv7 in hex.
func newID() string {
	return "msg_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// put appends m to its group's tail, or to the dead letters when its
// endpoint is disabled.
func (q *Queue) put(tx *store.Tx, m Message, id string, now time.Time) error {
	e := &Entry{ID: id, Endpoint: m.Endpoint, URL: m.URL, RequestKey: m.RequestKey, Type: m.Type,
		Payload: json.RawMessage(m.Payload), EnqueuedAt: now, NextAt: now}
	st, err := getEndpoint(tx, m.Endpoint)
	if err != nil {
		return err
	}
	if st.Disabled {
		return toDead(tx, e, "endpoint disabled: "+st.Reason, now)
	}
	return appendQueue(tx, e)
}

func appendQueue(tx *store.Tx, e *Entry) error {
	b := tx.Bucket([]byte(bucketQueue))
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return putQueued(b, queueKey(e.Endpoint, e.RequestKey, seq), e)
}

// A queued value is the next attempt time (unix nanoseconds, 8 bytes BE)
// followed by the Entry JSON, so that the scheduler learns due times
// without decoding messages.
func putQueued(b interface{ Put(k, v []byte) error }, k []byte, e *Entry) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("delivery: cannot encode: %w", err)
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(raw)), uint64(e.NextAt.UnixNano()))
	return b.Put(k, append(v, raw...))
}

func decodeQueued(v []byte, e *Entry) error {
	if len(v) < 8 {
		return errors.New("delivery: queued value too short")
	}
	return json.Unmarshal(v[8:], e)
}

func queuedNextAt(v []byte) (time.Time, bool) {
	if len(v) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), true
}

// groupPrefix is endpoint \0 request key \0; queueKey appends the sequence.
func groupPrefix(endpoint, requestKey string) []byte {
	k := make([]byte, 0, len(endpoint)+len(requestKey)+10)
	k = append(k, endpoint...)
	k = append(k, 0)
	k = append(k, requestKey...)
	return append(k, 0)
}

func queueKey(endpoint, requestKey string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(groupPrefix(endpoint, requestKey), seq)
}

func toDead(tx *store.Tx, e *Entry, reason string, now time.Time) error {
	e.Reason = reason
	at := now.UTC()
	e.DiedAt = &at
	e.NextAt = time.Time{}
	return putJSON(tx.Bucket([]byte(bucketDead)), []byte(e.ID), e)
}

func getEndpoint(tx *store.Tx, name string) (EndpointState, error) {
	st := EndpointState{Name: name}
	v := tx.Bucket([]byte(bucketEndpoints)).Get([]byte(name))
	if v == nil {
		return st, nil
	}
	if err := json.Unmarshal(v, &st); err != nil {
		return st, fmt.Errorf("delivery: corrupt endpoint state %q: %w", name, err)
	}
	return st, nil
}

func putEndpoint(tx *store.Tx, st EndpointState) error {
	st.Pending, st.Dead = 0, 0
	return putJSON(tx.Bucket([]byte(bucketEndpoints)), []byte(st.Name), st)
}

func putJSON(b interface{ Put(k, v []byte) error }, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("delivery: cannot encode: %w", err)
	}
	return b.Put(k, raw)
}
