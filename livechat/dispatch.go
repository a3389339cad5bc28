package livechat

import (
	"context"
	"errors"
	"slices"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// ErrAgentFull: the agent already has as many active chats as they may
// take, counted in the store over every node; the accepted offer goes back
// to the queue.
var ErrAgentFull = errors.New("livechat: you already have as many chats as you may take")

// route makes offers for waiting sessions. Caller holds h.mu.
func (h *Hub) route(ctx context.Context) {
	if h.closed {
		return
	}
	views := h.agentViews()
	h.posDirty = true
	free := false
	for _, v := range views {
		free = free || (v.Available && !v.OnCall && v.Load < v.Capacity)
	}
	if !free { // nobody can take anything: do not even look at the queue
		return
	}
	for _, as := range Route(views, h.waiting(), h.now()) {
		h.offer(ctx, h.sessions[as.SessionID], h.agents[as.AgentID])
	}
}

// agentViews is what routing sees of the agents. Caller holds h.mu.
func (h *Hub) agentViews() []AgentView {
	views := make([]AgentView, 0, len(h.agents))
	for _, a := range h.agents {
		views = append(views, AgentView{ID: a.spec.ID, Skills: a.spec.Skills, Capacity: a.spec.MaxConcurrent,
			Load: len(a.active) + len(a.offers), OnCall: h.onCall(a),
			Available: a.presence == "available" && a.connected(), OnDuty: a.onDuty(), IdleSince: a.idleSince})
	}
	return views
}

// onDuty: the agent's console is open and they have not signed off; an
// agent who is away may come back to a waiting chat.
func (a *agent) onDuty() bool { return a.connected() && a.presence != "offline" }

func (h *Hub) waiting() []Waiting {
	var w []Waiting
	for _, s := range h.sessions {
		if s.state == sessions.StateQueued && !s.opening {
			w = append(w, h.waitingOf(s))
		}
	}
	return w
}

func (h *Hub) waitingOf(s *sess) Waiting {
	req, pref := h.splitSkills(s.skills)
	if a := h.agents[s.toAgent]; a == nil || a.presence != "available" || !a.connected() {
		s.toAgent = "" // the named agent went away: anyone may take it
	}
	return Waiting{SessionID: s.id, Skills: req, Preferred: pref, PreferUntil: s.since.Add(h.cfg.LanguageWait),
		Video: s.video, Priority: s.priority, Since: s.since, Exclude: s.exclude, ToAgent: s.toAgent}
}

// splitSkills parts a session's skills into those its entry point requires
// (sign language, routing.required_skills) and the citizen's preferences (a
// language, a topic): a citizen never waits for a skill nobody has.
func (h *Hub) splitSkills(skills []string) (required, preferred []string) {
	for _, sk := range skills {
		if sk == SkillSignLanguage || slices.Contains(h.cfg.RequiredSkills, sk) {
			required = append(required, sk)
		} else {
			preferred = append(preferred, sk)
		}
	}
	return required, preferred
}

// preferTimer routes again when s's preference runs out, so that any
// available agent is offered it then. Caller holds h.mu.
func (h *Hub) preferTimer(s *sess) {
	if _, pref := h.splitSkills(s.skills); len(pref) == 0 || h.cfg.LanguageWait <= 0 {
		return
	}
	h.clock.AfterFunc(h.cfg.LanguageWait, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.route(context.Background())
	})
}

// offer offers s to a. Caller holds h.mu.
func (h *Hub) offer(ctx context.Context, s *sess, a *agent) {
	if h.storedFull(a) {
		// Chats a has on other nodes fill them: s waits, and the hub routes
		// again shortly (pushPositions), when one of those may have ended.
		h.reroute = true
		return
	}
	s.state, s.offerTo = sessions.StateOffered, a.spec.ID
	a.offers[s.id] = true
	s.mu.Lock()
	err := h.persist(ctx, s, func(r *sessions.Session) { r.State = sessions.StateOffered }, func(tx *store.Tx, r *sessions.Session) error {
		return h.event(tx, normalize.EventSessionOffered, r, a.spec.ID, nil)
	})
	rec := *s.rec
	s.mu.Unlock()
	if err != nil {
		h.log.Warn("livechat: cannot record offer", "session", s.id, "err", err)
	}
	h.met.offers.WithLabelValues("offered").Inc()
	h.log.Info("livechat: offer", "session", s.id, "agent", a.spec.ID)
	sid, aid := s.id, a.spec.ID
	s.offerEnd = h.clock.AfterFunc(h.cfg.OfferTimeout, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		s := h.sessions[sid]
		if s == nil || s.state != sessions.StateOffered || s.offerTo != aid {
			return
		}
		h.requeue(context.Background(), s, aid, "offer_timeout")
		h.route(context.Background())
	}).Stop
	// The offer's clock runs before the agent can see the offer (a test's
	// fake clock, advanced on the offer frame, finds it armed).
	a.send(frameBytes(Frame{Type: TypeOffer, SessionID: s.id, At: h.now(), Data: mustJSON(map[string]any{
		"session_id": s.id, "channel": rec.Channel, "skills": rec.Skills, "waiting_since": rec.QueuedAt,
		"preview": rec.Preview, "video": rec.Video, "priority": rec.Priority, "emergency": rec.Meta[metaEmergency], "number": rec.Meta[metaNumber]})}))
}

