package livechat

// Storing a chat message: the session update, the transcript entry and the
// message event in one transaction, then the echo to every subscriber.

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// noteMessage updates a session record for a message it is about to store
// (everything but the seq, which sessions assigns).
func noteMessage(n *sessions.Session, m sessions.Message) {
	at := m.At
	switch m.From {
	case "citizen":
		n.LastCitizenAt = &at
		if n.Preview == "" {
			n.Preview = preview(m.Text)
		}
	case "agent":
		n.LastAgentAt = &at
	}
}

// messageEvent is the event of a stored message. System messages (receipts,
// ticket replies) have always been published as message.citizen.
func (h *Hub) messageEvent(n *sessions.Session, m sessions.Message) *normalize.Event {
	typ := normalize.EventMessageCitizen
	if m.From == "agent" {
		typ = normalize.EventMessageAgent
	}
	data := map[string]any{"seq": m.Seq, "from": m.From, "text": m.Text}
	if len(m.Attachments) > 0 {
		data["attachments"] = m.Attachments
	}
	if len(m.Meta) > 0 {
		data["meta"] = m.Meta
	}
	return h.newEvent(typ, n, m.AgentID, data)
}

// appendMessage stores a message, then echoes it to every subscriber. It
// returns the stored message. A conversation's first citizen message, which
// makes the envelope (and the receipt), is handled here; every other goes
// through appendPrepared.
func (h *Hub) appendMessage(ctx context.Context, s *sess, m sessions.Message, dedupKey string) (sessions.Message, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rec.State == sessions.StateClosed {
		return m, false, ErrClosed
	}
	if m.From != "citizen" || s.rec.EnvelopeID != "" {
		return h.appendPrepared(ctx, s, m, dedupKey)
	}
	next := *s.rec
	var env *normalize.Envelope
	var res intakelog.Result
	var receipt *sessions.Message
	dup := false
	err := h.update(ctx, func(tx *store.Tx) error {
		n := *s.rec // fn may run twice: start from the committed record each time
		before := n // as it was before this message (for MessageTx)
		env, dup = nil, false
		if dedupKey != "" {
			seen, err := sessions.SeenDedup(tx, dedupKey, s.id)
			if err != nil {
				return err
			}
			if seen {
				dup = true
				return nil
			}
		}
		at := m.At
		noteMessage(&n, m)
		env = sessions.ConversationEnvelope(h.d.Stamp, &n, m)
		if err := env.Validate(); err != nil {
			return err
		}
		ev := normalize.NewEvent(normalize.EventRequestAccepted, env.ReceivedAt)
		ev.Channel, ev.EnvelopeID, ev.SessionID = env.Channel, env.ID, n.ID
		var err error
		res, err = h.d.Intake.AcceptTx(tx, env, intakelog.AcceptOptions{Owner: "citizen:" + n.Citizen, Events: []*normalize.Event{ev}})
		if err != nil {
			return err
		}
		n.EnvelopeID = res.Receipt.ID
		withNumber(&n, res.Receipt.Number)
		if tr := env.Triage; tr != nil && len(tr.RepeatOf) > 0 { // the agent sees the citizen's history
			n.Meta = cloneMap(n.Meta)
			if n.Meta == nil {
				n.Meta = map[string]string{}
			}
			n.Meta[metaRepeatOf] = strings.Join(tr.RepeatOf, ",")
		}
		if tr := env.Triage; tr != nil { // written in a foreign language: its agents first (contract §10)
			n.Skills = withLanguage(n.Skills, tr.Language)
		}
		mm := m
		if err := sessions.Append(tx, &n, &mm); err != nil {
			return err
		}
		if h.cfg.MessageTx != nil {
			before.EnvelopeID = n.EnvelopeID
			if err := h.cfg.MessageTx(tx, &before, &mm); err != nil {
				return err
			}
		}
		receipt = nil
		if h.cfg.Receipt != nil {
			r := sessions.Message{From: "system", Text: h.cfg.Receipt(env), At: at}
			if err := sessions.Append(tx, &n, &r); err != nil {
				return err
			}
			receipt = &r
		}
		if err := h.d.Intake.AppendEvent(tx, h.messageEvent(&n, mm)); err != nil {
			return err
		}
		next, m = n, mm
		return nil
	})
	if err != nil {
		return m, false, err
	}
	if dup {
		return m, true, nil
	}
	*s.rec = next
	if tr := env.Triage; tr != nil && tr.Emergency != nil {
		s.flagged, s.notice = tr.Emergency.Category, normalize.NoticeFor(env)
	}
	h.d.Intake.Committed(env, res) // env is set: this path always makes one
	s.broadcastMessage(m)
	if receipt != nil {
		s.broadcastMessage(*receipt)
		h.deliverOut(next, channels.Outbound{Channel: next.Channel, ChannelUserID: next.Citizen, EnvelopeID: next.EnvelopeID,
			SessionID: next.ID, Text: receipt.Text, Kind: "receipt"}, "")
	}
	return m, false, nil
}

// appendPrepared is appendMessage for every message but a conversation's
// first from the citizen (which makes the envelope): the message, the
// session record and the event are encoded before the transaction, so that
// the store's single writer only puts them. Caller holds s.mu, which keeps
// the seq from moving meanwhile.
func (h *Hub) appendPrepared(ctx context.Context, s *sess, m sessions.Message, dedupKey string) (sessions.Message, bool, error) {
	n, before := *s.rec, *s.rec
	noteMessage(&n, m)
	n.LastSeq++
	mm := m
	mm.Seq = n.LastSeq
	msgV, err := json.Marshal(&mm)
	if err != nil {
		return m, false, err
	}
	sessV, err := json.Marshal(&n)
	if err != nil {
		return m, false, err
	}
	rec, err := h.d.Intake.EventRecord(h.messageEvent(&n, mm))
	if err != nil {
		return m, false, err
	}
	dup := false
	err = h.update(ctx, func(tx *store.Tx) error {
		dup = false // fn may run twice
		if dedupKey != "" {
			seen, err := sessions.SeenDedup(tx, dedupKey, s.id)
			if err != nil || seen {
				dup = seen
				return err
			}
		}
		if err := sessions.PutMessage(tx, &n, &mm, msgV, sessV); err != nil {
			return err
		}
		if h.cfg.MessageTx != nil {
			b := before
			if err := h.cfg.MessageTx(tx, &b, &mm); err != nil {
				return err
			}
		}
		return h.d.Intake.AppendRecord(tx, rec)
	})
	if err != nil {
		return m, false, err
	}
	if dup {
		return m, true, nil
	}
	*s.rec = n
	h.d.Intake.Notify()
	s.broadcastMessage(mm)
	return mm, false, nil
}

func preview(t string) string {
	r := []rune(t)
	if len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return t
}

func messageFrame(sid string, m sessions.Message) Frame {
	d := MessageData{Text: m.Text, From: m.From, AgentID: m.AgentID, Meta: m.Meta}
	if len(m.Attachments) > 0 {
		d.Attachments = mustJSON(m.Attachments)
	}
	return Frame{Type: TypeMessage, ID: m.ID, SessionID: sid, Seq: m.Seq, At: m.At, Data: mustJSON(d)}
}
