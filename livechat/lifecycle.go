package livechat

import (
	"context"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/sessions"
)

// The hub's start (load, after a restart) and end (Close).

// load restores open sessions after a restart. Offers are not kept: offered
// sessions wait again. Agents with active sessions get their grace period
// to come back.
func (h *Hub) load() error {
	return h.d.DB.View(func(tx *store.Tx) error {
		return sessions.ForEachOpen(tx, func(r *sessions.Session) error {
			s := &sess{id: r.ID, citizen: r.Citizen, channel: r.Channel, state: r.State, agentID: r.AgentID, skills: r.Skills, video: r.Video,
				priority: r.Priority, since: r.QueuedAt, rec: r, subs: map[*conn]bool{}, emergency: r.Meta[metaEmergency]}
			if s.state == sessions.StateOffered {
				s.state = sessions.StateQueued
			}
			if s.state == sessions.StateActive {
				a := h.agents[r.AgentID]
				if a == nil { // the agent is gone from configuration
					s.state, s.agentID = sessions.StateQueued, ""
				} else {
					a.active[s.id] = true
					a.onCall = a.onCall || s.video
					h.startGrace(a)
				}
			}
			s.ownerKey = ownerKeyOf(r)
			h.sessions[s.id] = s
			h.open[s.ownerKey] = s
			return nil
		})
	})
}

// Close tells every client to reconnect (the gateway is going away) and
// waits for outbound deliveries. Idempotent.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.stop)
	for _, s := range h.sessions {
		if s.abandonEnd != nil {
			s.abandonEnd()
		}
		if s.offerEnd != nil {
			s.offerEnd()
		}
	}
	for _, a := range h.agents {
		if a.graceEnd != nil {
			a.graceEnd()
		}
	}
	h.mu.Unlock()
	// Every connection, in a session or not, is told to reconnect.
	h.liveMu.Lock()
	for c := range h.live {
		c.closeWith(CloseGoingAway, "server restarting: reconnect and resume")
	}
	h.live = nil
	h.liveMu.Unlock()
	done := make(chan struct{})
	go func() { h.bg.Wait(); h.conns.Wait(); h.closeLinks(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
