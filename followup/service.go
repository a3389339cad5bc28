package followup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/timeliness/timers"
)

// Storage layout:
//
//	followups        envelope id → Record (JSON)
//	survey_codes     code → envelope id
//	followup_timers  the timers of sends, reminders and expiries (package timers)
const (
	bucketRecords = "followups"
	bucketCodes   = "survey_codes"
	bucketTimers  = "followup_timers"
)

// Buckets are the store buckets the service uses: pass them to store.Open.
var Buckets = []string{bucketRecords, bucketCodes, bucketTimers}

// Timer kinds, keyed by envelope id.
const (
	kindSend   = "send"
	kindRemind = "remind"
	kindExpire = "expire"
)

// maxAttempts bounds the sends of one survey that the channel refused; then
// the follow-up is failed (the phone follow-up is the hotline's).
const maxAttempts = 5

// Config holds the survey.* settings.
type Config struct {
	// BaseURL is the public address of the gateway: links are BaseURL/s/<code>.
	BaseURL string
	// Expire is how long a code takes an answer (survey.expire, 7 d).
	Expire time.Duration
	// RemindAfter: an unanswered survey is sent once more after it
	// (survey.remind_after, 24 h); zero: never.
	RemindAfter time.Duration
	// Delay holds the survey back after the ticket system's resolved or
	// closed (survey.delay), so that its reply is read first.
	Delay time.Duration
	// Quiet hours hold back SMS and WeChat surveys and reminders: a
	// citizen is not woken by a questionnaire.
	Quiet configs.QuietHours
}

// Sender delivers a survey link on the request's channel; reminder is true
// for the second follow-up. It returns once the channel has it (or refused
// it); the service retries with backoff.
type Sender func(ctx context.Context, r *Record, url string, reminder bool) error

// ErrInvalid: an answer without resolved, with an unknown rating or an
// over-long comment (the page validates first; this guards the store).
var ErrInvalid = errors.New("followup: invalid answer")

// Service keeps the follow-ups.
type Service struct {
	cfg    Config
	log    *intakelog.Log
	db     *store.DB
	timers *timers.Service
	send   Sender
	logger *slog.Logger
	now    func() time.Time

	runCtx   context.Context // Run's, for sends started by its timers
	bg       sync.WaitGroup
	sem      chan struct{} // bounds concurrent sends
	mu       sync.Mutex
	inflight map[string]bool // envelope ids being sent

	sent, failed, answered, expired *prometheus.CounterVec
}

// New builds the service over the intake log's store; send delivers surveys.
// Call Load, then Run.
func New(cfg Config, log *intakelog.Log, clk clock.Clock, logger *slog.Logger, send Sender) (*Service, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Expire <= 0 {
		return nil, fmt.Errorf("followup: survey.expire must be positive")
	}
	s := &Service{cfg: cfg, log: log, db: log.DB(), send: send, logger: logger,
		now: func() time.Time { return clk.Now().UTC() }, sem: make(chan struct{}, 8), inflight: map[string]bool{},
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_surveys_sent_total",
			Help: "Follow-up surveys sent, by channel and whether it was the reminder."}, []string{"channel", "reminder"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_surveys_send_failures_total",
			Help: "Survey sends the channel refused (retried up to 5 times)."}, []string{"channel"}),
		answered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_surveys_answered_total",
			Help: "Surveys answered, by channel and rating."}, []string{"channel", "rating"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_surveys_expired_total",
			Help: "Surveys that expired unanswered."}, []string{"channel"}),
	}
	t, err := timers.New(s.db, clk, timers.Options{FireTx: s.fireTx, AfterFire: s.afterFire, Logger: logger, Bucket: bucketTimers})
	if err != nil {
		return nil, err
	}
	s.timers = t
	return s, nil
}

// Collectors returns the service's metrics.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.sent, s.failed, s.answered, s.expired}
}

// Load schedules the stored timers; ones that fell due while the gateway was
// down fire as soon as Run starts.
func (s *Service) Load(ctx context.Context) error { return s.timers.Load(ctx) }

// Run sends, reminds and expires until ctx ends, then waits for the sends
// under way.
func (s *Service) Run(ctx context.Context) {
	s.runCtx = ctx
	_ = s.timers.Run(ctx)
	s.bg.Wait()
}

// URL is the survey page of a code.
func (s *Service) URL(code string) string {
	return strings.TrimRight(s.cfg.BaseURL, "/") + "/s/" + code
}