// requeue puts an offered session back in the queue, excluding agent.
// Caller holds h.mu.
func (h *Hub) requeue(ctx context.Context, s *sess, agentID, why string) {
	h.met.offers.WithLabelValues(offerOutcome(why)).Inc()
	h.log.Info("livechat: offer withdrawn", "session", s.id, "agent", agentID, "reason", why)
	if a := h.agents[agentID]; a != nil {
		delete(a.offers, s.id)
		a.send(frameBytes(Frame{Type: TypeSession, SessionID: s.id, At: h.now(), Data: mustJSON(map[string]string{"state": "withdrawn", "reason": why})}))
	}
	if s.offerEnd != nil {
		s.offerEnd()
		s.offerEnd = nil
	}
	// A transfer or reassignment names one agent; once they let it go (or
	// cannot take it), anyone may: a named agent is a first choice, not a wall.
	s.state, s.offerTo, s.toAgent = sessions.StateQueued, "", ""
	if agentID != "" && !slices.Contains(s.exclude, agentID) {
		s.exclude = append(s.exclude, agentID)
	}
	if len(s.exclude) >= len(h.agents) { // everyone said no: let them be asked again
		s.exclude = nil
	}
	s.mu.Lock()
	_ = h.persist(ctx, s, func(r *sessions.Session) { r.State = sessions.StateQueued }, nil)
	s.mu.Unlock()
}

// accept assigns s to a after an offer. Caller holds h.mu.
func (h *Hub) accept(ctx context.Context, a *agent, sid string) error {
	s := h.sessions[sid]
	if s == nil || s.state != sessions.StateOffered || s.offerTo != a.spec.ID {
		return ErrNotAssigned
	}
	if s.offerEnd != nil {
		s.offerEnd()
		s.offerEnd = nil
	}
	delete(a.offers, sid)
	if err := h.assign(ctx, s, a, true); err != nil {
		// Nothing changed in memory: the offer is withdrawn and s waits again.
		why := "accept_failed"
		if errors.Is(err, ErrAgentFull) {
			why, h.reroute = "agent_full", true
		}
		h.requeue(ctx, s, a.spec.ID, why)
		return err
	}
	h.met.offers.WithLabelValues("accepted").Inc()
	h.log.Info("livechat: accepted", "session", sid, "agent", a.spec.ID, "waited_s", int(h.now().Sub(s.since).Seconds()))
	return nil
}

// storedFull reports whether a's active chats in the store (on every node)
// and this hub's offers to them leave no room for another offer. Caller
// holds h.mu.
func (h *Hub) storedFull(a *agent) bool {
	n := 0
	if err := h.d.DB.View(func(tx *store.Tx) error {
		n = sessions.ActiveOf(tx, a.spec.ID)
		return nil
	}); err != nil {
		return false // assign checks again in its transaction
	}
	return n+len(a.offers) >= a.spec.MaxConcurrent
}

