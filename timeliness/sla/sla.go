// Package sla keeps the timeliness clocks of contract §5 for every request:
// first response (3 min), next response in a live chat (3 min) and handling
// (24 h). Clocks start in the transaction that accepts the envelope, stop
// exactly once in the transaction that records what stopped them, warn at a
// lead before their due time and, when they run out, publish sla.breached
// and escalate an unanswered live chat. Deadlines live in the timers
// service, which survives restarts.
package sla

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/timeliness/timers"
)

// Clock names as events and frames carry them.
const (
	FirstResponse = timers.KindFirstResponse
	NextResponse  = timers.KindNextResponse
	Handling      = timers.KindHandling
)

// Config holds the limits and warning leads.
type Config struct {
	FirstResponse, NextResponse, Handling time.Duration
	LeadResponse, LeadHandling            time.Duration
}

// Live is what the service needs of live chat.
type Live interface {
	// Alert shows an sla frame to the session's agent and to supervisors.
	Alert(sessionID, state, clock string, due time.Time)
	// Escalate flags an unanswered chat to the supervisors on duty (or every
	// available agent); it stays with its agent until someone takes it.
	Escalate(ctx context.Context, sessionID string)
	SessionInfo(sid string) (sessions.Session, bool)
}

// PartnerNotifier tells a partner about warnings and breaches of the
// requests it forwarded (request.timeliness webhooks).
type PartnerNotifier func(ctx context.Context, req *intakelog.Request, clock, state string, due time.Time)

// Service is the clock keeper.
type Service struct {
	cfg    Config
	log    *intakelog.Log
	db     *store.DB
	timers *timers.Service
	live   Live
	logger *slog.Logger
	now    func() time.Time

	partner PartnerNotifier

	met, breached, warned *prometheus.CounterVec
	bg                    sync.WaitGroup
}

// New builds the service over the intake log's store. live is the live chat
// (alerts, escalation; nil: none), partner tells partners of warnings and
// breaches (nil: none). The caller registers OnAccept with the intake log,
// passes MessageTx to live chat, then calls Load and Run.
func New(cfg Config, log *intakelog.Log, clk clock.Clock, logger *slog.Logger, live Live, partner PartnerNotifier) (*Service, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: log, db: log.DB(), logger: logger, live: live, partner: partner, now: func() time.Time { return clk.Now().UTC() },
		met: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_sla_met_total", Help: "Clocks stopped in time."}, []string{"channel", "clock"}),
		breached: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_sla_breached_total",
			Help: "Clocks that ran out."}, []string{"channel", "clock"}),
		warned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_sla_warnings_total",
			Help: "Warnings before a due time."}, []string{"channel", "clock"}),
	}
	t, err := timers.New(log.DB(), clk, timers.Options{FireTx: s.fireTx, AfterFire: s.afterFire, Logger: logger})
	if err != nil {
		return nil, err
	}
	s.timers = t
	log.OnPrepare(s.acknowledge)
	return s, nil
}

// Collectors returns the Prometheus metrics of the service.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.met, s.breached, s.warned,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_sla_open_timers", Help: "Clocks and warnings scheduled."},
			func() float64 { return float64(s.timers.Len()) })}
}

// Timers exposes the timer service (tests).
func (s *Service) Timers() *timers.Service { return s.timers }

// Load schedules every stored deadline; ones that passed while the gateway
// was down fire as soon as Run starts.
func (s *Service) Load(ctx context.Context) error { return s.timers.Load(ctx) }

// Run fires due clocks until ctx ends.
func (s *Service) Run(ctx context.Context) {
	_ = s.timers.Run(ctx)
	s.bg.Wait()
}

// OnAccept starts the first-response and handling clocks of a new envelope
// in its accepting transaction, and records the automatic acknowledgement.
func (s *Service) OnAccept(tx *store.Tx, env *normalize.Envelope) error {
	for _, c := range []struct {
		kind string
		due  time.Time
		lead time.Duration
	}{{FirstResponse, env.SLA.FirstResponseDue, s.cfg.LeadResponse}, {Handling, env.SLA.HandlingDue, s.cfg.LeadHandling}} {
		if err := s.timers.SetTx(tx, timers.Key{ID: env.ID, Kind: c.kind}, c.due); err != nil {
			return err
		}
		if w := c.due.Add(-c.lead); w.After(env.ReceivedAt) {
			if err := s.timers.SetTx(tx, timers.Key{ID: env.ID, Kind: timers.WarningKind(c.kind)}, w); err != nil {
				return err
			}
		}
	}
	return nil
}

// acknowledge makes every new request "acknowledged" at once, with its
// request.acknowledged event: the automatic receipt, which stops no clock.
// It runs before the accepting transaction, outside the single writer.
func (s *Service) acknowledge(env *normalize.Envelope) intakelog.Prep {
	ev := normalize.NewEvent(normalize.EventRequestAcknowledged, env.ReceivedAt)
	ev.Channel, ev.EnvelopeID, ev.SessionID = env.Channel, env.ID, env.SessionID
	ev.Data = map[string]any{"first_response_due": env.SLA.FirstResponseDue, "handling_due": env.SLA.HandlingDue}
	return intakelog.Prep{Status: normalize.StatusAcknowledged, Events: []*normalize.Event{ev}}
}

// Receipt is the automatic receipt text a citizen gets at once (in the
// chat, and as an SMS or WeChat message): it quotes the request number
// (contract §11), which the intake log gave env as it accepted it, so that
// the citizen has one short number to read out to anyone.
func Receipt(env *normalize.Envelope) string {
	n := env.Number
	if n == "" { // not through the intake log (never in the gateway)
		n = env.ID
	}
	if env.Channel == normalize.ChannelSMS { // one short message: SMS is paid per part
		return "您的诉求已登记，编号" + n + "，将在24小时内办理。"
	}
	return "【12345】您的诉求已登记，编号 " + n + "。工作人员将尽快回复，并在24小时内办理。" +
		"Your request is registered as number " + n + "; an agent will answer shortly and it will be handled within 24 hours."
}

func (s *Service) event(tx *store.Tx, typ string, req *intakelog.Request, sessionID, clock string, due time.Time, extra map[string]any) error {
	ev := normalize.NewEvent(typ, s.now())
	ev.SessionID = sessionID
	if req != nil {
		ev.Channel, ev.EnvelopeID = req.Channel, req.ID
		if ev.SessionID == "" {
			ev.SessionID = req.SessionID
		}
	}
	ev.Data = map[string]any{"clock": clock, "due": due.UTC()}
	for k, v := range extra {
		ev.Data[k] = v
	}
	return s.log.AppendEvent(tx, ev)
}
