package intakelog

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
)

// Accept records env durably, or returns the earlier receipt if its
// idempotency key was seen. env must be complete and valid (id, dues, key);
// Accept gives it its request number (env.Number, overwritten: numbers are
// the log's to hand out), and a repeat gets the first request's number in
// its receipt.
// Everything is encoded before the transaction: the store runs transactions
// one group at a time, so work done inside one delays every request.
func (l *Log) Accept(ctx context.Context, env *normalize.Envelope, opts AcceptOptions) (Result, error) {
	p, err := l.prepare(nil, env, opts)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = l.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		res, err = l.acceptPrepared(tx, p)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if res.Duplicate {
		if seen, ok := ctx.Value(duplicateKey{}).(*bool); ok {
			*seen = true
		}
	}
	l.Committed(env, res)
	return res, nil
}

type duplicateKey struct{}

// WithDuplicateMark returns a context in which Accept reports, through
// *seen, that it answered a repeated idempotency key (the gateway counts
// the outcome of each request by it).
func WithDuplicateMark(ctx context.Context) (_ context.Context, seen *bool) {
	seen = new(bool)
	return context.WithValue(ctx, duplicateKey{}, seen), seen
}

// Prep is what a prepare hook adds to a new envelope's acceptance: its
// initial status, events, and writes of the hook's own, all encoded before
// the transaction and recorded in it.
type Prep struct {
	Status string
	Events []*normalize.Event
	Puts   []Put
	// After, if set, runs once the envelope is durable (Committed), not for
	// a duplicate: what the hook learnt need not be computed again.
	After func()
}

// Put is one write a prepare hook asks for: Value under Key in Bucket.
type Put struct {
	Bucket     string
	Key, Value []byte
}

// OnPrepare registers f, called for every new envelope before its
// transaction, outside the store's single writer: whatever it costs is paid
// by the request, not by every request behind it.
func (l *Log) OnPrepare(f func(env *normalize.Envelope) Prep) {
	l.mu.Lock()
	l.preps = append(l.preps, f)
	l.mu.Unlock()
}

// Committed must follow a successful commit of a transaction in which
// AcceptTx ran: it wakes the relay and runs the AfterAccept callbacks.
func (l *Log) Committed(env *normalize.Envelope, res Result) {
	l.notify()
	if !res.Duplicate {
		for _, f := range res.after {
			f()
		}
		l.mu.RLock()
		cbs := l.accepted
		l.mu.RUnlock()
		for _, f := range cbs {
			f(env)
		}
	}
}

// AcceptTx is Accept inside the caller's transaction (e.g. a live-chat
// message together with the envelope it creates). Call Committed after the
// commit.
func (l *Log) AcceptTx(tx *store.Tx, env *normalize.Envelope, opts AcceptOptions) (Result, error) {
	p, err := l.prepare(tx, env, opts)
	if err != nil {
		return Result{}, err
	}
	return l.acceptPrepared(tx, p)
}

// prepared is an Accept with everything encoded.
type prepared struct {
	env     *normalize.Envelope
	opts    AcceptOptions
	day     string // the number's day and sequence, recorded with it
	seq     uint64
	idem    []byte   // idemEntry
	req     []byte   // Request
	records [][]byte // the envelope's outbox record, then its events'
	puts    []Put    // the prepare hooks'
	after   []func() // the prepare hooks'
}

