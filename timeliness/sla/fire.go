package sla

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/timeliness/timers"
)

// fireTx publishes a warning or a breach in the transaction that deletes the
// timer, so each fires exactly once, across crashes.
func (s *Service) fireTx(tx *store.Tx, k timers.Key, due time.Time) error {
	clock, warning := strings.CutSuffix(k.Kind, ".warning")
	typ := normalize.EventSLABreached
	if warning {
		typ = normalize.EventSLAWarning
		due = due.Add(s.lead(clock))
	}
	if clock == NextResponse { // keyed by session
		var sess *sessions.Session
		sess, err := sessions.Get(tx, k.ID)
		if err != nil {
			return nil // the session is gone: nothing to say
		}
		var req *intakelog.Request
		if sess.EnvelopeID != "" {
			req, _ = intakelog.RequestTx(tx, sess.EnvelopeID)
		}
		return s.event(tx, typ, req, k.ID, clock, due, nil)
	}
	req, err := intakelog.RequestTx(tx, k.ID)
	if err != nil {
		return nil
	}
	return s.event(tx, typ, req, "", clock, due, nil)
}

func (s *Service) lead(clock string) time.Duration {
	if clock == Handling {
		return s.cfg.LeadHandling
	}
	return s.cfg.LeadResponse
}

// afterFire tells agents, supervisors and partners, and escalates unanswered
// live chats, once the events are durable.
func (s *Service) afterFire(fired []timers.Deadline) {
	s.log.Notify()
	for _, d := range fired {
		clock, warning := strings.CutSuffix(d.Key.Kind, ".warning")
		state := "breached"
		due := d.Due
		if warning {
			state, due = "warning", d.Due.Add(s.lead(clock))
		}
		sid := d.Key.ID
		var req *intakelog.Request
		if clock == NextResponse {
			if s.live != nil {
				if info, ok := s.live.SessionInfo(sid); ok && info.EnvelopeID != "" {
					req, _ = s.log.Request(info.EnvelopeID)
				}
			}
		} else {
			req, _ = s.log.Request(d.Key.ID)
			sid = ""
			if req != nil {
				sid = req.SessionID
			}
		}
		channel := ""
		if req != nil {
			channel = req.Channel
		}
		if warning {
			s.warned.WithLabelValues(channel, clock).Inc()
		} else {
			s.breached.WithLabelValues(channel, clock).Inc()
		}
		s.audit(state, clock, req, sid, due, nil)
		if s.live != nil && sid != "" {
			s.live.Alert(sid, state, clock, due)
			if !warning && clock != Handling && s.unanswered(sid) {
				s.bg.Add(1)
				go func() { defer s.bg.Done(); s.live.Escalate(context.Background(), sid) }()
			}
		}
		if s.partner != nil && req != nil {
			s.partner(context.Background(), req, clock, state, due)
		}
	}
}

// audit writes the log line of a warning or a breach: which clock of which
// request or chat, and when it was due; never what the citizen wrote.
func (s *Service) audit(state, clock string, req *intakelog.Request, sessionID string, due time.Time, extra []any) {
	args := append([]any{"clock", clock, "due", due.UTC()}, extra...)
	if req != nil {
		args = append(args, "envelope", req.ID, "channel", req.Channel)
		if sessionID == "" {
			sessionID = req.SessionID
		}
	}
	if sessionID != "" {
		args = append(args, "session", sessionID)
	}
	if state == "warning" {
		s.logger.Info("sla warning", args...)
		return
	}
	s.logger.Warn("sla breached", args...)
}

// unanswered reports whether a live chat waits for an agent: it is not
// closed, and the citizen's last message has no reply yet (or nobody has
// taken the queued conversation).
func (s *Service) unanswered(sid string) bool {
	info, ok := s.live.SessionInfo(sid)
	switch {
	case !ok || info.State == sessions.StateClosed:
		return false
	case info.LastCitizenAt == nil:
		return info.State != sessions.StateActive
	}
	return info.LastAgentAt == nil || info.LastAgentAt.Before(*info.LastCitizenAt)
}