// assign makes a the agent of s: the transcript so far, then live traffic.
// With limit, the transaction that records it first checks that a has room
// for s among their active chats in the store, on every node (ErrAgentFull).
// Memory changes only once the assignment is stored. Caller holds h.mu.
func (h *Hub) assign(ctx context.Context, s *sess, a *agent, limit bool) error {
	sid := s.id
	now := h.now()
	s.mu.Lock()
	err := h.persist(ctx, s, func(r *sessions.Session) {
		r.State, r.AgentID, r.AssignedAt, r.Priority = sessions.StateActive, a.spec.ID, &now, 0
	}, func(tx *store.Tx, r *sessions.Session) error {
		// The Put before this indexed s as a's: their others are one fewer.
		if limit && sessions.ActiveOf(tx, a.spec.ID)-1 >= a.spec.MaxConcurrent {
			return ErrAgentFull
		}
		return h.event(tx, normalize.EventSessionAssigned, r, a.spec.ID, map[string]any{"waited_s": now.Sub(s.since).Seconds()})
	})
	rec := *s.rec
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.state, s.agentID, s.offerTo, s.exclude, s.toAgent = sessions.StateActive, a.spec.ID, "", nil, ""
	a.active[sid] = true
	if s.video {
		a.onCall = true
	}
	for c := range a.conns {
		c.sessions[sid] = true
		_ = h.subscribe(s, c, 0) // the transcript so far, then live traffic
	}
	a.send(frameBytes(Frame{Type: TypeSession, SessionID: sid, At: now, Data: mustJSON(h.agentView(&rec))}))
	s.mu.Lock()
	s.toRole("citizen", frameBytes(Frame{Type: TypeQueue, SessionID: sid, At: now, Data: mustJSON(map[string]any{
		"state": "active", "agent_id": a.spec.ID, "queue_position": 0, "estimated_wait_s": 0})}))
	s.mu.Unlock()
	h.videoAnswered(rec, now)
	return nil
}

// release frees an agent's capacity for sid. Caller holds h.mu.
func (h *Hub) release(a *agent, sid string, video bool) {
	delete(a.active, sid)
	if video {
		a.onCall = false
	}
	if len(a.active) == 0 {
		a.idleSince = h.now()
	}
}

// transfer moves an active session to another agent or a skill queue,
// at the front of the queue. Caller holds h.mu.
func (h *Hub) transfer(ctx context.Context, a *agent, sid, toAgent, toSkill string) error {
	s := h.sessions[sid]
	if s == nil || s.state != sessions.StateActive || s.agentID != a.spec.ID {
		return ErrNotAssigned
	}
	if toAgent == "" && toSkill == "" {
		return ErrBadFrame
	}
	if toAgent != "" {
		to := h.agents[toAgent]
		if to == nil {
			return ErrBadFrame
		}
		// Refused now, not queued for someone who cannot take it: the
		// citizen would wait behind a full or absent agent, and the sender
		// would believe it handed the conversation on.
		if to == a || to.presence != "available" || !to.connected() || len(to.active) >= to.spec.MaxConcurrent {
			return ErrAgentUnavailable
		}
	}
	h.release(a, sid, s.video)
	s.state, s.agentID, s.priority, s.exclude, s.toAgent = sessions.StateQueued, "", s.priority+1, []string{a.spec.ID}, toAgent
	if toSkill != "" {
		s.skills = []string{toSkill}
	}
	s.since = h.now()
	s.mu.Lock()
	for c := range s.subs {
		if c.role == "agent" {
			delete(s.subs, c)
			delete(c.sessions, sid)
		}
	}
	err := h.persist(ctx, s, func(r *sessions.Session) {
		r.State, r.AgentID, r.Priority, r.Skills, r.QueuedAt = sessions.StateQueued, "", s.priority, s.skills, s.since
	}, func(tx *store.Tx, r *sessions.Session) error {
		return h.event(tx, normalize.EventSessionTransferred, r, a.spec.ID, map[string]any{"to_agent": toAgent, "to_skill": toSkill})
	})
	s.toRole("citizen", frameBytes(Frame{Type: TypeQueue, SessionID: sid, At: h.now(), Data: mustJSON(map[string]any{
		"state": "queued", "reason": "transferred", "queue_position": 1})}))
	s.mu.Unlock()
	a.send(frameBytes(Frame{Type: TypeSession, SessionID: sid, At: h.now(), Data: mustJSON(map[string]string{"state": "transferred"})}))
	h.log.Info("livechat: transferred", "session", sid, "from_agent", a.spec.ID, "to_agent", toAgent, "to_skill", toSkill)
	h.preferTimer(s)
	return err
}

