package livechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// pendingSession is a web or app citizen's chat before their first message:
// the id they were given and what their hello asked for.
type pendingSession struct {
	id       string
	channel  string
	language string
	skills   []string
	conns    map[*conn]bool // the citizen's tabs that said hello with it
}

// citizenHello rejoins the citizen's open session or, when they have none,
// gives them the id of the session their first message will open. A video
// call opens at once: it may carry no message.
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
	for _, sk := range d.Skills { // they become queue names on the wall
		if sk == "" || len(sk) > 64 {
			return fmt.Errorf("%w: a skill is 1 to 64 bytes", ErrBadFrame)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var s *sess
	if f.SessionID != "" {
		var err error
		s, err = h.get(f.SessionID)
		if err == nil && !s.ownedBy(c) {
			return ErrNotYours
		}
		if err != nil { // not opened yet, or gone with a restart: start afresh
			s = nil
		}
	}
	if s == nil {
		// One open conversation per citizen and channel (and one video call).
		if o := h.open[connOwnerKey(c, d.Video)]; o != nil && o.state != sessions.StateClosed {
			s = o
		}
	}
	skills := slices.Clone(d.Skills)
	if d.Language != "" && !strings.HasPrefix(d.Language, "zh") {
		skills = append(skills, "lang:"+d.Language)
	}
	if s == nil && !d.Video {
		return h.pendingWelcome(c, d.Language, skills)
	}
	if s == nil {
		skills = append(skills, SkillSignLanguage)
		if !h.videoGate(c, f) { // outside opening hours: told so by an error frame
			return nil
		}
		ch, meta := videoOpenArgs(c, d.Video)
		var err error
		s, err = h.openSession(ctx, normalize.NewID(), ch, c.sub, d.Language, skills, d.Video, meta)
		if err != nil {
			return err
		}
	}
	last := int64(0)
	if f.LastSeq != nil {
		last = *f.LastSeq
	}
	s.mu.Lock()
	rec := *s.rec
	s.mu.Unlock()
	welcome := h.position(s).data(s.state)
	welcome["session_id"], welcome["last_seq"], welcome["agent_id"] = s.id, rec.LastSeq, s.agentID
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

// pendingWelcome tells a citizen without a session the id their first
// message will open, and whether anyone on duty could answer. Caller holds
// h.mu.
func (h *Hub) pendingWelcome(c *conn, language string, skills []string) error {
	key := connOwnerKey(c, false)
	p := h.pending[key]
	if p == nil {
		p = &pendingSession{id: normalize.NewID()}
		h.pending[key] = p
	}
	p.channel, p.language, p.skills = c.ch, language, skills
	if p.conns == nil {
		p.conns = map[*conn]bool{}
	}
	p.conns[c] = true
	req, _ := h.splitSkills(skills)
	welcome := h.estimate(req, false, 0).data("new")
	welcome["session_id"], welcome["last_seq"] = p.id, 0
	c.enqueue(frameBytes(Frame{Type: TypeWelcome, SessionID: p.id, At: h.now(), Data: mustJSON(welcome)}))
	return nil
}

// openPending opens the session a citizen was given at hello, for their
// first message, and subscribes c to it.
func (h *Hub) openPending(ctx context.Context, c *conn, sid string) (*sess, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := connOwnerKey(c, false)
	p := h.pending[key]
	if p == nil || p.id != sid || sid == "" {
		return nil, ErrNoSession
	}
	if o := h.open[key]; o != nil && o.state != sessions.StateClosed { // another tab opened one meanwhile
		return nil, ErrNoSession
	}
	s, err := h.openSession(ctx, p.id, c.ch, c.sub, p.language, p.skills, false, nil)
	if err != nil {
		return nil, err
	}
	delete(h.pending, key)
	s.opening = true
	p.conns[c] = true
	s.mu.Lock()
	for tab := range p.conns { // every tab of the citizen follows the chat
		tab.sessions[s.id] = true
		s.subs[tab] = true
	}
	s.mu.Unlock()
	return s, nil
}

// forgetPending drops a closed connection from the pending session it said
// hello with, and the pending session once none of its tabs is left.
// Caller holds h.mu.
func (h *Hub) forgetPending(c *conn) {
	key := connOwnerKey(c, false)
	if p := h.pending[key]; p != nil && p.conns[c] {
		delete(p.conns, c)
		if len(p.conns) == 0 {
			delete(h.pending, key)
		}
	}
}

// leaveMessage ends a waiting chat at the citizen's wish: what they wrote
// stays an ordinary request, with its envelope and its 24-hour clock.
func (h *Hub) leaveMessage(ctx context.Context, c *conn, f Frame) error {
	s, err := h.citizenSession(c, f.SessionID)
	if errors.Is(err, ErrNoSession) && h.isPending(c, f.SessionID) {
		return ErrNothingWritten
	}
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	env := s.rec.EnvelopeID
	s.mu.Unlock()
	switch {
	case s.state == sessions.StateClosed:
		return ErrClosed
	case s.state == sessions.StateActive:
		return fmt.Errorf("%w: an agent is already answering", ErrBadFrame)
	case env == "":
		return ErrNothingWritten
	}
	if err := h.closeSession(ctx, s, "", "left_message"); err != nil {
		return err
	}
	h.log.Info("livechat: request left as a message", "session", s.id, "envelope", env, "channel", s.channel)
	h.route(ctx)
	return nil
}

// citizenMessage stores a chat message from the citizen and acknowledges it
// by the echo that carries its seq and the client's id.
func (h *Hub) citizenMessage(ctx context.Context, c *conn, f Frame) error {
	m, err := decodeMessage(f)
	if err != nil {
		return err
	}
	s, err := h.citizenSession(c, f.SessionID)
	opened := false
	if errors.Is(err, ErrNoSession) { // the first message opens the session
		s, err = h.openPending(ctx, c, f.SessionID)
		opened = err == nil
	}
	if err != nil {
		return err
	}
	m.From = "citizen"
	m.At = h.now()
	_, _, err = h.appendMessage(ctx, s, m, "")
	if opened {
		h.mu.Lock()
		s.opening = false
		if err != nil { // nothing was written: no empty chat is left for an agent
			_ = h.closeSession(ctx, s, "", "first_message_failed")
		}
		h.mu.Unlock()
	}
	if err != nil {
		return err
	}
	var found matched
	if !opened { // a first message was triaged with the envelope it made
		found = h.matchEmergency(m.Text)
	}
	h.mu.Lock()
	h.adoptSkills(s)
	notice := h.noteEmergency(ctx, s, found)
	h.mu.Unlock()
	if notice != "" {
		h.tellEmergency(ctx, s.id, notice)
	}
	if opened { // offered now, with the message as its preview
		h.mu.Lock()
		h.route(ctx)
		q, state := h.position(s), s.state
		s.lastQueue = q
		h.mu.Unlock()
		if state != sessions.StateActive {
			s.mu.Lock()
			s.toRole("citizen", frameBytes(Frame{Type: TypeQueue, SessionID: s.id, At: h.now(), Data: mustJSON(q.data(state))}))
			s.mu.Unlock()
		}
	}
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
		if isNew {
			h.mu.Lock()
			s.opening = false
			h.route(ctx)
			h.mu.Unlock()
		}
		return channels.ChatResult{}, err
	}
	var found matched
	if !isNew { // a first message was triaged with the envelope it made
		found = h.matchEmergency(m.Text)
	}
	h.mu.Lock()
	h.adoptSkills(s)
	notice := ""
	if !dup {
		notice = h.noteEmergency(ctx, s, found)
	}
	if isNew { // offered once the message is in, with it as the preview
		s.opening = false
		h.route(ctx)
	}
	h.mu.Unlock()
	if notice != "" {
		h.tellEmergency(ctx, s.id, notice)
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

// OpenConversation is a citizen entering the chat without writing
// (WeChat's user_enter_tempsession): it returns their open conversation, if
// any, and opens none: a conversation, and its offer to an agent, start
// with the citizen's first message.
func (h *Hub) OpenConversation(_ context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o := h.open["c\x00"+m.Channel+"\x00"+m.ChannelUserID]; o != nil && o.state != sessions.StateClosed {
		return channels.ChatResult{SessionID: o.id}, nil
	}
	return channels.ChatResult{}, nil
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
	s, err := h.openSession(ctx, normalize.NewID(), m.Channel, m.ChannelUserID, m.Language, m.Skills, false, meta)
	if err != nil {
		return nil, false, err
	}
	s.opening = true // routed once its first message is stored
	return s, true, nil
}
