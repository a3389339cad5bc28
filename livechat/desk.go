package livechat

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// breach is the clock a chat breached and its due time.
type breach struct {
	clock string
	due   time.Time
}

func rolesOf(a configs.AgentSpec) []string {
	if a.Supervisor() {
		return []string{configs.RoleSupervisor}
	}
	return []string{}
}

// setPresence changes an agent's presence and says so in the audit log.
// Caller holds h.mu.
func (h *Hub) setPresence(a *agent, p, why string) {
	if a.presence == p {
		return
	}
	h.log.Info("livechat: presence", "agent", a.spec.ID, "from", a.presence, "to", p, "why", why)
	a.presence = p
}

func (h *Hub) isPending(c *conn, sid string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[connOwnerKey(c, false)]
	return p != nil && p.id == sid
}

// alertTargets are the supervisors on duty or, when there is none, every
// available agent: somebody must see a chat in trouble. Caller holds h.mu.
func (h *Hub) alertTargets() (targets []*agent, supervisors bool) {
	for _, a := range h.agents {
		if a.spec.Supervisor() && a.onDuty() {
			targets = append(targets, a)
		}
	}
	if len(targets) > 0 {
		return targets, true
	}
	for _, a := range h.agents {
		if a.presence == "available" && a.connected() {
			targets = append(targets, a)
		}
	}
	return targets, false
}

// Alert shows an sla frame (warning or breached) to the session's agent and
// to the supervisors on duty. It is what the timeliness service does when a
// clock of a live chat warns or breaches; Escalate follows a breach.
func (h *Hub) Alert(sid, state, clock string, due time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[sid]
	if s == nil {
		return
	}
	s.mu.Lock()
	number := s.rec.Meta[metaNumber]
	s.mu.Unlock()
	b := frameBytes(Frame{Type: TypeSLA, SessionID: sid, At: h.now(), Data: mustJSON(map[string]any{
		"state": state, "clock": clock, "due": due.UTC(), "number": number})})
	if state == "breached" {
		s.breach = breach{clock: clock, due: due.UTC()}
	}
	if a := h.agents[s.agentID]; a != nil {
		a.send(b)
	}
	for _, a := range h.agents {
		if a.spec.Supervisor() && a.onDuty() && a.spec.ID != s.agentID {
			a.send(b)
		}
	}
}

// Escalate is what the timeliness service does when a live chat breaches
// (contract §5, §11): an active chat stays with its agent until someone
// takes it, a waiting one goes to the head of the queue, and either is
// flagged to the supervisors on duty, or to every available agent when no
// supervisor is.
func (h *Hub) Escalate(ctx context.Context, sid string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[sid]
	if s == nil || s.state == sessions.StateClosed {
		return
	}
	if !s.escalated && s.state != sessions.StateActive {
		s.priority += 10
		s.mu.Lock()
		if err := h.persist(ctx, s, func(r *sessions.Session) { r.Priority = s.priority }, nil); err != nil {
			h.log.Warn("livechat: cannot record escalation", "session", sid, "err", err)
		}
		s.mu.Unlock()
	}
	s.escalated = true
	targets, supervisors := h.alertTargets()
	s.mu.Lock()
	number := s.rec.Meta[metaNumber]
	s.mu.Unlock()
	b := frameBytes(Frame{Type: TypeAlert, SessionID: sid, At: h.now(), Data: mustJSON(map[string]any{
		"kind": "escalated", "clock": s.breach.clock, "due": s.breach.due, "agent_id": s.agentID,
		"state": s.state, "supervisors": supervisors, "number": number})})
	ids := make([]string, 0, len(targets))
	for _, a := range targets {
		a.send(b)
		ids = append(ids, a.spec.ID)
	}
	alerted := "agents"
	if supervisors {
		alerted = "supervisors"
	}
	h.met.escalations.WithLabelValues(alerted).Inc()
	h.log.Warn("livechat: escalated", "session", sid, "agent", s.agentID, "state", s.state, "clock", s.breach.clock,
		"supervisor_on_duty", supervisors, "alerted", ids)
	h.route(ctx)
}

// answered clears a chat's escalation once its agent replies. Caller holds h.mu.
func (s *sess) answered() { s.escalated, s.breach = false, breach{} }

