package livechat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/sessions"
)

// HTTPRoute is one of the hub's HTTP routes. Serve is written against any hub,
// so that a cluster node can serve a route with whichever hub is the
// cluster's at the time, or relay it to the node that has it.
type HTTPRoute struct {
	Method, Path string
	// Role is the token role of a websocket route ("": not a websocket).
	Role  string
	Serve func(h *Hub, c echo.Context) error
}

// WebSocket reports whether the route upgrades to a websocket (relayed to
// the chat home over a link).
func (r HTTPRoute) WebSocket() bool { return r.Role != "" }

// HTTPRoutes are the hub's HTTP routes: both websockets and the console's reads.
var HTTPRoutes = []HTTPRoute{
	{http.MethodGet, "/v1/ws/citizen", tokens.RoleCitizen, func(h *Hub, c echo.Context) error { return h.serveWS(c, tokens.RoleCitizen) }},
	{http.MethodGet, "/v1/ws/agent", tokens.RoleAgent, func(h *Hub, c echo.Context) error { return h.serveWS(c, tokens.RoleAgent) }},
	{http.MethodGet, "/v1/agents/wall", "", (*Hub).serveWall},
	{http.MethodGet, "/v1/replies", "", (*Hub).serveReplies},
	{http.MethodPut, "/v1/replies", "", (*Hub).putReplies},
	{http.MethodGet, "/v1/agents/media", "", (*Hub).serveMedia},
	{http.MethodGet, "/v1/agents/chats", "", (*Hub).serveChats},
	{http.MethodGet, "/v1/agents/chats/:session_id", "", (*Hub).serveChat},
}

// Mount registers the hub's routes.
func (h *Hub) Mount(e *echo.Echo) {
	for _, r := range HTTPRoutes {
		e.Add(r.Method, r.Path, func(c echo.Context) error { return r.Serve(h, c) })
	}
}

// originOK allows requests without Origin (non-browser clients carry a
// token), same-origin requests, and the configured origins.
func (h *Hub) originOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.ContainsFunc(h.cfg.AllowedOrigins, func(a string) bool { return strings.EqualFold(strings.TrimSuffix(a, "/"), o) })
}

// admission is a websocket the hub takes: its slot under the caps is taken.
type admission struct {
	role, ip, capKey string
	relayed          bool // by another node (link_home.go)
	claims           tokens.Claims
	// refusal, when not "": the token is missing or bad, told after the
	// upgrade with CloseAuth.
	refusal string
}

// admitWS checks a websocket's request before the upgrade and takes its slot
// under the caps; an error is the answer to give instead of upgrading.
func (h *Hub) admitWS(r *http.Request, role, ip string, relayed bool) (*admission, error) {
	if !h.originOK(r) {
		return nil, apierr.New(apierr.CodeForbidden, "origin not allowed")
	}
	tok := tokens.FromRequest(r.Header.Get("Authorization"), r.URL.Query().Get("token"), "")
	if tok == "" && role == tokens.RoleCitizen {
		if ck, err := r.Cookie("citizen_token"); err == nil {
			tok = ck.Value
		}
	}
	claims, err := h.d.Tokens.Verify(tok, role)
	if err == nil && role == tokens.RoleAgent {
		h.mu.Lock()
		if h.agents[claims.Sub] == nil {
			err = tokens.ErrInvalid
		}
		h.mu.Unlock()
	}
	// Counted before the upgrade, so that a client over a cap can read
	// why (limits_conn.go); a bad token is told after it, as before.
	a := &admission{role: role, ip: ip, claims: claims, relayed: relayed}
	if err == nil {
		a.capKey = tokenKey(role, claims.Sub)
	} else {
		a.refusal = "authentication failed: log in again"
		if tok == "" {
			a.refusal = "authentication required: pass a token"
		}
	}
	if why := h.caps.acquire(ip, a.capKey, relayed); why != "" {
		return nil, h.refuseConn(why, role, claims.Sub, ip)
	}
	return a, nil
}

