package bus

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxPayloadPostgres is the largest frame the PostgreSQL bus carries as
// text: a NOTIFY payload must be shorter than 8000 bytes, and one byte tells
// text from base64. A frame that is not UTF-8 (or holds a NUL) goes as
// base64 and may be at most 5997 bytes. Past the limit Publish returns
// ErrTooLarge and sends nothing.
const MaxPayloadPostgres = 7998

const (
	notifyMax    = 7999 // bytes of a NOTIFY payload, as PostgreSQL counts them
	tagText      = 't'
	tagBase64    = 'b'
	pgMinBackoff = 100 * time.Millisecond
	pgMaxBackoff = 5 * time.Second
)

// PostgresConfig configures the PostgreSQL bus of one node.
type PostgresConfig struct {
	// URL of the shared store (store.url), naming its primary: NOTIFY
	// cannot run on a standby.
	URL string
	// PublishConns bounds the connections Publish uses; default 4.
	PublishConns int32
	// Logger receives reconnections and dropped frames; nil: quiet.
	Logger *slog.Logger
}

func (c *PostgresConfig) setDefaults() {
	if c.PublishConns <= 0 {
		c.PublishConns = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate names the key at fault.
func (c *PostgresConfig) Validate() error {
	if c.URL == "" {
		return errors.New("bus: store.url is required for the PostgreSQL bus")
	}
	return nil
}

// Postgres is a Bus over LISTEN/NOTIFY on the shared store. A subject is a
// channel. Publish runs pg_notify on a small pool; one dedicated connection
// per node LISTENs to the subjects subscribed on the node, owned by one
// goroutine that reads notifications and hands them to the handlers.
//
// PostgreSQL delivers a notification once it is committed, in commit order,
// to every session listening at that time: a subscription is in effect on
// every node once Subscribe returns. Frames published while the listening
// connection is down (a store failover) are lost; it reconnects with
// backoff and listens again.
type Postgres struct {
	pool    *pgxpool.Pool
	lconf   *pgx.ConnConfig
	log     *slog.Logger
	textOK  bool // the server stores UTF-8 (or bytes): text payloads pass unchanged
	cancel  context.CancelFunc
	done    chan struct{} // closed when the listener goroutine returned
	closing sync.Once

	mu      sync.Mutex
	closed  bool
	subs    map[string][]*pgSub // a slice is replaced, never changed in place: dispatch ranges over it unlocked
	dirty   bool                // subs changed since the listener last applied them
	waiters []chan error        // Subscribe calls waiting for the next apply
	wake    context.CancelFunc  // ends the listener's wait; nil when not waiting
}

var _ Bus = (*Postgres)(nil)

// NewPostgres connects to the store and starts listening. It returns once
// the listening connection is up.
func NewPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bus: store.url: %w", err)
	}
	pcfg.MaxConns = cfg.PublishConns
	// A frame may be lost anyway: a NOTIFY need not wait for the WAL flush
	// or the synchronous standby.
	pcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pcfg.ConnConfig.RuntimeParams["application_name"] = "gateway-bus"
	lconf := pcfg.ConnConfig.Copy()
	lconf.RuntimeParams["application_name"] = "gateway-bus-listen"

	b := &Postgres{lconf: lconf, log: cfg.Logger.With("component", "bus"), subs: map[string][]*pgSub{}, done: make(chan struct{})}
	conn, err := pgx.ConnectConfig(ctx, lconf)
	if err != nil {
		return nil, fmt.Errorf("bus: cannot connect to the store: %w", err)
	}
	enc := conn.PgConn().ParameterStatus("server_encoding")
	b.textOK = enc == "UTF8" || enc == "SQL_ASCII"
	if b.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("bus: cannot connect to the store: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.listen(runCtx, conn)
	return b, nil
}

// Publish implements Bus: one pg_notify, committed before it returns.
func (b *Postgres) Publish(ctx context.Context, subject string, data []byte) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	payload := b.encode(data)
	if len(payload) > notifyMax {
		return fmt.Errorf("%w: %d bytes encoded, at most %d", ErrTooLarge, len(payload), notifyMax)
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if _, err := b.pool.Exec(ctx, "SELECT pg_notify($1, $2)", subject, payload); err != nil {
		if b.isClosed() {
			return ErrClosed
		}
		return fmt.Errorf("bus: publish %q: %w", subject, err)
	}
	return nil
}

func (b *Postgres) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// encode keeps UTF-8 text as it is (chat frames are JSON) and sends other
// bytes as base64: a NOTIFY payload is text in the server's encoding.
func (b *Postgres) encode(data []byte) string {
	if b.textOK && utf8.Valid(data) && bytes.IndexByte(data, 0) < 0 {
		return string(tagText) + string(data)
	}
	return string(tagBase64) + base64.StdEncoding.EncodeToString(data)
}

func decodePayload(p string) ([]byte, error) {
	if p == "" {
		return nil, errors.New("empty payload")
	}
	switch p[0] {
	case tagText:
		return []byte(p[1:]), nil
	case tagBase64:
		return base64.StdEncoding.DecodeString(p[1:])
	}
	return nil, fmt.Errorf("unknown payload tag %q", p[0])
}

// Subscribe implements Bus. It returns once the listening connection has
// run LISTEN for subject (or it already listened); while that connection is
// down it waits for it, until ctx ends.
func (b *Postgres) Subscribe(ctx context.Context, subject string, fn func([]byte)) (Subscription, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	s := &pgSub{b: b, subject: subject, fn: fn}
	applied := make(chan error, 1)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.subs[subject] = append(slices.Clip(b.subs[subject]), s)
	b.waiters = append(b.waiters, applied)
	b.changedLocked()
	b.mu.Unlock()
	select {
	case err := <-applied:
		if err != nil {
			return nil, err
		}
		return s, nil
	case <-ctx.Done():
		_ = s.Unsubscribe()
		return nil, ctx.Err()
	}
}

// changedLocked tells the listener that subs changed.
func (b *Postgres) changedLocked() {
	b.dirty = true
	if b.wake != nil {
		b.wake()
		b.wake = nil
	}
}

// Close implements Bus. Publish is synchronous, so there is nothing to
// flush; the listener stops, and the pool closes once the Publish calls
// under way return.
func (b *Postgres) Close(ctx context.Context) error {
	b.closing.Do(func() {
		b.mu.Lock()
		b.closed = true
		for _, w := range b.waiters {
			w <- ErrClosed
		}
		b.waiters = nil
		b.mu.Unlock()
		b.cancel()
	})
	select {
	case <-b.done:
	case <-ctx.Done():
		return fmt.Errorf("bus: close: %w", ctx.Err())
	}
	b.pool.Close()
	return nil
}

// listen owns the listening connection: it applies subscription changes,
// waits for notifications and dispatches them, and reconnects after an
// error, until ctx ends.
func (b *Postgres) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(b.done)
	listened := map[string]bool{}
	backoff := pgMinBackoff
	defer func() {
		if conn != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(cctx)
			cancel()
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = pgx.ConnectConfig(ctx, b.lconf); err != nil {
				b.log.Warn("bus: cannot reconnect the listening connection", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				backoff = min(2*backoff, pgMaxBackoff)
				continue
			}
			b.log.Info("bus: listening connection back; frames published meanwhile are lost")
			listened = map[string]bool{}
			b.mu.Lock()
			b.dirty = true
			b.mu.Unlock()
		}
		if err := b.apply(ctx, conn, listened); err != nil {
			b.dropConn(ctx, &conn, err)
			continue
		}
		backoff = pgMinBackoff
		waitCtx, cancel := b.armWait(ctx)
		n, err := conn.WaitForNotification(waitCtx)
		b.mu.Lock()
		b.wake = nil
		b.mu.Unlock()
		cancel()
		if n != nil {
			b.dispatch(n)
		}
		if err != nil && (waitCtx.Err() == nil || conn.IsClosed()) {
			b.dropConn(ctx, &conn, err)
		}
	}
}