// detachAgent takes s from the agent who has it (active) or is offered it,
// telling them why. Caller holds h.mu.
func (h *Hub) detachAgent(ctx context.Context, s *sess, why, by string) {
	note := frameBytes(Frame{Type: TypeSession, SessionID: s.id, At: h.now(), Data: mustJSON(map[string]string{"state": why, "by": by})})
	switch s.state {
	case sessions.StateActive:
		if a := h.agents[s.agentID]; a != nil {
			h.release(a, s.id, s.video)
			a.send(note)
		}
		s.mu.Lock()
		for c := range s.subs {
			if c.role == tokens.RoleAgent {
				delete(s.subs, c)
				delete(c.sessions, s.id)
			}
		}
		s.mu.Unlock()
	case sessions.StateOffered:
		if a := h.agents[s.offerTo]; a != nil {
			delete(a.offers, s.id)
			a.send(note)
		}
		if s.offerEnd != nil {
			s.offerEnd()
			s.offerEnd = nil
		}
	}
	s.agentID, s.offerTo = "", ""
	s.state = sessions.StateQueued
}

// takeOver gives a chat to the supervisor who asks, from its agent or the
// queue: the transcript so far, then live traffic.
func (h *Hub) takeOver(ctx context.Context, c *conn, f Frame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	sup := h.agents[c.sub]
	if sup == nil || !sup.spec.Supervisor() {
		return ErrNotSupervisor
	}
	s := h.sessions[f.SessionID]
	if s == nil {
		return ErrNoSession
	}
	if s.state == sessions.StateActive && s.agentID == sup.spec.ID {
		return nil
	}
	prev := s.agentID
	if prev == "" {
		prev = s.offerTo
	}
	h.detachAgent(ctx, s, "taken_over", sup.spec.ID)
	if err := h.assign(ctx, s, sup, false); err != nil {
		return err
	}
	s.answered()
	h.met.supervisor.WithLabelValues("takeover").Inc()
	h.log.Info("livechat: taken over", "session", s.id, "supervisor", sup.spec.ID, "from_agent", prev)
	h.route(ctx)
	return nil
}

// reassign is a supervisor's transfer of any chat to a named agent, who is
// offered it at the head of the queue. Caller holds h.mu.
func (h *Hub) reassign(ctx context.Context, sup *agent, s *sess, toAgent string) error {
	to := h.agents[toAgent]
	switch {
	case to == nil:
		return ErrBadFrame
	case s.state == sessions.StateClosed:
		return ErrClosed
	case s.agentID == toAgent:
		return nil
	case to.presence != "available" || !to.connected() || len(to.active) >= to.spec.MaxConcurrent:
		return ErrAgentUnavailable
	}
	prev := s.agentID
	h.detachAgent(ctx, s, "reassigned", sup.spec.ID)
	s.toAgent, s.priority, s.exclude, s.since = toAgent, s.priority+1, nil, h.now()
	s.mu.Lock()
	err := h.persist(ctx, s, func(r *sessions.Session) {
		r.State, r.AgentID, r.Priority, r.QueuedAt = sessions.StateQueued, "", s.priority, s.since
	}, func(tx *store.Tx, r *sessions.Session) error {
		return h.event(tx, normalize.EventSessionTransferred, r, sup.spec.ID, map[string]any{"reason": "reassigned", "from_agent": prev, "to_agent": toAgent})
	})
	q := h.position(s).data(sessions.StateQueued)
	q["reason"] = "transferred"
	s.toRole(tokens.RoleCitizen, frameBytes(Frame{Type: TypeQueue, SessionID: s.id, At: h.now(), Data: mustJSON(q)}))
	s.mu.Unlock()
	h.met.supervisor.WithLabelValues("reassign").Inc()
	h.log.Info("livechat: reassigned", "session", s.id, "supervisor", sup.spec.ID, "from_agent", prev, "to_agent", toAgent)
	return err
}

// Wall is the supervisor's view of the desk (GET /v1/agents/wall).
type Wall struct {
	Queues []WallQueue `json:"queues"`
	Agents []WallAgent `json:"agents"`
	Chats  []WallChat  `json:"chats"`
}

// WallQueue is the waiting chats that need the same skills.
type WallQueue struct {
	Skills       []string `json:"skills"`
	Waiting      int      `json:"waiting"`
	LongestWaitS int      `json:"longest_wait_s"`
	OnDuty       int      `json:"agents_on_duty"`
}

// WallAgent is an agent's presence and load.
type WallAgent struct {
	ID        string   `json:"id"`
	Presence  string   `json:"presence"`
	Connected bool     `json:"connected"`
	Load      int      `json:"load"`
	Capacity  int      `json:"capacity"`
	Skills    []string `json:"skills"`
	Roles     []string `json:"roles"`
}