// openConn makes the connection of an admitted websocket and registers it;
// nil (the slot given back) if the client is to be closed instead with code
// and reason. A relayed websocket comes with its inbox.
func (h *Hub) openConn(a *admission, ws socket, ping time.Duration, in *inbox) (cn *conn, code int, reason string) {
	if a.refusal != "" {
		h.caps.release(a.ip, a.capKey, a.relayed)
		return nil, CloseAuth, a.refusal
	}
	cn = newConn(ws, a.role, a.claims.Sub, h.cfg.SendQueue, &h.conns, ping, 10*time.Second)
	cn.ch = a.claims.Channel
	if cn.ch == "" {
		cn.ch = "web"
	}
	cn.ip, cn.cap = a.ip, a.capKey
	if in != nil {
		cn.in, in.conn = in, cn
	}
	if !h.track(cn) { // the hub closed meanwhile: no goroutine may start now
		h.caps.release(a.ip, a.capKey, a.relayed)
		return nil, CloseGoingAway, "server restarting: reconnect"
	}
	cn.start()
	h.attach(cn)
	return cn, 0, ""
}

func (h *Hub) serveWS(c echo.Context, role string) error {
	r := c.Request()
	a, err := h.admitWS(r, role, h.clientIP(r), false)
	if err != nil {
		return err
	}
	up := websocket.Upgrader{ReadBufferSize: clientReadBuffer, WriteBufferSize: 1024, WriteBufferPool: writeBuffers,
		CheckOrigin: func(*http.Request) bool { return true },
		// A failed handshake is answered with the contract's error body
		// through the one error handler, not the upgrader's plain text.
		Error: UpgradeFailed(c)}
	ws, upErr := up.Upgrade(c.Response(), r, nil)
	if upErr != nil {
		h.caps.release(a.ip, a.capKey, a.relayed)
		return nil // the upgrader has answered
	}
	cn, code, reason := h.openConn(a, wsSocket{ws}, h.cfg.PingInterval, nil)
	if cn == nil {
		refuse(ws, code, reason)
		return nil
	}
	// The handler returns so that net/http releases its per-connection
	// buffers and goroutine: the hub owns the reader (counted by track)
	// and the writer.
	go func() {
		defer h.conns.Done()
		h.readLoop(cn, ws)
		h.finish(cn)
	}()
	return nil
}

// UpgradeFailed is a websocket.Upgrader's Error for c: a failed handshake
// is answered with the contract's error body through the one error
// handler, not the upgrader's plain text.
func UpgradeFailed(c echo.Context) func(http.ResponseWriter, *http.Request, int, error) {
	return func(_ http.ResponseWriter, _ *http.Request, status int, reason error) {
		c.Error(apierr.Wrap(upgradeErrorCode(status), "this is a websocket endpoint: "+reason.Error(), reason))
	}
}

// upgradeErrorCode maps the upgrader's handshake statuses (400, 403, 405)
// onto the contract's codes.
func upgradeErrorCode(status int) apierr.Code {
	switch status {
	case http.StatusMethodNotAllowed:
		return apierr.CodeMethodNotAllow
	case http.StatusForbidden:
		return apierr.CodeForbidden
	}
	return apierr.CodeBadRequest
}

// refuse closes a websocket the hub does not take, saying why.
func refuse(ws *websocket.Conn, code int, reason string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	_ = ws.Close()
}

// track registers a new connection so that Close reaches it even before it
// joins a session, and counts its reader; false once the hub is closing.
func (h *Hub) track(c *conn) bool {
	h.liveMu.Lock()
	defer h.liveMu.Unlock()
	if h.live == nil {
		return false
	}
	h.live[c] = struct{}{}
	h.conns.Add(1)
	return true
}

func (h *Hub) untrack(c *conn) {
	h.liveMu.Lock()
	delete(h.live, c)
	h.liveMu.Unlock()
	h.caps.release(c.ip, c.cap, c.in != nil)
}

// writeBuffers are shared by connections while they are idle.
var writeBuffers = &sync.Pool{}