func (b *Postgres) dropConn(ctx context.Context, conn **pgx.Conn, err error) {
	if ctx.Err() != nil {
		return // closing: the deferred close in listen takes it
	}
	b.log.Warn("bus: listening connection lost; frames are lost until it is back", "err", err)
	cctx, cancel := context.WithTimeout(context.Background(), time.Second)
	(*conn).Close(cctx)
	cancel()
	*conn = nil
}

// armWait is the context of one wait for a notification: a change of subs
// ends it, so that the listener applies the change.
func (b *Postgres) armWait(ctx context.Context) (context.Context, context.CancelFunc) {
	waitCtx, cancel := context.WithCancel(ctx)
	b.mu.Lock()
	if b.dirty {
		cancel() // changed since apply: go round again at once
	} else {
		b.wake = cancel
	}
	b.mu.Unlock()
	return waitCtx, cancel
}

// apply makes the connection listen to exactly the subscribed subjects, in
// one round trip, then releases the Subscribe calls waiting for it.
func (b *Postgres) apply(ctx context.Context, conn *pgx.Conn, listened map[string]bool) error {
	b.mu.Lock()
	if !b.dirty {
		b.mu.Unlock()
		return nil
	}
	b.dirty = false
	waiters := b.waiters
	b.waiters = nil
	var sql strings.Builder
	var added, removed []string
	for subj := range b.subs {
		if !listened[subj] {
			added = append(added, subj)
			fmt.Fprintf(&sql, "LISTEN %s;", pgx.Identifier{subj}.Sanitize())
		}
	}
	for subj := range listened {
		if len(b.subs[subj]) == 0 {
			removed = append(removed, subj)
			fmt.Fprintf(&sql, "UNLISTEN %s;", pgx.Identifier{subj}.Sanitize())
		}
	}
	b.mu.Unlock()
	if sql.Len() > 0 {
		if _, err := conn.PgConn().Exec(ctx, sql.String()).ReadAll(); err != nil {
			b.mu.Lock()
			if b.closed { // Close has answered the others
				for _, w := range waiters {
					w <- ErrClosed
				}
			} else {
				b.dirty = true
				b.waiters = append(waiters, b.waiters...) // they wait for the next apply
			}
			b.mu.Unlock()
			return err
		}
	}
	for _, s := range added {
		listened[s] = true
	}
	for _, s := range removed {
		delete(listened, s)
	}
	for _, w := range waiters {
		w <- nil
	}
	return nil
}

func (b *Postgres) dispatch(n *pgconn.Notification) {
	data, err := decodePayload(n.Payload)
	if err != nil {
		b.log.Warn("bus: frame dropped", "subject", n.Channel, "err", err)
		return
	}
	b.mu.Lock()
	subs := b.subs[n.Channel]
	b.mu.Unlock()
	for i, s := range subs {
		if s.done.Load() {
			continue
		}
		d := data
		if i > 0 {
			d = bytes.Clone(data) // each handler owns its data
		}
		s.fn(d)
	}
}

type pgSub struct {
	b       *Postgres
	subject string
	fn      func([]byte)
	done    atomic.Bool
}

// Unsubscribe implements Subscription; the listener runs UNLISTEN once the
// subject's last subscription on this node is gone.
func (s *pgSub) Unsubscribe() error {
	if s.done.Swap(true) {
		return nil
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	rest := slices.DeleteFunc(slices.Clone(b.subs[s.subject]), func(o *pgSub) bool { return o == s })
	if len(rest) == 0 {
		delete(b.subs, s.subject)
	} else {
		b.subs[s.subject] = rest
	}
	if !b.closed {
		b.changedLocked()
	}
	return nil
}
