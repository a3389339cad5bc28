package livechat

// Internal notes (contract §11): an agent's remark on a chat for the other
// agents who see it (a second tab, a supervisor who takes over, whoever
// reads the chat's history). A note is stored in the transcript with from
// "note" and a seq of the session's sequence, and is never sent to the
// citizen: not on their websocket, not in their replay, not through a
// channel's deliverer, and not on Kafka (no message event is recorded for
// it; the ticket system sees the conversation as the citizen saw it).
//
// Seqs stay one sequence per session, so the citizen's side sees a gap
// where a note is: seq is gap-free for agents, and increasing but with gaps
// for the citizen. A client resumes with the last seq it saw either way.

import (
	"context"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/sessions"
)

// FromNote is the from of an internal note in the transcript and in the
// message frames agents get.
const FromNote = "note"

// maxNoteChars bounds a note's text, as a chat message's.
const maxNoteChars = 5000

// agentNote stores a note frame ({"type":"note","session_id","id","data":
// {"text"}}) from the session's agent or a supervisor, and echoes it as a
// message frame (from "note", the client's id, a seq) to the session's
// agents and to the sender.
func (h *Hub) agentNote(ctx context.Context, c *conn, f Frame) error {
	var d struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(f.Data, &d) != nil {
		return ErrBadFrame
	}
	text := strings.TrimSpace(d.Text)
	if text == "" || utf8.RuneCountInString(text) > maxNoteChars || len(f.ID) > 64 {
		return ErrBadFrame
	}
	h.mu.Lock()
	a := h.agents[c.sub]
	s := h.sessions[f.SessionID]
	mine := s != nil && s.state == sessions.StateActive && s.agentID == c.sub
	h.mu.Unlock()
	switch {
	case s == nil:
		return ErrNoSession
	case !mine && !a.spec.Supervisor():
		return ErrNotAssigned
	}
	m := sessions.Message{ID: f.ID, From: FromNote, AgentID: c.sub, Text: text, At: h.now()}
	return h.appendNote(ctx, s, m, c)
}

// appendNote stores a note with the session's next seq and echoes it to the
// agents only. No event, no clock (MessageTx), no delivery.
func (h *Hub) appendNote(ctx context.Context, s *sess, m sessions.Message, from *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.State == sessions.StateClosed {
		return ErrClosed
	}
	n := *s.rec
	n.LastSeq++
	m.Seq = n.LastSeq
	msgV, err := json.Marshal(&m)
	if err != nil {
		return err
	}
	sessV, err := json.Marshal(&n)
	if err != nil {
		return err
	}
	if err := h.update(ctx, func(tx *store.Tx) error { return sessions.PutMessage(tx, &n, &m, msgV, sessV) }); err != nil {
		return err
	}
	*s.rec = n
	b := frameBytes(messageFrame(s.id, m))
	s.toRole(tokens.RoleAgent, b)
	if !s.subs[from] { // a supervisor writing on a chat they do not hold
		from.enqueue(b)
	}
	h.log.Info("livechat: note", "session", s.id, "agent", m.AgentID, "seq", m.Seq)
	return nil
}