func (h *Hub) attach(c *conn) {
	if c.role != tokens.RoleAgent {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[c.sub]
	if !a.connected() && a.presence == "offline" {
		h.setPresence(a, h.cfg.InitialPresence, "connected")
	}
	a.conns[c] = true
	if a.graceEnd != nil {
		a.graceEnd()
		a.graceEnd = nil
	}
}

// detach unsubscribes a closed connection; an agent's last connection starts
// their grace period.
func (h *Hub) detach(c *conn) {
	c.closeWith(websocket.CloseNormalClosure, "")
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.role == tokens.RoleCitizen {
		h.forgetPending(c)
	}
	for sid := range c.sessions {
		if s := h.sessions[sid]; s != nil {
			s.unsubscribe(c)
			if c.role == tokens.RoleCitizen && !h.closed {
				h.abandonLater(s)
			}
		}
	}
	if c.role == tokens.RoleAgent {
		a := h.agents[c.sub]
		delete(a.conns, c)
		if !a.connected() && !h.closed {
			// Offers cannot be answered by nobody: give them to someone else now.
			for sid := range a.offers {
				if s := h.sessions[sid]; s != nil {
					h.requeue(context.Background(), s, a.spec.ID, "agent_disconnected")
				}
			}
			if len(a.active) > 0 {
				h.startGrace(a)
			}
			h.route(context.Background())
		}
	}
}

// finish lets go of a connection whose reader has ended.
func (h *Hub) finish(c *conn) {
	h.detach(c)
	h.untrack(c)
}

func (h *Hub) readLoop(c *conn, ws *websocket.Conn) {
	ws.SetReadLimit(h.cfg.MaxFrameBytes)
	_ = ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait)) })
	var handled chan struct{}
	var pipe *pipeline
	defer func() {
		if pipe != nil {
			pipe.wait()
		}
	}()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.closeWith(CloseTooBig, "frame too large")
			}
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
		if c.role == tokens.RoleAgent {
			h.agentFrame(c, data, &pipe)
			continue
		}
		// A citizen's frame is handled on a goroutine of its own: decoding
		// and handling need a deep stack, and the reader's would keep that
		// size for as long as the socket stays open, idle or not.
		if handled == nil {
			handled = make(chan struct{})
		}
		go func() {
			h.frame(c, data)
			handled <- struct{}{}
		}()
		<-handled
	}
}

// agentFrame hands an agent's frame to the connection's pipeline: an agent
// has few sockets and many sessions on each.
func (h *Hub) agentFrame(c *conn, data []byte, pipe **pipeline) {
	if *pipe == nil {
		*pipe = newPipeline(h, c)
	}
	if f, ok := decodeFrame(c, data); ok {
		(*pipe).submit(f)
	}
}

// frame decodes and handles one frame from c.
func (h *Hub) frame(c *conn, data []byte) {
	if f, ok := decodeFrame(c, data); ok {
		h.run(c, f)
	}
}

// decodeFrame answers a frame that is not one JSON object with a type.
func decodeFrame(c *conn, data []byte) (Frame, bool) {
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil || f.Type == "" {
		c.enqueue(errorFrame(f, "bad_frame", "a frame is one JSON object with a type"))
		return f, false
	}
	return f, true
}

// run handles one frame and answers an error with an error frame.
func (h *Hub) run(c *conn, f Frame) {
	if !h.admit(c, f) { // over the session's rate limit (limits_frames.go)
		return
	}
	if err := h.handle(context.Background(), c, f); err != nil {
		code := errCode(err)
		c.enqueue(errorFrame(f, code, err.Error()))
		if code == "forbidden" || code == "not_found" { // probing others' sessions
			h.refused(c)
		}
	}
}

func errCode(err error) string {
	switch {
	case errors.Is(err, ErrNotYours), errors.Is(err, ErrNotAssigned):
		return "forbidden"
	case errors.Is(err, ErrNoSession):
		return "not_found"
	case errors.Is(err, ErrClosed):
		return "session_closed"
	case errors.Is(err, ErrBadFrame):
		return "bad_frame"
	case errors.Is(err, ErrAgentUnavailable):
		return "agent_unavailable"
	case errors.Is(err, ErrAgentFull):
		return "agent_full"
	case errors.Is(err, ErrNotSupervisor):
		return "forbidden"
	case errors.Is(err, ErrNothingWritten):
		return "nothing_written"
	}
	return "internal"
}

