package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/signlang"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/timeliness/sla"
)

// chatCore is live chat as the gateway's other components call it: the
// clocks, the sign-language channel, the messaging channels, the ticket
// replies and the surveys. One node: the hub. A cluster: the chatHome,
// which calls the hub here when this node is the home, or the home's.
type chatCore interface {
	sla.Live
	signlang.Queue
	channels.Conversations
	Deliver(ctx context.Context, sid, from, text string) error
	Survey(sid string, d livechat.SurveyData)
}

var (
	_ chatCore = (*livechat.Hub)(nil)
	_ chatCore = (*chatHome)(nil)
)

// chatCallPath is where the home takes the other nodes' calls.
const chatCallPath = "/internal/chat/call"

// chatCall is one call of chatCore made on another node.
type chatCall struct {
	Op        string                   `json:"op"`
	SessionID string                   `json:"session_id,omitempty"`
	State     string                   `json:"state,omitempty"`
	Clock     string                   `json:"clock,omitempty"`
	Due       time.Time                `json:"due,omitzero"`
	From      string                   `json:"from,omitempty"`
	Text      string                   `json:"text,omitempty"`
	Citizen   string                   `json:"citizen,omitempty"`
	Channel   string                   `json:"channel,omitempty"`
	Survey    *livechat.SurveyData     `json:"survey,omitempty"`
	Message   *channels.InboundMessage `json:"message,omitempty"`
}

// chatReply is its answer.
type chatReply struct {
	Position int                 `json:"position,omitempty"`
	Wait     time.Duration       `json:"wait,omitempty"`
	Result   channels.ChatResult `json:"result"`
	// Error is the hub's error, typed as the caller branches on it: Known
	// names one of knownChatErrors, Invalid a validation error's fields,
	// Code an apierr code.
	Error   string            `json:"error,omitempty"`
	Known   int               `json:"known,omitempty"`
	Invalid map[string]string `json:"invalid,omitempty"`
	Code    apierr.Code       `json:"code,omitempty"`
}

// knownChatErrors are the hub's errors callers branch on (Known is the
// index plus one).
var knownChatErrors = []error{livechat.ErrNoSession, livechat.ErrClosed, livechat.ErrNotYours, livechat.ErrBadFrame}

// errHomeMoving: the node called is not the home (any more).
var errHomeMoving = errors.New("gateway: the chat home moved")

// callWait is how long a call waits for a home while it moves: a home
// killed is replaced within chatHomeTTL and a third.
const callWait = 2 * chatHomeTTL

// call runs c on the home: here if this node is the home, else over HTTP,
// waiting up to callWait (and ctx) for a home while it moves.
func (ch *chatHome) call(ctx context.Context, c chatCall) (chatReply, error) {
	ctx, cancel := context.WithTimeout(ctx, callWait)
	defer cancel()
	for {
		r, err := ch.callOnce(ctx, c)
		if !errors.Is(err, errNoChatHome) && !errors.Is(err, errHomeMoving) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, err
		case <-time.After(chatHomeTTL / 12):
		}
	}
}