// closeSession ends s. by is the agent id, or "" for the citizen or system.
// Caller holds h.mu.
func (h *Hub) closeSession(ctx context.Context, s *sess, by, reason string) error {
	if s.state == sessions.StateClosed {
		return nil
	}
	if s.offerEnd != nil {
		s.offerEnd()
	}
	if a := h.agents[s.agentID]; a != nil {
		h.release(a, s.id, s.video)
	}
	if a := h.agents[s.offerTo]; a != nil {
		delete(a.offers, s.id)
	}
	s.state = sessions.StateClosed
	now := h.now()
	s.mu.Lock()
	var survey *SurveyData
	err := h.persist(ctx, s, func(r *sessions.Session) { r.State, r.ClosedAt = sessions.StateClosed, &now },
		func(tx *store.Tx, r *sessions.Session) error {
			data := map[string]any{"reason": reason}
			videoDurations(data, r, now)
			if err := h.event(tx, normalize.EventSessionClosed, r, by, data); err != nil {
				return err
			}
			if h.cfg.CloseTx == nil {
				return nil
			}
			var err error
			survey, err = h.cfg.CloseTx(tx, r, by, reason)
			return err
		})
	if at := s.rec.AssignedAt; at != nil && err == nil {
		h.handling.observe(now.Sub(*at))
	}
	if survey != nil && err == nil {
		s.toRole(tokens.RoleCitizen, frameBytes(Frame{Type: TypeSurvey, SessionID: s.id, At: now, Data: mustJSON(survey)}))
	}
	s.broadcast(frameBytes(Frame{Type: TypeClose, SessionID: s.id, At: now, Data: mustJSON(map[string]string{
		"by": by, "reason": reason, "envelope_id": s.rec.EnvelopeID, "number": s.rec.Meta[metaNumber]})}), nil)
	for c := range s.subs {
		delete(c.sessions, s.id)
	}
	s.subs = map[*conn]bool{}
	s.mu.Unlock()
	delete(h.sessions, s.id)
	if h.open[s.ownerKey] == s {
		delete(h.open, s.ownerKey)
	}
	h.posDirty = true
	h.log.Info("livechat: session closed", "session", s.id, "by", by, "reason", reason)
	return err
}

// startGrace gives a disconnected agent time to come back before their
// sessions are re-queued at the front. Caller holds h.mu.
func (h *Hub) startGrace(a *agent) {
	if a.graceEnd != nil {
		return
	}
	id := a.spec.ID
	a.graceEnd = h.clock.AfterFunc(h.cfg.AgentGrace, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		a := h.agents[id]
		if a == nil || a.connected() || h.closed {
			return
		}
		a.graceEnd = nil
		h.setPresence(a, "offline", "grace_expired")
		ctx := context.Background()
		for sid := range a.offers {
			if s := h.sessions[sid]; s != nil {
				h.requeue(ctx, s, id, "agent_offline")
			}
		}
		for sid := range a.active {
			s := h.sessions[sid]
			if s == nil {
				continue
			}
			h.release(a, sid, s.video)
			s.state, s.agentID, s.priority, s.exclude = sessions.StateQueued, "", s.priority+1, []string{id}
			s.mu.Lock()
			_ = h.persist(ctx, s, func(r *sessions.Session) {
				r.State, r.AgentID, r.Priority = sessions.StateQueued, "", s.priority
			}, func(tx *store.Tx, r *sessions.Session) error {
				return h.event(tx, normalize.EventSessionTransferred, r, id, map[string]any{"reason": "agent_offline"})
			})
			s.mu.Unlock()
		}
		h.route(ctx)
	}).Stop
}

func sessionView(r *sessions.Session) map[string]any {
	return map[string]any{"session_id": r.ID, "state": r.State, "channel": r.Channel, "agent_id": r.AgentID,
		"skills": r.Skills, "queued_at": r.QueuedAt, "last_seq": r.LastSeq, "envelope_id": r.EnvelopeID, "number": r.Meta[metaNumber],
		"last_citizen_at": r.LastCitizenAt, "last_agent_at": r.LastAgentAt, "preview": r.Preview, "video": r.Video}
}

// metaNumber is the Session.Meta key of the request number of the chat's
// envelope (contract §11), recorded with the envelope id by withNumber.
const metaNumber = "number"

// withNumber records the request number of r's envelope on r, copying its
// Meta (r may be a copy of the committed record, whose map it shares).
func withNumber(r *sessions.Session, number string) {
	if number == "" {
		return
	}
	m := cloneMap(r.Meta)
	if m == nil {
		m = map[string]string{}
	}
	m[metaNumber] = number
	r.Meta = m
}

// Survey shows the survey of a session's request to its citizen, if the
// session is live and they are connected (a ticket finished while they
// chat); otherwise they find it on the request's status answer.
func (h *Hub) Survey(sid string, d SurveyData) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[sid]
	if s == nil {
		return
	}
	s.mu.Lock()
	s.toRole(tokens.RoleCitizen, frameBytes(Frame{Type: TypeSurvey, SessionID: sid, At: h.now(), Data: mustJSON(d)}))
	s.mu.Unlock()
}