// Ticket applies a ticket.events record (already applied to the request by
// the timeliness service): resolved or closed finishes the request and,
// unless no_follow_up, starts its survey. Idempotent: a request is finished
// and surveyed once, whatever the ticket system repeats.
func (s *Service) Ticket(ctx context.Context, value []byte) error {
	var ev normalize.TicketEvent
	if json.Unmarshal(value, &ev) != nil || ev.Validate() != nil {
		return nil // the timeliness service dead-letters it
	}
	if ev.Status != normalize.StatusResolved && ev.Status != normalize.StatusClosed {
		return nil
	}
	at := ev.At.UTC()
	var created *Record
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		created = nil
		now := s.now()
		if r, err := getTx(tx, ev.EnvelopeID); err == nil {
			if r.FinishedAt != nil {
				return nil
			}
			r.FinishedAt, r.NoFollowUp = &at, ev.NoFollowUp
			if ev.HandlingUnit != "" {
				r.HandlingUnit = ev.HandlingUnit
			}
			return putTx(tx, r)
		}
		req, err := intakelog.RequestTx(tx, ev.EnvelopeID)
		if err != nil {
			return err
		}
		r := newRecord(req, now)
		r.FinishedAt, r.NoFollowUp = &at, ev.NoFollowUp
		if ev.HandlingUnit != "" {
			r.HandlingUnit = ev.HandlingUnit
		}
		if !ev.NoFollowUp {
			if err := s.startTx(tx, r, ViaTicket, s.sendAt(r.Channel, now.Add(s.cfg.Delay))); err != nil {
				return err
			}
		}
		created = r
		return putTx(tx, r)
	})
	if errors.Is(err, intakelog.ErrNotFound) {
		return nil // the timeliness service dead-letters an unknown envelope
	}
	if err != nil {
		return err
	}
	if created != nil {
		s.logger.Info("followup: request finished", "envelope", created.EnvelopeID, "channel", created.Channel,
			"no_follow_up", created.NoFollowUp, "handling_unit", created.HandlingUnit)
	}
	return nil
}

// ChatClosedTx starts the survey of a chat its agent closed, in the closing
// transaction. On a channel the citizen follows in the widget or the app the
// survey is sent in the chat itself: the returned record's code goes into a
// survey frame, and survey.sent is recorded here. On WeChat and SMS it is
// sent at once through the channel. A request has one survey: nil when it
// already has one.
func (s *Service) ChatClosedTx(tx *store.Tx, envelopeID string) (*Record, error) {
	if envelopeID == "" {
		return nil, nil
	}
	if _, err := getTx(tx, envelopeID); err == nil {
		return nil, nil
	}
	req, err := intakelog.RequestTx(tx, envelopeID)
	if errors.Is(err, intakelog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := newRecord(req, now)
	if pushed(r.Channel) {
		if err := s.startTx(tx, r, ViaChat, now); err != nil {
			return nil, err
		}
		return nil, putTx(tx, r)
	}
	if err := s.startTx(tx, r, ViaChat, time.Time{}); err != nil {
		return nil, err
	}
	r.Sends, r.FirstSentAt = 1, &now
	if err := s.event(tx, normalize.EventSurveySent, r, map[string]any{"via": ViaChat, "reminder": false, "expires_at": r.ExpiresAt}); err != nil {
		return nil, err
	}
	if err := putTx(tx, r); err != nil {
		return nil, err
	}
	tx.OnCommit(func() {
		s.sent.WithLabelValues(r.Channel, "false").Inc()
		s.logger.Info("followup: survey sent", "envelope", r.EnvelopeID, "channel", r.Channel, "via", ViaChat, "reminder", false)
	})
	return r, nil
}

// newRecord is the follow-up of req, as yet without a survey.
func newRecord(req *intakelog.Request, now time.Time) *Record {
	return &Record{EnvelopeID: req.ID, Number: req.Number, Channel: req.Channel, HandlingUnit: req.Extra["handling_unit"],
		District: req.District, Repeat: req.Repeat, CreatedAt: now, SessionID: req.SessionID, ChannelUserID: req.ChannelUserID}
}

// startTx gives r its code and expiry, and its send timer at sendAt (zero:
// none, the caller sends it).
func (s *Service) startTx(tx *store.Tx, r *Record, via string, sendAt time.Time) error {
	r.Code, r.Via, r.ExpiresAt = newCode(), via, r.CreatedAt.Add(s.cfg.Expire)
	if err := tx.Bucket([]byte(bucketCodes)).Put([]byte(r.Code), []byte(r.EnvelopeID)); err != nil {
		return err
	}
	if !sendAt.IsZero() {
		if err := s.timers.SetTx(tx, timers.Key{ID: r.EnvelopeID, Kind: kindSend}, sendAt); err != nil {
			return err
		}
	}
	return s.timers.SetTx(tx, timers.Key{ID: r.EnvelopeID, Kind: kindExpire}, r.ExpiresAt)
}

// quietChannels wake the citizen's phone: their sends wait out quiet hours.
func quietChannels(channel string) bool {
	return channel == normalize.ChannelSMS || channel == normalize.ChannelWechat
}

// pushed channels reach the citizen outside the gateway's pages (a message,
// a partner's app): a reminder is worth sending there. On the others the
// survey is on the status answer and in the chat.
func pushed(channel string) bool {
	switch channel {
	case normalize.ChannelSMS, normalize.ChannelWechat, normalize.ChannelSuishenban, normalize.ChannelYiwangtongban:
		return true
	}
	return false
}

func (s *Service) sendAt(channel string, t time.Time) time.Time {
	if quietChannels(channel) {
		return s.cfg.Quiet.Next(t)
	}
	return t
}

func (s *Service) event(tx *store.Tx, typ string, r *Record, data map[string]any) error {
	ev := normalize.NewEvent(typ, s.now())
	ev.Channel, ev.EnvelopeID, ev.SessionID = r.Channel, r.EnvelopeID, r.SessionID
	ev.Data = data
	return s.log.AppendEvent(tx, ev)
}

// Answer records a citizen's answer to the survey of code: once, before it
// expires. ErrUnknown, ErrAnswered, ErrExpired, ErrInvalid say why not.
func (s *Service) Answer(ctx context.Context, code string, a Answer) error {
	if !validCode(code) {
		return ErrUnknown
	}
	if a.Resolved == nil || !slices.Contains(Ratings, a.Rating) || utf8.RuneCountInString(a.Comment) > MaxComment {
		return ErrInvalid
	}
	var r *Record
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if r, err = byCodeTx(tx, code); err != nil {
			return err
		}
		now := s.now()
		switch {
		case r.AnsweredAt != nil:
			return ErrAnswered
		case r.ExpiredAt != nil || !now.Before(r.ExpiresAt):
			return ErrExpired
		}
		r.AnsweredAt, r.Resolved, r.Rating = &now, a.Resolved, a.Rating
		// 复核: a first request its citizen says is not resolved is looked at again.
		r.ReviewRequested = !*a.Resolved && !r.Repeat
		if err := s.event(tx, normalize.EventSurveyAnswered, r, map[string]any{"resolved": *a.Resolved, "rating": a.Rating,
			"comment": a.Comment, "comment_length": utf8.RuneCountInString(a.Comment), "via": r.Via, "reminded": r.Reminded}); err != nil {
			return err
		}
		if r.ReviewRequested {
			if err := s.event(tx, normalize.EventReviewRequested, r, map[string]any{"rating": a.Rating, "handling_unit": r.HandlingUnit}); err != nil {
				return err
			}
		}
		for _, k := range []string{kindSend, kindRemind, kindExpire} {
			if _, err := s.timers.StopTx(tx, timers.Key{ID: r.EnvelopeID, Kind: k}); err != nil {
				return err
			}
		}
		return putTx(tx, r)
	})
	if err != nil {
		return err
	}
	s.log.Notify()
	s.answered.WithLabelValues(r.Channel, r.Rating).Inc()
	// The audit line: never the comment, never the code.
	s.logger.Info("followup: survey answered", "envelope", r.EnvelopeID, "channel", r.Channel, "resolved", *r.Resolved,
		"rating", r.Rating, "comment_length", utf8.RuneCountInString(a.Comment), "review_requested", r.ReviewRequested)
	return nil
}

