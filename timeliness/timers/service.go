// Package timers keeps the deadlines of the timeliness clocks (contract §5:
// first response, next response, handling, and the warnings before them)
// and fires each one when it falls due.
//
// All pending timers live in ONE in-memory structure (a min-heap with a hash
// index, see queue.go) served by ONE goroutine, Run, which sleeps until the
// earliest due time; there is no goroutine or runtime timer per request.
// Every timer is also a record in the store (due times as UTC unix
// nanoseconds), written in the caller's transaction, so a timer is exactly as
// durable as the request that started it. Load reads the records back at
// start-up; a timer that fell due while the gateway was down fires as soon
// as Run starts.
//
// The store is the truth, memory only a schedule: a timer fires only if its
// record still holds the due time it was scheduled for, in the same
// transaction that deletes it. Hence a clock stops exactly once: Stop and
// firing race inside the store, and the loser learns it (Stop returns false;
// the firing is skipped).
//
// Options.FireTx runs inside the transaction that deletes the timer's
// record, so its durable effects (outbox records, events) and the deletion
// commit together: a timer fires exactly once, across crashes. Timers fire
// in order of due time, then kind, then id.
package timers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

// Timer kinds of contract §5. Any other non-empty kind without a NUL byte is
// allowed too (e.g. "offer"); a service holds at most 65536 distinct kinds.
const (
	KindFirstResponse = "first_response"
	KindNextResponse  = "next_response"
	KindHandling      = "handling"
)

// WarningKind returns the kind of the warning timer that precedes a clock of
// the given kind ("first_response" → "first_response.warning").
func WarningKind(kind string) string { return kind + ".warning" }

// Limits on keys.
const (
	MaxIDLen   = 512
	MaxKindLen = 64
)

var (
	// ErrInvalidKey: empty ID or kind, kind with a NUL byte, or too long.
	ErrInvalidKey = errors.New("timers: invalid key")
	// ErrInvalidDue: the due time is outside 1970–2262 (zero time included).
	ErrInvalidDue = errors.New("timers: invalid due time")
	// ErrTooManyKinds: more than 65536 distinct kinds, a caller's bug.
	ErrTooManyKinds = errors.New("timers: too many distinct kinds")
	// ErrRunning: Run was called while another Run is active.
	ErrRunning = errors.New("timers: already running")
	// ErrNotRunning: Sync found no Run (or Run ended while waiting).
	ErrNotRunning = errors.New("timers: not running")
	// ErrConfig: New was given no store or no Options.FireTx.
	ErrConfig = errors.New("timers: invalid configuration")
)

// Key names one timer: ID is an envelope or session id, Kind the clock.
type Key struct {
	ID   string
	Kind string
}

func (k Key) String() string { return k.Kind + "/" + k.ID }

func (k Key) validate() error {
	switch {
	case k.ID == "" || len(k.ID) > MaxIDLen:
		return fmt.Errorf("%w: id of %d bytes", ErrInvalidKey, len(k.ID))
	case k.Kind == "" || len(k.Kind) > MaxKindLen || strings.IndexByte(k.Kind, 0) >= 0:
		return fmt.Errorf("%w: kind %q", ErrInvalidKey, k.Kind)
	}
	return nil
}

// Deadline is a timer: SetMany's input, and what AfterFire receives.
type Deadline struct {
	Key Key
	Due time.Time // UTC
}

func validDue(n int64) error {
	if n < 0 {
		return fmt.Errorf("%w: before 1970", ErrInvalidDue)
	}
	return nil
}

var maxDue = time.Unix(0, math.MaxInt64)