func (ch *chatHome) callOnce(ctx context.Context, c chatCall) (chatReply, error) {
	if h := ch.local.Load(); h != nil {
		return runChatCall(ctx, h, c), nil
	}
	addr, err := ch.home()
	if err != nil {
		return chatReply{}, err
	}
	body, _ := json.Marshal(c)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+chatCallPath, bytes.NewReader(body))
	if err != nil {
		return chatReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	ch.peerHeaders(req.Header, "")
	resp, err := ch.client.Do(req)
	if opErr, ok := errors.AsType[*net.OpError](err); ok && opErr.Op == "dial" {
		// The home died and its lease has not run out yet: the call did
		// not reach it, so it is made again once another node is the home.
		return chatReply{}, fmt.Errorf("live chat call %s: %w: %w", c.Op, errHomeMoving, err)
	}
	if err != nil {
		return chatReply{}, fmt.Errorf("gateway: live chat call %s: %w", c.Op, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		return chatReply{}, fmt.Errorf("live chat call %s: %w", c.Op, errHomeMoving)
	default:
		return chatReply{}, fmt.Errorf("gateway: live chat call %s: the home answered %d: %s", c.Op, resp.StatusCode, b)
	}
	var r chatReply
	if err := json.Unmarshal(b, &r); err != nil {
		return chatReply{}, fmt.Errorf("gateway: live chat call %s: %w", c.Op, err)
	}
	return r, nil
}

// serveCall takes another node's call (the home's side of call).
func (ch *chatHome) serveCall(c echo.Context) error {
	if !ch.fromPeer(c.Request()) {
		return apierr.New(apierr.CodeUnauthorized, "for the nodes of the cluster only")
	}
	h := ch.local.Load()
	if h == nil {
		return unavailable(errNoChatHome)
	}
	var call chatCall
	if err := json.NewDecoder(io.LimitReader(c.Request().Body, 1<<20)).Decode(&call); err != nil {
		return apierr.Wrap(apierr.CodeBadRequest, "bad live chat call", err)
	}
	return c.JSON(http.StatusOK, runChatCall(c.Request().Context(), h, call))
}

func runChatCall(ctx context.Context, h *livechat.Hub, c chatCall) chatReply {
	var r chatReply
	var err error
	switch c.Op {
	case "alert":
		h.Alert(c.SessionID, c.State, c.Clock, c.Due)
	case "escalate":
		h.Escalate(ctx, c.SessionID)
	case "video_queue":
		r.Position, r.Wait = h.VideoQueue(c.Citizen, c.Channel)
	case "deliver":
		err = h.Deliver(ctx, c.SessionID, c.From, c.Text)
	case "survey":
		if c.Survey != nil {
			h.Survey(c.SessionID, *c.Survey)
		}
	case "citizen_message", "open_conversation":
		if c.Message == nil {
			err = livechat.ErrBadFrame
			break
		}
		if c.Op == "citizen_message" {
			r.Result, err = h.CitizenMessage(ctx, *c.Message)
		} else {
			r.Result, err = h.OpenConversation(ctx, *c.Message)
		}
	default:
		err = fmt.Errorf("unknown live chat call %q", c.Op)
	}
	r.setErr(err)
	return r
}

// setErr puts the hub's error into the reply, typed for err.
func (r *chatReply) setErr(err error) {
	if err == nil {
		return
	}
	r.Error = err.Error()
	for i, k := range knownChatErrors {
		if errors.Is(err, k) {
			r.Known = i + 1
		}
	}
	if ve, ok := errors.AsType[*normalize.ValidationError](err); ok {
		r.Invalid = ve.Fields
	}
	if ae, ok := errors.AsType[*apierr.Error](err); ok {
		r.Code = ae.Code
	}
}

// err is the hub's error a reply carries, typed as it was.
func (r chatReply) err() error {
	switch {
	case r.Known > 0 && r.Known <= len(knownChatErrors):
		return fmt.Errorf("%w (on the chat home: %s)", knownChatErrors[r.Known-1], r.Error)
	case r.Invalid != nil:
		return &normalize.ValidationError{Fields: r.Invalid}
	case r.Code != "":
		return apierr.New(r.Code, r.Error)
	case r.Error != "":
		return errors.New(r.Error)
	}
	return nil
}

// The chatCore calls. Those without an answer (alerts, escalations,
// surveys) are made later by one worker, callLater: their callers are the
// clocks' single goroutine and the follow-up's, which must not wait on the
// network. One that fails after waiting for a home is logged; an alert or a
// survey frame lost so is seen again on the console's next look (the
// session's record, the request's status).

func (ch *chatHome) Alert(sid, state, clock string, due time.Time) {
	ch.enqueue(chatCall{Op: "alert", SessionID: sid, State: state, Clock: clock, Due: due})
}

func (ch *chatHome) Escalate(_ context.Context, sid string) {
	ch.enqueue(chatCall{Op: "escalate", SessionID: sid})
}

func (ch *chatHome) Survey(sid string, d livechat.SurveyData) {
	ch.enqueue(chatCall{Op: "survey", SessionID: sid, Survey: &d})
}

func (ch *chatHome) enqueue(c chatCall) {
	select {
	case ch.later <- c:
	default:
		ch.g.log.Warn("live chat: too many calls waiting for the chat home; dropped", "op", c.Op, "session", c.SessionID)
	}
}

// callLater makes the calls without an answer, in order, until ctx ends.
func (ch *chatHome) callLater(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-ch.later:
			ch.logFailed(c.Op, ch.callErr(ctx, c))
		}
	}
}

// SessionInfo reads the session's record from the store, where the home
// keeps it as it stands after each change (and a clock asks even while
// the home moves).
func (ch *chatHome) SessionInfo(sid string) (sessions.Session, bool) {
	var s *sessions.Session
	err := ch.g.db.View(func(tx *store.Tx) error {
		var err error
		s, err = sessions.Get(tx, sid)
		return err
	})
	if err != nil || s == nil {
		return sessions.Session{}, false
	}
	return *s, true
}

func (ch *chatHome) VideoQueue(citizen, channel string) (int, time.Duration) {
	r, err := ch.call(context.Background(), chatCall{Op: "video_queue", Citizen: citizen, Channel: channel})
	ch.logFailed("video_queue", err)
	return r.Position, r.Wait
}

func (ch *chatHome) Deliver(ctx context.Context, sid, from, text string) error {
	return ch.callErr(ctx, chatCall{Op: "deliver", SessionID: sid, From: from, Text: text})
}

func (ch *chatHome) CitizenMessage(ctx context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	r, err := ch.call(ctx, chatCall{Op: "citizen_message", Message: &m})
	if err != nil {
		return channels.ChatResult{}, err
	}
	return r.Result, r.err()
}

func (ch *chatHome) OpenConversation(ctx context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	r, err := ch.call(ctx, chatCall{Op: "open_conversation", Message: &m})
	if err != nil {
		return channels.ChatResult{}, err
	}
	return r.Result, r.err()
}

func (ch *chatHome) callErr(ctx context.Context, c chatCall) error {
	r, err := ch.call(ctx, c)
	if err != nil {
		return err
	}
	return r.err()
}

func (ch *chatHome) logFailed(op string, err error) {
	if err != nil {
		ch.g.log.Warn("live chat: a call to the chat home failed", "op", op, "err", err)
	}
}
