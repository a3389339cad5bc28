package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// config is what ticketsim does; see the flags in main.go for the meaning.
type config struct {
	Brokers  []string
	Group    string
	InTopic  string
	OutTopic string
	// Delays between the steps of one ticket: accepted comes AcceptDelay
	// after the envelope is read, dispatched DispatchDelay after accepted,
	// resolved ResolveDelay after dispatched (0: never resolved).
	AcceptDelay, DispatchDelay, ResolveDelay time.Duration
	// Reply is the text sent with dispatched; empty: no reply.
	Reply string
	// MaxInFlight bounds the tickets whose sequence is running at once.
	MaxInFlight int
	// Clock stamps the events' "at" (default clock.System).
	Clock clock.Clock
}

const maxReplyRunes = 2000 // ticket-event.schema.json: reply.text maxLength

func (c *config) setDefaults() {
	if c.Group == "" {
		c.Group = "ticketsim"
	}
	if c.InTopic == "" {
		c.InTopic = "intake.envelopes"
	}
	if c.OutTopic == "" {
		c.OutTopic = "ticket.events"
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 10000
	}
	if c.Clock == nil {
		c.Clock = clock.System
	}
}

func (c *config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one broker is required"))
	}
	for name, d := range map[string]time.Duration{"accept-delay": c.AcceptDelay, "dispatch-delay": c.DispatchDelay, "resolve-delay": c.ResolveDelay} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	if n := utf8.RuneCountInString(c.Reply); n > maxReplyRunes || !utf8.ValidString(c.Reply) {
		errs = append(errs, fmt.Errorf("reply: must be valid UTF-8 of at most %d characters", maxReplyRunes))
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, errors.New("max-in-flight: must be positive"))
	}
	if c.InTopic == c.OutTopic {
		errs = append(errs, errors.New("out-topic: must differ from in-topic"))
	}
	return errors.Join(errs...)
}

// envelopeRef is what ticketsim needs of an envelope.
type envelopeRef struct {
	Schema  string `json:"schema"`
	ID      string `json:"id"`
	Channel string `json:"channel"`
}

// errBadEnvelope: the record is not an envelope/v1; it is skipped.
var errBadEnvelope = errors.New("not an envelope/v1")

// decodeEnvelope reads the schema, id and channel of an envelope record.
func decodeEnvelope(b []byte) (envelopeRef, error) {
	var e envelopeRef
	if err := json.Unmarshal(b, &e); err != nil {
		return envelopeRef{}, fmt.Errorf("%w: %v", errBadEnvelope, err)
	}
	switch {
	case e.Schema != normalize.SchemaEnvelope:
		return envelopeRef{}, fmt.Errorf("%w: schema is not %s", errBadEnvelope, normalize.SchemaEnvelope)
	case e.ID == "" || len(e.ID) > 64 || !utf8.ValidString(e.ID):
		return envelopeRef{}, fmt.Errorf("%w: id must be 1 to 64 bytes of UTF-8", errBadEnvelope)
	}
	return e, nil
}

// seenSet remembers the last n envelope ids, so that a record the relay
// published twice (at-least-once) gets one ticket.
type seenSet struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add reports whether id is new, and remembers it.
func (s *seenSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
	return true
}

// sim turns envelopes into ticket event sequences.
type sim struct {
	cfg     config
	log     *slog.Logger
	produce func(ctx context.Context, msgs []kafka.Message) error
	tickets atomic.Int64
}