// Lookup returns what the survey page shows of code.
func (s *Service) Lookup(_ context.Context, code string) (View, error) {
	if !validCode(code) {
		return View{}, ErrUnknown
	}
	var v View
	err := s.db.View(func(tx *store.Tx) error {
		r, err := byCodeTx(tx, code)
		if err != nil {
			return err
		}
		v = View{State: r.StateAt(s.now()), Number: r.Number, Channel: r.Channel, ExpiresAt: r.ExpiresAt}
		return nil
	})
	return v, err
}

// ForRequest returns the follow-up of a request, if any (the status answer).
func (s *Service) ForRequest(envelopeID string) (*Record, bool) {
	var r *Record
	_ = s.db.View(func(tx *store.Tx) error {
		r, _ = getTx(tx, envelopeID)
		return nil
	})
	return r, r != nil
}

// ForEach calls fn with every follow-up (the report).
func (s *Service) ForEach(fn func(*Record) error) error {
	return s.db.View(func(tx *store.Tx) error {
		return tx.Bucket([]byte(bucketRecords)).ForEach(func(_, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("followup: corrupt record: %w", err)
			}
			return fn(&r)
		})
	})
}

func getTx(tx *store.Tx, id string) (*Record, error) {
	v := tx.Bucket([]byte(bucketRecords)).Get([]byte(id))
	if v == nil {
		return nil, ErrUnknown
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("followup: corrupt record %s: %w", id, err)
	}
	return &r, nil
}

func byCodeTx(tx *store.Tx, code string) (*Record, error) {
	id := tx.Bucket([]byte(bucketCodes)).Get([]byte(code))
	if id == nil {
		return nil, ErrUnknown
	}
	return getTx(tx, string(id))
}

func putTx(tx *store.Tx, r *Record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketRecords)).Put([]byte(r.EnvelopeID), v)
}