// prepare encodes env for acceptance; tx is the caller's transaction when
// the acceptance is part of one (AcceptTx), nil otherwise.
func (l *Log) prepare(tx *store.Tx, env *normalize.Envelope, opts AcceptOptions) (*prepared, error) {
	now := l.now()
	p := &prepared{env: env, opts: opts}
	// First, so that everything encoded below (the envelope on Kafka, the
	// status record) and every later reader of env (receipt texts) carry it.
	var err error
	if env.Number, p.day, p.seq, err = l.numbers.next(tx, env.ReceivedAt); err != nil {
		return nil, err
	}
	status := normalize.StatusAccepted
	l.mu.RLock()
	preps := l.preps
	l.mu.RUnlock()
	var extra []*normalize.Event
	for _, f := range preps {
		pr := f(env)
		if pr.Status != "" {
			status = pr.Status
		}
		extra = append(extra, pr.Events...)
		p.puts = append(p.puts, pr.Puts...)
		if pr.After != nil {
			p.after = append(p.after, pr.After)
		}
	}
	p.idem, _ = json.Marshal(idemEntry{EnvelopeID: env.ID, Fingerprint: opts.Fingerprint, At: now.Unix()})
	p.req, err = json.Marshal(&Request{ID: env.ID, Number: env.Number, Channel: env.Channel, Status: status, ReceivedAt: env.ReceivedAt,
		FirstResponseDue: env.SLA.FirstResponseDue, HandlingDue: env.SLA.HandlingDue, UpdatedAt: env.ReceivedAt,
		Owner: opts.Owner, ChannelUserID: env.Citizen.ChannelUserID, SessionID: env.SessionID,
		IdempotencyKey: env.IdempotencyKey, Extra: opts.Extra, Notice: normalize.NoticeFor(env),
		District: district(env), Repeat: env.Triage != nil && len(env.Triage.RepeatOf) > 0})
	if err != nil {
		return nil, fmt.Errorf("intakelog: cannot encode request: %w", err)
	}
	value, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("intakelog: cannot encode envelope: %w", err)
	}
	rec, err := encodeRecord(&Record{Topic: l.topics.Envelopes, Key: env.CitizenKey, Value: value, At: now.UTC(),
		Headers: map[string]string{"schema": normalize.SchemaEnvelope, "channel": env.Channel, "idempotency-key": env.IdempotencyKey}})
	if err != nil {
		return nil, fmt.Errorf("intakelog: cannot encode envelope: %w", err)
	}
	p.records = append(p.records, rec)
	for _, ev := range append(opts.Events, extra...) {
		r, err := l.eventRecord(ev, now)
		if err != nil {
			return nil, err
		}
		p.records = append(p.records, r)
	}
	return p, nil
}

func (l *Log) acceptPrepared(tx *store.Tx, p *prepared) (Result, error) {
	env, opts := p.env, p.opts
	l.mu.RLock()
	hooks := l.hooks
	l.mu.RUnlock()
	// The nonce comes first: a replayed signed request is refused even
	// when its idempotency key would have returned the earlier answer.
	if opts.Nonce != "" {
		if err := useNonce(tx, opts.NonceScope, opts.Nonce, l.now()); err != nil {
			return Result{}, err
		}
	}
	// Claimed, not read then written: on PostgreSQL a read of a missing key
	// would make this transaction conflict with other nodes' accepts.
	prev, err := tx.Bucket([]byte(bucketIdem)).PutIfAbsent([]byte(env.IdempotencyKey), p.idem)
	if err != nil {
		return Result{}, err
	}
	if prev != nil {
		var e idemEntry
		if err := json.Unmarshal(prev, &e); err != nil {
			return Result{}, fmt.Errorf("intakelog: corrupt idempotency entry: %w", err)
		}
		if opts.Fingerprint != "" && e.Fingerprint != "" && e.Fingerprint != opts.Fingerprint {
			return Result{}, ErrConflict
		}
		req, err := getRequest(tx, e.EnvelopeID)
		if err != nil {
			return Result{}, err
		}
		// The ticket team sees the repeat (contract: request.duplicate),
		// durable with the answer it got.
		dup := normalize.NewEvent(normalize.EventRequestDuplicate, l.now())
		dup.Channel, dup.EnvelopeID, dup.SessionID = req.Channel, req.ID, req.SessionID
		dup.Data = map[string]any{"idempotency_key": env.IdempotencyKey}
		if err := l.AppendEvent(tx, dup); err != nil {
			return Result{}, err
		}
		return Result{Duplicate: true, Owner: req.Owner, Receipt: normalize.Receipt{ID: req.ID, Number: req.Number, Status: normalize.StatusAccepted,
			ReceivedAt: req.ReceivedAt, FirstResponseDue: req.FirstResponseDue, HandlingDue: req.HandlingDue, Notice: req.Notice}}, nil
	}
	reqs := tx.Bucket([]byte(bucketRequests))
	reqs.SetFillPercent(appendFill) // ids are time-ordered (UUIDv7)
	if err := reqs.Put([]byte(env.ID), p.req); err != nil {
		return Result{}, err
	}
	if err := l.numbers.putNumber(tx, env.Number, p.day, p.seq, env.ID); err != nil {
		return Result{}, err
	}
	for _, r := range p.records {
		if err := l.appendEncoded(tx, r); err != nil {
			return Result{}, err
		}
	}
	for _, put := range p.puts {
		if err := tx.Bucket([]byte(put.Bucket)).Put(put.Key, put.Value); err != nil {
			return Result{}, err
		}
	}
	for _, h := range hooks {
		if err := h(tx, env); err != nil {
			return Result{}, err
		}
	}
	return Result{Receipt: normalize.ReceiptFor(env), Owner: opts.Owner, after: p.after}, nil
}

func district(env *normalize.Envelope) string {
	if env.Location == nil {
		return ""
	}
	return env.Location.District
}