// run consumes cfg.InTopic in consumer group cfg.Group and, for each
// envelope, produces to cfg.OutTopic (key: the envelope id) the ticket
// events accepted, dispatched (with cfg.Reply) and, if cfg.ResolveDelay > 0,
// resolved, with ticket ids "T1", "T2", … (restarting with each process).
// Offsets are committed once a record's sequence is produced, so sequences
// cut short by shutdown start again after a restart; consumers de-duplicate.
// It returns nil when ctx ends, after in-flight sequences are abandoned and
// finished records committed.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("ticketsim: bad configuration: %w", err)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: cfg.Brokers, GroupID: cfg.Group, Topic: cfg.InTopic,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond, StartOffset: kafkago.FirstOffset,
		CommitInterval: 0, HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second})
	defer r.Close()
	p := kafka.NewProducer(cfg.Brokers)
	defer p.Close()
	s := &sim{cfg: cfg, log: log, produce: p.Produce}

	log.Info("ticketsim started", "brokers", cfg.Brokers, "group", cfg.Group, "in_topic", cfg.InTopic, "out_topic", cfg.OutTopic,
		"accept_delay", cfg.AcceptDelay.String(), "dispatch_delay", cfg.DispatchDelay.String(), "resolve_delay", cfg.ResolveDelay.String())

	offs := newOffsets()
	commitDone := make(chan struct{})
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	go func() { // the one goroutine that commits, so that commits never go backwards
		defer close(commitDone)
		for {
			select {
			case <-commitCtx.Done():
				return
			case <-offs.ready:
				commit(commitCtx, r, offs, log)
			}
		}
	}()

	seen := newSeenSet(100_000)
	sem := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Warn("fetch failed; retrying", "topic", cfg.InTopic, "err", err)
			if sleep(ctx, time.Second) != nil {
				break
			}
			continue
		}
		if !offs.add(m) {
			continue
		}
		env, err := decodeEnvelope(m.Value)
		if err != nil {
			log.Warn("skipping record", "partition", m.Partition, "offset", m.Offset, "reason", err.Error())
			offs.done(m)
			continue
		}
		if !seen.add(env.ID) {
			log.Info("skipping duplicate envelope", "envelope_id", env.ID, "partition", m.Partition, "offset", m.Offset)
			offs.done(m)
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if s.ticket(ctx, env) == nil {
				offs.done(m)
			}
		}()
	}

	wg.Wait()
	stopCommits()
	<-commitDone
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	commit(final, r, offs, log)
	log.Info("ticketsim stopped", "tickets", s.tickets.Load())
	return nil
}

// commit commits what offs says is finished; on failure it keeps it for the
// next try.
func commit(ctx context.Context, r *kafkago.Reader, offs *offsets, log *slog.Logger) {
	ms := offs.take()
	if len(ms) == 0 {
		return
	}
	if err := r.CommitMessages(ctx, ms...); err != nil {
		offs.restore(ms)
		if ctx.Err() == nil {
			log.Warn("commit failed; the records may be seen again", "err", err)
		}
	}
}

// ticket produces one envelope's sequence. It returns ctx's error if it was
// cut short.
func (s *sim) ticket(ctx context.Context, env envelopeRef) error {
	id := "T" + strconv.FormatInt(s.tickets.Add(1), 10)
	type step struct {
		delay         time.Duration
		status, reply string
	}
	steps := []step{
		{s.cfg.AcceptDelay, normalize.StatusAccepted, ""},
		{s.cfg.DispatchDelay, normalize.StatusDispatched, s.cfg.Reply},
	}
	if s.cfg.ResolveDelay > 0 {
		steps = append(steps, step{s.cfg.ResolveDelay, normalize.StatusResolved, ""})
	}
	for _, st := range steps {
		if err := sleep(ctx, st.delay); err != nil {
			return err
		}
		ev := normalize.TicketEvent{Schema: normalize.SchemaTicketEvent, EnvelopeID: env.ID, TicketID: id,
			Status: st.status, At: s.cfg.Clock.Now().UTC()}
		if st.reply != "" {
			ev.Reply = &normalize.TicketReply{Text: st.reply}
		}
		value, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("ticketsim: cannot encode ticket event: %w", err)
		}
		msg := kafka.Message{Topic: s.cfg.OutTopic, Key: []byte(env.ID), Value: value, Headers: map[string]string{
			"schema": normalize.SchemaTicketEvent, "channel": env.Channel, "idempotency-key": env.ID + ":" + st.status}}
		if err := s.send(ctx, msg); err != nil {
			return err
		}
		s.log.Info("ticket event produced", "envelope_id", env.ID, "ticket_id", id, "status", st.status, "channel", env.Channel)
	}
	return nil
}

// send produces msg, retrying with backoff until it is acknowledged or ctx
// ends.
func (s *sim) send(ctx context.Context, msg kafka.Message) error {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.produce(ctx, []kafka.Message{msg})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("produce failed; retrying", "topic", msg.Topic, "attempt", attempt, "err", err)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
