package livechat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// citizenHello opens a session, or rejoins the citizen's open one.
func (h *Hub) citizenHello(ctx context.Context, c *conn, f Frame) error {
	var d struct {
		Channel  string   `json:"channel"`
		Language string   `json:"language"`
		Skills   []string `json:"skills"`
		Video    bool     `json:"video"`
	}
	if len(f.Data) > 0 {
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return ErrBadFrame
		}
	}
	if len(d.Skills) > 10 || len(d.Language) > 35 {
		return ErrBadFrame
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var s *sess
	if f.SessionID != "" {
		var err error
		if s, err = h.get(f.SessionID); err != nil {
			return err
		}
		if !s.ownedBy(c) {
			return ErrNotYours
		}
	} else {
		// One open conversation per citizen and channel (and one video call).
		if o := h.open[connOwnerKey(c, d.Video)]; o != nil && o.state != sessions.StateClosed {
			s = o
		}
	}
	if s == nil {
		skills := slices.Clone(d.Skills)
		if d.Language != "" && !strings.HasPrefix(d.Language, "zh") {
			skills = append(skills, "lang:"+d.Language)
		}
		if d.Video {
			skills = append(skills, SkillSignLanguage)
			if !h.videoGate(c, f) { // outside opening hours: told so by an error frame
				return nil
			}
		}
		ch, meta := videoOpenArgs(c, d.Video)
		var err error
		s, err = h.openSession(ctx, ch, c.sub, d.Language, skills, d.Video, meta)
		if err != nil {
			return err
		}
	}
	last := int64(0)
	if f.LastSeq != nil {
		last = *f.LastSeq
	}
	pos, wait := h.position(s.id)
	s.mu.Lock()
	rec := *s.rec
	s.mu.Unlock()
	welcome := map[string]any{"session_id": s.id, "state": s.state, "last_seq": rec.LastSeq,
		"queue_position": pos, "estimated_wait_s": int(wait.Seconds()), "agent_id": s.agentID}
	if x := h.welcomeExtra; x != nil {
		for k, v := range x(&rec) {
			welcome[k] = v
		}
	}
	c.enqueue(frameBytes(Frame{Type: TypeWelcome, SessionID: s.id, At: h.now(), Data: mustJSON(welcome)}))
	c.sessions[s.id] = true
	if err := h.subscribe(s, c, last); err != nil {
		return err
	}
	h.route(ctx)
	return nil
}

// citizenMessage stores a chat message from the citizen and acknowledges it
// by the echo that carries its seq and the client's id.
func (h *Hub) citizenMessage(ctx context.Context, c *conn, f Frame) error {
	s, err := h.citizenSession(c, f.SessionID)
	if err != nil {
		return err
	}
	m, err := decodeMessage(f)
	if err != nil {
		return err
	}
	m.From = "citizen"
	m.At = h.now()
	_, _, err = h.appendMessage(ctx, s, m, "")
	return err
}