func dueNanos(t time.Time) (int64, error) {
	if t.Before(time.Unix(0, 0)) || t.After(maxDue) {
		return 0, fmt.Errorf("%w: %s", ErrInvalidDue, t.UTC().Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func validate(k Key, due time.Time) error {
	if err := k.validate(); err != nil {
		return err
	}
	_, err := dueNanos(due)
	return err
}

func utc(n int64) time.Time { return time.Unix(0, n).UTC() }

// Options tune the service. FireTx is required.
type Options struct {
	// FireTx fires a timer: it runs inside the transaction that deletes the
	// timer's record. It must have no effect outside tx (the store may run
	// it more than once, see store.DB.Update); it may start or stop other
	// timers with SetTx and StopTx on tx, never with Set or Stop, which would
	// wait for the very transaction they run in. An error rolls back this
	// timer only; it is retried with backoff.
	FireTx func(tx *store.Tx, k Key, due time.Time) error
	// AfterFire, if set, runs on the Run goroutine after each batch of
	// firings is durable, for in-memory effects (metrics, notifying
	// websockets). It may keep the slice.
	AfterFire func(fired []Deadline)
	// MaxBatch bounds how many due timers share one transaction (default 512).
	MaxBatch int
	// MaxSleep bounds one sleep of Run, so that a step of the wall clock is
	// noticed (default 1s).
	MaxSleep time.Duration
	// RetryMin and RetryMax bound the backoff after a failed firing
	// (defaults 100ms and 30s).
	RetryMin, RetryMax time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Bucket holds the timer records (default "timer_records"): services
	// with different buckets share a store without seeing each other's
	// timers.
	Bucket string
}

func (o *Options) setDefaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.MaxSleep <= 0 {
		o.MaxSleep = time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Bucket == "" {
		o.Bucket = bucketRecords
	}
}

// Service schedules and fires timers. Its methods are safe for concurrent
// use; Run must be running for timers to fire.
type Service struct {
	db    *store.DB
	clock clock.Clock
	opts  Options
	log   *slog.Logger

	mu      sync.Mutex
	q       *queue
	retries map[Key]retry // timers deferred after a failed firing

	wake    chan struct{}
	syncs   chan chan error
	running atomic.Bool
}

type retry struct {
	due      int64 // the original due time, passed to FireTx
	attempts int
}

// New returns a service over db and clk (nil: clock.System) that fires
// timers with opts.FireTx.
func New(db *store.DB, clk clock.Clock, opts Options) (*Service, error) {
	switch {
	case db == nil:
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	case opts.FireTx == nil:
		return nil, fmt.Errorf("%w: no Options.FireTx", ErrConfig)
	}
	if clk == nil {
		clk = clock.System
	}
	opts.setDefaults()
	return &Service{db: db, clock: clk, opts: opts, log: opts.Logger,
		q: newQueue(), retries: map[Key]retry{},
		wake: make(chan struct{}, 1), syncs: make(chan chan error)}, nil
}

// Len returns how many timers are scheduled in memory (those of a batch
// being fired excepted).
func (s *Service) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.len()
}

// Due returns when k is scheduled to fire, from memory.
func (s *Service) Due(k Key) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.retries[k]; ok {
		return utc(r.due), true
	}
	n, ok := s.q.get(k)
	return utc(n), ok
}

// scheduleLocked puts k at due in memory, replacing any timer of k, and
// wakes Run when k is now the earliest.
func (s *Service) scheduleLocked(k Key, due int64) error {
	if len(s.retries) > 0 {
		delete(s.retries, k)
	}
	root, err := s.q.set(k, due)
	if err == nil && root {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return err
}

// Set starts (or moves) the timer k to fire at due. It returns once the timer
// is durable and scheduled. A due time in the past fires at once.
func (s *Service) Set(ctx context.Context, k Key, due time.Time) error {
	if err := validate(k, due); err != nil {
		return err
	}
	return s.db.Update(ctx, func(tx *store.Tx) error { return s.SetTx(tx, k, due) })
}

// SetMany is Set for many timers in one transaction.
func (s *Service) SetMany(ctx context.Context, ds []Deadline) error {
	for _, d := range ds {
		if err := validate(d.Key, d.Due); err != nil {
			return err
		}
	}
	return s.db.Update(ctx, func(tx *store.Tx) error {
		for _, d := range ds {
			if err := s.SetTx(tx, d.Key, d.Due); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetTx writes the timer k into tx (e.g. the intake transaction, via an
// intakelog hook) and schedules it in memory when, and only if, tx commits.
func (s *Service) SetTx(tx *store.Tx, k Key, due time.Time) error {
	if err := k.validate(); err != nil {
		return err
	}
	n, err := dueNanos(due)
	if err != nil {
		return err
	}
	s.mu.Lock()
	_, err = s.q.intern(k.Kind) // fail here rather than in the commit hook
	s.mu.Unlock()
	if err != nil {
		return err
	}
	b, err := s.open(tx)
	if err != nil {
		return err
	}
	if err := b.put(k, n); err != nil {
		return fmt.Errorf("timers: cannot store %s: %w", k, err)
	}
	// Commit hooks run in commit order on the store's single writer, so
	// memory follows the store even when Sets and Stops of k race.
	tx.OnCommit(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = s.scheduleLocked(k, n) // the kind is interned: cannot fail
	})
	return nil
}

// Stop stops the timer k. It reports true exactly once per timer: false when
// k has already fired, was stopped, or never existed.
func (s *Service) Stop(ctx context.Context, k Key) (bool, error) {
	if err := k.validate(); err != nil {
		return false, err
	}
	var stopped bool
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		stopped, err = s.StopTx(tx, k)
		return err
	})
	return stopped, err
}

// StopTx is Stop inside the caller's transaction (e.g. the one that records
// the agent's reply). The outcome holds only if tx commits.
func (s *Service) StopTx(tx *store.Tx, k Key) (bool, error) {
	if err := k.validate(); err != nil {
		return false, err
	}
	b, err := s.open(tx)
	if err != nil {
		return false, err
	}
	due, ok := b.lookup(k)
	if !ok {
		return false, nil
	}
	if err := b.del(k); err != nil {
		return false, fmt.Errorf("timers: cannot stop %s: %w", k, err)
	}
	tx.OnCommit(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.q.removeIf(k, due) {
			delete(s.retries, k)
		} else if r, ok := s.retries[k]; ok && r.due == due {
			s.q.remove(k)
			delete(s.retries, k)
		}
	})
	return true, nil
}

// Load schedules every stored timer; call it at start-up, before or after
// Run starts, and again when other processes share the store and add
// timers to it (cluster mode): what fires is decided in the store, so a
// timer scheduled by several processes still fires once. Timers already in
// memory are kept (they are newer).
// Unreadable records are logged and skipped.
func (s *Service) Load(ctx context.Context) error {
	var loaded, corrupt int
	err := s.db.View(func(tx *store.Tx) error {
		b, err := s.open(tx)
		if err != nil {
			return err
		}
		c := b.recs.Cursor()
		const chunk = 4096 // lock briefly, and look at ctx now and then
		var batch []Deadline
		flush := func() error {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, d := range batch {
				n := d.Due.UnixNano()
				if _, ok := s.q.get(d.Key); ok {
					continue
				}
				if err := s.scheduleLocked(d.Key, n); err != nil {
					return err
				}
				loaded++
			}
			batch = batch[:0]
			return ctx.Err()
		}
		for k, v := c.First(); k != nil; k, v = c.Next() {
			key, err := parseRecordKey(k)
			var due int64
			if err == nil {
				due, err = parseValue(v)
			}
			if err == nil {
				err = validDue(due)
			}
			if err != nil {
				corrupt++
				s.log.Error("timers: skipping unreadable record", "err", err)
				continue
			}
			batch = append(batch, Deadline{Key: key, Due: utc(due)})
			if len(batch) == chunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return fmt.Errorf("timers: cannot load: %w", err)
	}
	level := slog.LevelInfo
	if loaded == 0 && corrupt == 0 {
		level = slog.LevelDebug // a cluster node reloads every few seconds
	}
	s.log.Log(ctx, level, "timers: loaded", "timers", loaded, "unreadable", corrupt)
	return nil
}

// Sync waits until Run has fired (or deferred for retry) every timer due at
// the clock's current time. Tests call it after clock.Fake.Advance. It waits
// for Run to start if need be, until ctx ends; it returns ErrNotRunning if
// Run stops first.
func (s *Service) Sync(ctx context.Context) error {
	w := make(chan error, 1)
	select {
	case s.syncs <- w:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-w:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