func errorFrame(f Frame, code, msg string) []byte {
	return frameBytes(Frame{Type: TypeError, ID: f.ID, SessionID: f.SessionID, Data: mustJSON(ErrorData{Code: code, Message: msg})})
}

func (h *Hub) handle(ctx context.Context, c *conn, f Frame) error {
	if c.role == tokens.RoleCitizen {
		switch f.Type {
		case TypeHello:
			return h.citizenHello(ctx, c, f)
		case TypeResume:
			return h.resume(c, f)
		case TypeMessage:
			return h.citizenMessage(ctx, c, f)
		case TypeLeaveMessage:
			return h.leaveMessage(ctx, c, f)
		case TypeTyping, TypeRead:
			return h.relay(c, f, tokens.RoleAgent)
		case TypeRTCOffer, TypeRTCAns, TypeRTCICE:
			return h.relay(c, f, tokens.RoleAgent)
		case TypeClose:
			s, err := h.citizenSession(c, f.SessionID)
			if err != nil {
				return err
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			err = h.closeSession(ctx, s, "", "closed_by_citizen")
			h.route(ctx)
			return err
		}
		return ErrBadFrame
	}
	switch f.Type {
	case TypeHello:
		return h.agentHello(ctx, c, f)
	case TypeResume:
		return h.resume(c, f)
	case TypePresence:
		return h.agentPresence(ctx, c, f)
	case TypeAccept, TypeDecline:
		return h.agentAcceptDecline(ctx, c, f)
	case TypeMessage:
		return h.agentMessage(ctx, c, f)
	case TypeTyping, TypeRead, TypeRTCOffer, TypeRTCAns, TypeRTCICE:
		return h.relay(c, f, tokens.RoleCitizen)
	case TypeTransfer:
		return h.agentTransfer(ctx, c, f)
	case TypeTakeover:
		return h.takeOver(ctx, c, f)
	case TypeClose:
		return h.agentClose(ctx, c, f)
	case TypeNote:
		return h.agentNote(ctx, c, f)
	}
	return ErrBadFrame
}

// resume replays a session after last_seq to a reconnecting client.
func (h *Hub) resume(c *conn, f Frame) error {
	var s *sess
	var err error
	if c.role == tokens.RoleCitizen {
		s, err = h.citizenSession(c, f.SessionID)
		if errors.Is(err, ErrNoSession) && h.isPending(c, f.SessionID) {
			return nil // nothing written yet: nothing to replay
		}
	} else {
		s, err = h.agentSession(c.sub, f.SessionID)
	}
	if err != nil {
		return err
	}
	last := int64(0)
	if f.LastSeq != nil {
		last = *f.LastSeq
	} else {
		var d struct {
			LastSeq int64 `json:"last_seq"`
		}
		_ = json.Unmarshal(f.Data, &d)
		last = d.LastSeq
	}
	h.mu.Lock()
	c.sessions[s.id] = true
	h.mu.Unlock()
	s.mu.Lock()
	already := s.subs[c]
	s.mu.Unlock()
	if already {
		s.unsubscribe(c)
	}
	return h.subscribe(s, c, last)
}

// abandonLater closes a session that nobody answered once its citizen has
// been gone for AbandonAfter: a web visitor who closed the page is not
// waiting any more. Conversations on messaging channels (WeChat, SMS) have no
// socket and are never abandoned this way. Caller holds h.mu.
func (h *Hub) abandonLater(s *sess) {
	if s.state != sessions.StateQueued || h.cfg.AbandonAfter <= 0 {
		return
	}
	sid := s.id
	if s.abandonEnd != nil { // the wait starts from this departure, not an earlier one
		s.abandonEnd()
	}
	s.abandonEnd = h.clock.AfterFunc(h.cfg.AbandonAfter, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		s := h.sessions[sid]
		if s == nil || s.state != sessions.StateQueued || h.closed {
			return
		}
		s.abandonEnd = nil
		s.mu.Lock()
		present := false
		for c := range s.subs {
			present = present || c.role == tokens.RoleCitizen
		}
		s.mu.Unlock()
		if !present {
			_ = h.closeSession(context.Background(), s, "", "abandoned")
		}
	}).Stop
}