func decodeMessage(f Frame) (sessions.Message, error) {
	var d struct {
		Text        string                 `json:"text"`
		Attachments []normalize.Attachment `json:"attachments"`
	}
	if err := json.Unmarshal(f.Data, &d); err != nil {
		return sessions.Message{}, ErrBadFrame
	}
	d.Text = strings.TrimSpace(d.Text)
	if (d.Text == "" && len(d.Attachments) == 0) || utf8.RuneCountInString(d.Text) > 5000 || len(d.Attachments) > 10 || len(f.ID) > 64 {
		return sessions.Message{}, ErrBadFrame
	}
	for _, a := range d.Attachments {
		if normalize.Validator().Struct(a) != nil {
			return sessions.Message{}, ErrBadFrame
		}
	}
	// The same check as every channel's: the link is shown to the other
	// party and published in the envelope and the message event.
	if err := normalize.CheckAttachments("attachments", d.Attachments); err != nil {
		return sessions.Message{}, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return sessions.Message{ID: f.ID, Text: d.Text, Attachments: d.Attachments}, nil
}

// citizenSession returns s if c's citizen owns it.
func (h *Hub) citizenSession(c *conn, sid string) (*sess, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := h.get(sid)
	if err != nil {
		return nil, err
	}
	if !s.ownedBy(c) {
		return nil, ErrNotYours
	}
	return s, nil
}

// relay forwards typing/read/rtc frames to the other party of the session,
// untouched apart from the server's time.
func (h *Hub) relay(c *conn, f Frame, to string) error {
	h.mu.Lock()
	s, err := h.get(f.SessionID)
	if err == nil {
		switch c.role {
		case "citizen":
			if !s.ownedBy(c) {
				err = ErrNotYours
			}
		case "agent":
			if s.agentID != c.sub || s.state != sessions.StateActive {
				err = ErrNotAssigned
			}
		}
	}
	h.mu.Unlock()
	if err != nil {
		return err
	}
	f.At = h.now()
	b := frameBytes(f)
	s.mu.Lock()
	if to == "" {
		s.broadcast(b, c)
	} else {
		s.toRole(to, b)
	}
	s.mu.Unlock()
	return nil
}

// CitizenMessage is how messaging channels (WeChat, SMS) hand a citizen's
// message to live chat: it joins the citizen's open conversation (opening
// one if needed), is stored durably and reaches the agent.
func (h *Hub) CitizenMessage(ctx context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	// A platform's retry must not close or open a conversation: recognise it first.
	if k := dedupKey(m); k != "" {
		var sid string
		_ = h.d.DB.View(func(tx *store.Tx) error {
			sid = sessions.Dedup(tx, k)
			return nil
		})
		if sid != "" {
			return channels.ChatResult{SessionID: sid, Duplicate: true}, nil
		}
	}
	// Checked here as well as by the envelope: only a conversation's first
	// message makes one, later ones reach the message events unchecked.
	if err := normalize.CheckAttachments("attachments", m.Attachments); err != nil {
		return channels.ChatResult{}, fmt.Errorf("livechat: citizen message: %w", err)
	}
	s, isNew, err := h.conversationFor(ctx, m)
	if err != nil {
		return channels.ChatResult{}, err
	}
	msg := sessions.Message{ID: m.DedupKey, From: "citizen", Text: m.Text, Attachments: m.Attachments, At: h.now(), Meta: m.Meta}
	stored, dup, err := h.appendMessage(ctx, s, msg, dedupKey(m))
	if err != nil {
		return channels.ChatResult{}, err
	}
	s.mu.Lock()
	env := s.rec.EnvelopeID
	s.mu.Unlock()
	return channels.ChatResult{SessionID: s.id, Seq: stored.Seq, EnvelopeID: env, NewSession: isNew, Duplicate: dup}, nil
}

func dedupKey(m channels.InboundMessage) string {
	if m.DedupKey == "" {
		return ""
	}
	return m.Channel + ":" + m.DedupKey
}

// OpenConversation opens or returns the citizen's conversation without a message.
func (h *Hub) OpenConversation(ctx context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	s, isNew, err := h.conversationFor(ctx, m)
	if err != nil {
		return channels.ChatResult{}, err
	}
	return channels.ChatResult{SessionID: s.id, NewSession: isNew}, nil
}

func (h *Hub) conversationFor(ctx context.Context, m channels.InboundMessage) (*sess, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	open := h.open["c\x00"+m.Channel+"\x00"+m.ChannelUserID]
	if open != nil && open.state == sessions.StateClosed {
		open = nil
	}
	if open != nil && m.JoinWindow > 0 {
		open.mu.Lock()
		last := open.rec.CreatedAt
		if open.rec.LastCitizenAt != nil {
			last = *open.rec.LastCitizenAt
		}
		open.mu.Unlock()
		if h.now().Sub(last) > m.JoinWindow {
			_ = h.closeSession(ctx, open, "", "conversation_window_elapsed")
			open = nil
		}
	}
	if open != nil {
		return open, false, nil
	}
	meta := cloneMap(m.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	if m.Phone != "" {
		meta["phone"] = m.Phone
	}
	if m.Source != nil {
		meta["native_id"], meta["native_type"] = m.Source.NativeID, m.Source.NativeType
	}
	s, err := h.openSession(ctx, m.Channel, m.ChannelUserID, m.Language, m.Skills, false, meta)
	if err != nil {
		return nil, false, err
	}
	h.route(ctx)
	return s, true, nil
}