// stopTx stops a clock of envelope id (and its warning) at `at` inside tx,
// recording the stop time on the request; sla.met goes out if the clock was
// still running and in time, sla.breached if it was running but late.
func (s *Service) stopTx(tx *store.Tx, id, clock string, at time.Time, record func(r *intakelog.Request)) error {
	stopped, err := s.timers.StopTx(tx, timers.Key{ID: id, Kind: clock})
	if err != nil {
		return err
	}
	if _, err := s.timers.StopTx(tx, timers.Key{ID: id, Kind: timers.WarningKind(clock)}); err != nil {
		return err
	}
	var req *intakelog.Request
	if err := s.log.UpdateRequestTx(tx, id, func(_ *store.Tx, r *intakelog.Request) (bool, error) {
		record(r)
		c := *r
		req = &c
		return true, nil
	}); err != nil {
		return err
	}
	if !stopped {
		return nil
	}
	due := req.FirstResponseDue
	if clock == Handling {
		due = req.HandlingDue
	}
	if at.After(due) { // stopped late, before its timer fired: it breached all the same
		tx.OnCommit(func() {
			s.breached.WithLabelValues(req.Channel, clock).Inc()
			s.audit("breached", clock, req, "", due, []any{"stopped_at", at.UTC()})
		})
		return s.event(tx, normalize.EventSLABreached, req, "", clock, due, map[string]any{"stopped_at": at.UTC()})
	}
	tx.OnCommit(func() { s.met.WithLabelValues(req.Channel, clock).Inc() })
	return s.event(tx, normalize.EventSLAMet, req, "", clock, due, map[string]any{"elapsed_s": at.Sub(req.ReceivedAt).Seconds()})
}

func (s *Service) stop(ctx context.Context, id, clock string, at time.Time, record func(r *intakelog.Request)) error {
	err := s.db.Update(ctx, func(tx *store.Tx) error { return s.stopTx(tx, id, clock, at, record) })
	if errors.Is(err, intakelog.ErrNotFound) {
		return nil
	}
	if err == nil {
		s.log.Notify()
	}
	return err
}

func firstResponseAt(at time.Time) func(r *intakelog.Request) {
	return func(r *intakelog.Request) {
		if r.FirstResponseAt == nil {
			r.FirstResponseAt = &at
		}
	}
}

// FirstResponse records the first reply from a person (a ticket reply) for
// envelope id.
func (s *Service) FirstResponse(ctx context.Context, id string, at time.Time) error {
	return s.stop(ctx, id, FirstResponse, at, firstResponseAt(at))
}

// Handled records the first answered/dispatched/resolved/rejected status.
func (s *Service) Handled(ctx context.Context, id string, at time.Time) error {
	return s.stop(ctx, id, Handling, at, func(r *intakelog.Request) {
		if r.HandledAt == nil {
			r.HandledAt = &at
		}
	})
}

// MessageTx runs in the transaction that stores a live-chat message, so the
// clocks change exactly when the message is durable. sess is the session as
// it was before m. An agent's message
// stops the first-response clock of the session's request and its
// next-response clock. A citizen's message after an agent's reply starts
// the next-response clock; while a clock runs (the citizen is already
// waiting) further messages leave it as it is, so that writing more never
// postpones the due time.
func (s *Service) MessageTx(tx *store.Tx, sess *sessions.Session, m *sessions.Message) error {
	k := timers.Key{ID: sess.ID, Kind: NextResponse}
	switch m.From {
	case "agent":
		// Only the session's first agent message can be the first response:
		// later ones need not touch the request record at all.
		if sess.EnvelopeID != "" && sess.LastAgentAt == nil {
			if err := s.stopTx(tx, sess.EnvelopeID, FirstResponse, m.At, firstResponseAt(m.At)); err != nil && !errors.Is(err, intakelog.ErrNotFound) {
				return err
			}
		}
		due, running := s.timers.Due(k)
		if !running { // no citizen is waiting for a next response
			return nil
		}
		stopped, err := s.timers.StopTx(tx, k)
		if err != nil {
			return err
		}
		if _, err := s.timers.StopTx(tx, timers.Key{ID: sess.ID, Kind: timers.WarningKind(NextResponse)}); err != nil {
			return err
		}
		if !stopped || sess.EnvelopeID == "" {
			return nil
		}
		req, err := intakelog.RequestTx(tx, sess.EnvelopeID)
		if err != nil {
			return nil
		}
		tx.OnCommit(func() { s.met.WithLabelValues(sess.Channel, NextResponse).Inc() })
		return s.event(tx, normalize.EventSLAMet, req, sess.ID, NextResponse, due,
			map[string]any{"elapsed_s": m.At.Sub(due.Add(-s.cfg.NextResponse)).Seconds()})
	case "citizen":
		if sess.LastAgentAt == nil { // still waiting for the first response: that clock covers it
			return nil
		}
		if _, running := s.timers.Due(k); running {
			return nil
		}
		due := m.At.Add(s.cfg.NextResponse)
		if err := s.timers.SetTx(tx, k, due); err != nil {
			return err
		}
		return s.timers.SetTx(tx, timers.Key{ID: sess.ID, Kind: timers.WarningKind(NextResponse)}, due.Add(-s.cfg.LeadResponse))
	}
	return nil
}