// WallChat is an open chat and the clock that runs on it, if any.
type WallChat struct {
	SessionID    string     `json:"session_id"`
	Number       string     `json:"number,omitempty"` // the request number
	Channel      string     `json:"channel"`
	State        string     `json:"state"`
	AgentID      string     `json:"agent_id"`
	WaitingSince time.Time  `json:"waiting_since"`
	Escalated    bool       `json:"escalated"`
	Emergency    string     `json:"emergency,omitempty"` // the category, when the citizen wrote of one
	Clock        string     `json:"clock"`
	Due          *time.Time `json:"due"`
	AtRisk       bool       `json:"at_risk"`
	Preview      string     `json:"preview"`
	Skills       []string   `json:"skills"`
}

// atRiskLead: a chat whose clock falls due within it is shown at risk.
const atRiskLead = time.Minute

// Wall returns the desk as a supervisor sees it: the chats at risk first.
func (h *Hub) Wall() Wall {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	w := Wall{Queues: []WallQueue{}, Agents: []WallAgent{}, Chats: []WallChat{}}
	queues := map[string]*WallQueue{}
	for _, s := range h.sessions {
		s.mu.Lock()
		rec := *s.rec
		s.mu.Unlock()
		ch := WallChat{SessionID: s.id, Number: rec.Meta[metaNumber], Channel: s.channel, State: s.state, AgentID: s.agentID, WaitingSince: s.since,
			Escalated: s.escalated, Emergency: s.emergency, Preview: rec.Preview, Skills: s.skills}
		if s.state == sessions.StateOffered {
			ch.AgentID = s.offerTo
		}
		ch.Clock, ch.Due = h.runningClock(s, &rec)
		ch.AtRisk = s.escalated || s.emergency != "" || (ch.Due != nil && ch.Due.Sub(now) <= atRiskLead)
		w.Chats = append(w.Chats, ch)
		if s.state == sessions.StateQueued || s.state == sessions.StateOffered {
			k := strings.Join(s.skills, "+")
			q := queues[k]
			if q == nil {
				req, _ := h.splitSkills(s.skills)
				q = &WallQueue{Skills: append([]string{}, s.skills...), OnDuty: h.estimate(req, s.video, 0).OnDuty}
				queues[k] = q
			}
			q.Waiting++
			q.LongestWaitS = max(q.LongestWaitS, int(now.Sub(s.since).Seconds()))
		}
	}
	for _, q := range queues {
		w.Queues = append(w.Queues, *q)
	}
	sort.Slice(w.Queues, func(i, j int) bool { return w.Queues[i].LongestWaitS > w.Queues[j].LongestWaitS })
	for _, a := range h.agents {
		w.Agents = append(w.Agents, WallAgent{ID: a.spec.ID, Presence: a.presence, Connected: a.connected(),
			Load: len(a.active) + len(a.offers), Capacity: a.spec.MaxConcurrent, Skills: append([]string{}, a.spec.Skills...), Roles: rolesOf(a.spec)})
	}
	sort.Slice(w.Agents, func(i, j int) bool { return w.Agents[i].ID < w.Agents[j].ID })
	sort.SliceStable(w.Chats, func(i, j int) bool {
		a, b := w.Chats[i], w.Chats[j]
		if a.AtRisk != b.AtRisk {
			return a.AtRisk
		}
		if (a.Due == nil) != (b.Due == nil) {
			return a.Due != nil
		}
		if a.Due != nil && !a.Due.Equal(*b.Due) {
			return a.Due.Before(*b.Due)
		}
		return a.WaitingSince.Before(b.WaitingSince)
	})
	return w
}

// runningClock is the response clock running on a chat: the breached one
// while it is escalated, else the citizen's unanswered message's. Caller
// holds h.mu.
func (h *Hub) runningClock(s *sess, r *sessions.Session) (string, *time.Time) {
	if s.escalated && s.breach.clock != "" {
		due := s.breach.due
		return s.breach.clock, &due
	}
	if r.LastCitizenAt == nil || (r.LastAgentAt != nil && !r.LastCitizenAt.After(*r.LastAgentAt)) {
		return "", nil
	}
	if r.LastAgentAt == nil {
		due := r.CreatedAt.Add(h.cfg.ResponseWindow)
		return "first_response", &due
	}
	due := r.LastCitizenAt.Add(h.cfg.ResponseWindow)
	return "next_response", &due
}

// serveWall is GET /v1/agents/wall, for supervisors.
func (h *Hub) serveWall(c echo.Context) error {
	spec, err := h.restAgent(c)
	if err != nil {
		return err
	}
	if !spec.Supervisor() {
		return apierr.New(apierr.CodeForbidden, "only a supervisor sees the wall")
	}
	return c.JSON(http.StatusOK, h.Wall())
}
