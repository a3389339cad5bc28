package livechat

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// matched is what the emergency rules found in a message, worked out
// before the hub's lock is taken: the rules cost microseconds per message.
type matched struct {
	em normalize.Emergency
	ok bool
}

// matchEmergency runs the rules on a citizen's message (nothing without them).
func (h *Hub) matchEmergency(text string) matched {
	if h.cfg.Emergency == nil {
		return matched{}
	}
	em, ok := h.cfg.Emergency(text)
	return matched{em, ok}
}

// emergencyPriority puts an emergency chat at the head of the queue, ahead
// of transfers and escalations (contract §10).
const emergencyPriority = 100

// noteEmergency looks at a citizen's message for an emergency: the
// category triage put on the envelope the first message made, or, for a
// later message, the rules. An emergency chat goes to the head of the
// queue and the supervisors on duty (or every available agent) are
// alerted. It returns what to tell the citizen when the chat just became
// one ("" otherwise). Caller holds h.mu.
func (h *Hub) noteEmergency(ctx context.Context, s *sess, m matched) string {
	if s.emergency != "" || s.state == sessions.StateClosed {
		return ""
	}
	s.mu.Lock()
	category, notice := s.flagged, s.notice
	s.mu.Unlock()
	if notice == "" {
		notice = normalize.EmergencyNotice // found in the chat: not handed off
	}
	var rules []string
	fromEnvelope := category != "" // triage published request.emergency and handed it off
	if !fromEnvelope && m.ok {
		category, rules = m.em.Category, m.em.Rules
	}
	if category == "" {
		return ""
	}
	s.emergency = category
	s.priority = max(s.priority, emergencyPriority)
	s.mu.Lock()
	err := h.persist(ctx, s, func(r *sessions.Session) {
		r.Priority = s.priority
		if r.Meta == nil {
			r.Meta = map[string]string{}
		}
		r.Meta[metaEmergency] = category
	}, func(tx *store.Tx, r *sessions.Session) error {
		if fromEnvelope {
			return nil
		}
		return h.event(tx, normalize.EventRequestEmergency, r, r.AgentID, map[string]any{"category": category, "rules": rules, "in_chat": true})
	})
	s.mu.Unlock()
	if err != nil {
		h.log.Error("livechat: cannot record an emergency", "session", s.id, "err", err)
	}
	targets, supervisors := h.alertTargets()
	s.mu.Lock()
	number := s.rec.Meta[metaNumber]
	s.mu.Unlock()
	b := frameBytes(Frame{Type: TypeAlert, SessionID: s.id, At: h.now(), Data: mustJSON(map[string]any{
		"kind": "emergency", "category": category, "agent_id": s.agentID, "state": s.state, "supervisors": supervisors,
		"number": number})})
	for _, a := range targets {
		a.send(b)
	}
	h.log.Warn("livechat: emergency chat", "session", s.id, "category", category, "agent", s.agentID, "supervisor_on_duty", supervisors)
	h.route(ctx)
	return notice
}

// tellEmergency adds the emergency notice to the conversation (and sends it
// on a messaging channel). Caller must not hold h.mu.
func (h *Hub) tellEmergency(ctx context.Context, sid, notice string) {
	if err := h.Deliver(ctx, sid, "system", notice); err != nil && !errors.Is(err, ErrClosed) {
		h.log.Warn("livechat: cannot tell the citizen where to call", "session", sid, "err", err)
	}
}

// metaEmergency is the Session.Meta key of an emergency chat's category.
const metaEmergency = "emergency"

// metaRepeatOf is the Session.Meta key of the earlier requests triage
// linked the conversation's envelope to (comma-separated ids, newest first).
const metaRepeatOf = "repeat_of"

// HistoryItem is one of the citizen's earlier requests about the same
// matter, as the agent's console shows it (no text: the ticket system has it).
type HistoryItem struct {
	ID         string    `json:"id"`
	Channel    string    `json:"channel"`
	Status     string    `json:"status"`
	ReceivedAt time.Time `json:"received_at"`
	Reply      string    `json:"reply,omitempty"`
}

// history returns the earlier requests triage linked r's envelope to.
func (h *Hub) history(r *sessions.Session) []HistoryItem {
	ids := r.Meta[metaRepeatOf]
	if ids == "" {
		return nil
	}
	var out []HistoryItem
	for _, id := range strings.Split(ids, ",") {
		req, err := h.d.Intake.Request(id)
		if err != nil {
			continue // gone with retention
		}
		out = append(out, HistoryItem{ID: req.ID, Channel: req.Channel, Status: req.Status, ReceivedAt: req.ReceivedAt, Reply: req.Reply})
	}
	return out
}

// withLanguage adds the preference lang:<code> for a text triage found to be
// in a language other than Chinese, unless the session has a language
// preference already (the widget's).
func withLanguage(skills []string, lang string) []string {
	if lang == "" || strings.HasPrefix(lang, "zh") {
		return skills
	}
	for _, sk := range skills {
		if strings.HasPrefix(sk, "lang:") {
			return skills
		}
	}
	return append(slices.Clone(skills), "lang:"+lang)
}

// adoptSkills takes the skills the first message's triage added (the
// language it was written in) into routing. Caller holds h.mu.
func (h *Hub) adoptSkills(s *sess) {
	s.mu.Lock()
	skills := s.rec.Skills
	s.mu.Unlock()
	if len(skills) != len(s.skills) {
		s.skills = skills
		h.preferTimer(s)
	}
}
