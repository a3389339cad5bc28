package livechat

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// agentHello sends the agent its welcome and, for each assigned session, the
// transcript after what the client says it has (hello data {"sessions": {id: last_seq}}).
func (h *Hub) agentHello(ctx context.Context, c *conn, f Frame) error {
	var d struct {
		Sessions map[string]int64 `json:"sessions"`
		Presence string           `json:"presence"`
	}
	if len(f.Data) > 0 {
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return ErrBadFrame
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[c.sub]
	if d.Presence != "" {
		if !validPresence(d.Presence) {
			return ErrBadFrame
		}
		h.setPresence(a, d.Presence, "hello")
	}
	var views []map[string]any
	var assigned []*sess
	for sid := range a.active {
		if s := h.sessions[sid]; s != nil {
			s.mu.Lock()
			views = append(views, h.agentView(s.rec)) // a video session's ICE servers too
			s.mu.Unlock()
			assigned = append(assigned, s)
		}
	}
	c.enqueue(frameBytes(Frame{Type: TypeWelcome, At: h.now(), Data: mustJSON(map[string]any{
		"agent": map[string]any{"id": a.spec.ID, "skills": a.spec.Skills, "max_concurrent": a.spec.MaxConcurrent,
			"roles": rolesOf(a.spec)},
		"presence": a.presence, "sessions": views, "response_window_s": int(h.cfg.responseWindow().Seconds())})}))
	for _, s := range assigned {
		c.sessions[s.id] = true
		if err := h.subscribe(s, c, d.Sessions[s.id]); err != nil {
			return err
		}
	}
	for sid := range a.offers { // an offer made while this tab was away
		if s := h.sessions[sid]; s != nil {
			s.mu.Lock()
			rec := *s.rec
			s.mu.Unlock()
			c.enqueue(frameBytes(Frame{Type: TypeOffer, SessionID: sid, At: h.now(), Data: mustJSON(map[string]any{
				"session_id": sid, "channel": rec.Channel, "skills": rec.Skills, "waiting_since": rec.QueuedAt, "preview": rec.Preview, "video": rec.Video,
				"priority": rec.Priority, "emergency": rec.Meta[metaEmergency], "number": rec.Meta[metaNumber]})}))
		}
	}
	h.route(ctx)
	return nil
}

func validPresence(p string) bool { return p == "available" || p == "away" || p == "offline" }

func (c Config) responseWindow() time.Duration { return c.ResponseWindow }

func (h *Hub) agentPresence(ctx context.Context, c *conn, f Frame) error {
	var d struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(f.Data, &d) != nil || !validPresence(d.Status) {
		return ErrBadFrame
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[c.sub]
	h.setPresence(a, d.Status, "agent")
	if d.Status != "available" {
		for sid := range a.offers {
			if s := h.sessions[sid]; s != nil {
				h.requeue(ctx, s, a.spec.ID, "agent_"+d.Status)
			}
		}
	}
	a.send(frameBytes(Frame{Type: TypePresence, At: h.now(), Data: mustJSON(map[string]string{"status": d.Status})}))
	h.route(ctx)
	return nil
}

func (h *Hub) agentAcceptDecline(ctx context.Context, c *conn, f Frame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[c.sub]
	if f.Type == TypeAccept {
		if err := h.accept(ctx, a, f.SessionID); err != nil {
			return err
		}
	} else {
		h.log.Info("livechat: declined", "session", f.SessionID, "agent", a.spec.ID)
		s := h.sessions[f.SessionID]
		if s == nil || s.state != sessions.StateOffered || s.offerTo != a.spec.ID {
			return ErrNotAssigned
		}
		h.requeue(ctx, s, a.spec.ID, "declined")
	}
	h.route(ctx)
	return nil
}

// agentSession returns the session if it is assigned to agent id.
func (h *Hub) agentSession(id, sid string) (*sess, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[sid]
	if s == nil {
		return nil, ErrNoSession
	}
	if s.state != sessions.StateActive || s.agentID != id {
		return nil, ErrNotAssigned
	}
	return s, nil
}

func (h *Hub) agentMessage(ctx context.Context, c *conn, f Frame) error {
	s, err := h.agentSession(c.sub, f.SessionID)
	if err != nil {
		return err
	}
	m, err := decodeMessage(f)
	if err != nil {
		return err
	}
	m.From, m.AgentID, m.At = "agent", c.sub, h.now()
	stored, _, err := h.appendMessage(ctx, s, m, "")
	if err != nil {
		return err
	}
	h.mu.Lock()
	s.answered()
	h.mu.Unlock()
	s.mu.Lock()
	rec := *s.rec
	s.mu.Unlock()
	h.deliverOut(rec, channels.Outbound{Channel: rec.Channel, ChannelUserID: rec.Citizen, EnvelopeID: rec.EnvelopeID,
		SessionID: rec.ID, Text: stored.Text, Kind: "agent"}, c.sub)
	return nil
}

// Deliver sends a message to the citizen of a session: through the channel's
// deliverer for messaging channels, as a chat message otherwise. Used for
// receipts and ticket replies.
func (h *Hub) Deliver(ctx context.Context, sid, from, text string) error {
	h.mu.Lock()
	s, err := h.get(sid)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	_, _, err = h.appendMessage(ctx, s, sessions.Message{From: from, Text: text, At: h.now()}, "")
	if err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	s.mu.Lock()
	rec := *s.rec
	s.mu.Unlock()
	h.deliverOut(rec, channels.Outbound{Channel: rec.Channel, ChannelUserID: rec.Citizen, EnvelopeID: rec.EnvelopeID,
		SessionID: rec.ID, Text: text, Kind: from}, rec.AgentID)
	return nil
}

// deliverOut hands a message to the channel's deliverer, if it has one, in
// the background; a failure becomes message.delivery_failed and an error
// frame to the agent.
func (h *Hub) deliverOut(rec sessions.Session, m channels.Outbound, agentID string) {
	h.delivMu.RLock()
	d := h.deliverers[rec.Channel]
	h.delivMu.RUnlock()
	if d == nil {
		return
	}
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := d.Deliver(ctx, m)
		if err == nil {
			return
		}
		h.log.Warn("livechat: delivery failed", "channel", rec.Channel, "session", rec.ID, "err", err)
		ev := normalize.NewEvent(normalize.EventMessageDeliveryFailed, h.now())
		ev.Channel, ev.SessionID, ev.EnvelopeID, ev.AgentID = rec.Channel, rec.ID, rec.EnvelopeID, agentID
		ev.Data = map[string]any{"error": err.Error(), "kind": m.Kind}
		if err := h.d.Intake.Emit(ctx, ev); err != nil {
			h.log.Error("livechat: cannot record delivery failure", "err", err)
		}
		h.mu.Lock()
		if a := h.agents[agentID]; a != nil {
			a.send(frameBytes(Frame{Type: TypeError, SessionID: rec.ID, At: h.now(), Data: mustJSON(ErrorData{
				Code: "delivery_failed", Message: "the message could not be delivered on " + rec.Channel + ": " + err.Error()})}))
		}
		h.mu.Unlock()
	}()
}

func (h *Hub) agentTransfer(ctx context.Context, c *conn, f Frame) error {
	var d struct {
		ToAgent string `json:"to_agent"`
		ToSkill string `json:"to_skill"`
	}
	if json.Unmarshal(f.Data, &d) != nil {
		return ErrBadFrame
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[c.sub]
	if s := h.sessions[f.SessionID]; s != nil && s.agentID != a.spec.ID && a.spec.Supervisor() {
		if err := h.reassign(ctx, a, s, d.ToAgent); err != nil {
			return err
		}
	} else if err := h.transfer(ctx, a, f.SessionID, d.ToAgent, d.ToSkill); err != nil {
		return err
	}
	h.route(ctx)
	return nil
}

func (h *Hub) agentClose(ctx context.Context, c *conn, f Frame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[f.SessionID]
	if s == nil || s.state != sessions.StateActive || s.agentID != c.sub {
		return ErrNotAssigned
	}
	if err := h.closeSession(ctx, s, c.sub, "closed_by_agent"); err != nil {
		return err
	}
	h.route(ctx)
	return nil
}

// SessionInfo returns a copy of a session's record.
func (h *Hub) SessionInfo(sid string) (sessions.Session, bool) {
	h.mu.Lock()
	s, err := h.get(sid)
	h.mu.Unlock()
	if err != nil {
		return sessions.Session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.rec, true
}

// AgentState reports whether an agent is connected and how many sessions
// they hold (tests, console).
func (h *Hub) AgentState(id string) (connected bool, active int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[id]
	if a == nil {
		return false, 0
	}
	return a.connected(), len(a.active)
}
