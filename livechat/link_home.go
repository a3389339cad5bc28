package livechat

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/internal/apierr"
)

// The home's side of links (link.go): each relayed websocket is a conn
// whose socket is the link, without a reader goroutine of its own. Its
// frames wait in its inbox and are handled by a goroutine that runs only
// while there are some, so an idle relayed client costs the home its
// session and nothing more.

// linkWriteWait bounds a write on a link: a relaying node that stops
// reading loses its link, and its clients reconnect.
const linkWriteWait = 10 * time.Second

// homeLink is one relaying node's link.
type homeLink struct {
	h    *Hub
	node string
	ws   *websocket.Conn
	done chan struct{} // closed when the reader has ended

	wmu sync.Mutex // one writer at a time
	buf []byte

	mu    sync.Mutex
	conns map[uint64]*conn
}

// wsRole is the role of the hub's websocket route at path, "" if none.
func wsRole(path string) string {
	for _, r := range HTTPRoutes {
		if r.Path == path {
			return r.Role
		}
	}
	return ""
}

// ServeLink takes the link of the relaying node node; the caller has
// checked that the request comes from a node of the cluster.
func (h *Hub) ServeLink(c echo.Context, node string) error {
	up := websocket.Upgrader{ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10,
		CheckOrigin: func(*http.Request) bool { return true }, Error: UpgradeFailed(c)}
	ws, err := up.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	l := &homeLink{h: h, node: node, ws: ws, done: make(chan struct{}), conns: map[uint64]*conn{}}
	h.liveMu.Lock()
	if h.live == nil { // closed
		h.liveMu.Unlock()
		refuse(ws, CloseGoingAway, "server restarting: reconnect")
		return nil
	}
	h.links[l] = struct{}{}
	h.linkWG.Add(2)
	h.liveMu.Unlock()
	h.log.Info("livechat: link from a relaying node opened", "node", node)
	go func() {
		defer h.linkWG.Done()
		l.read()
		close(l.done)
		l.end()
	}()
	go func() { defer h.linkWG.Done(); l.ping() }()
	return nil
}

// CloseLinksNotFrom closes the links of every node not in nodes (gone
// silent: nothing else would close their sockets here) and returns how many
// websockets they carried.
func (h *Hub) CloseLinksNotFrom(nodes []string) int {
	h.liveMu.Lock()
	var gone []*homeLink
	for l := range h.links {
		if !slices.Contains(nodes, l.node) {
			gone = append(gone, l)
		}
	}
	h.liveMu.Unlock()
	n := 0
	for _, l := range gone {
		l.mu.Lock()
		n += len(l.conns)
		l.mu.Unlock()
		_ = l.ws.Close() // the reader fails and ends every websocket of the link
	}
	return n
}

// closeLinks closes every link once the hub has closed its connections
// (their close frames are on the links), and waits for their goroutines.
func (h *Hub) closeLinks() {
	h.liveMu.Lock()
	links := h.links
	h.links = map[*homeLink]struct{}{}
	h.liveMu.Unlock()
	for l := range links {
		l.wmu.Lock() // after the last close frame
		_ = l.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway, "server restarting"), time.Now().Add(time.Second))
		l.wmu.Unlock()
		_ = l.ws.Close()
	}
	h.linkWG.Wait()
}

func (l *homeLink) read() {
	h := l.h
	l.ws.SetReadLimit(h.cfg.MaxFrameBytes + 64<<10) // a frame, or an opening with its headers
	_ = l.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	l.ws.SetPongHandler(func(string) error { return l.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait)) })
	for {
		_, b, err := l.ws.ReadMessage()
		if err != nil {
			h.log.Info("livechat: link from a relaying node closed", "node", l.node, "err", err)
			return
		}
		_ = l.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
		kind, id, payload, err := parseLinkFrame(b)
		if err != nil {
			h.log.Warn("livechat: link from a relaying node dropped", "node", l.node, "err", err)
			return
		}
		switch kind {
		case linkOpen:
			l.open(id, payload)
		case linkText:
			l.mu.Lock()
			c := l.conns[id]
			l.mu.Unlock()
			if c != nil {
				h.receive(c, payload)
			}
		case linkClose:
			if c := l.forget(id); c != nil {
				h.endRelayed(c)
			}
		}
	}
}

// open admits a relayed client's websocket as the hub admits its own.
func (l *homeLink) open(id uint64, payload []byte) {
	h := l.h
	var o linkOpening
	if err := json.Unmarshal(payload, &o); err != nil {
		l.refuse(id, apierr.New(apierr.CodeBadRequest, "malformed websocket opening from the relaying node"))
		return
	}
	l.mu.Lock()
	_, taken := l.conns[id]
	l.mu.Unlock()
	if taken {
		l.refuse(id, apierr.New(apierr.CodeBadRequest, "a websocket with this id is open on the link"))
		return
	}
	role := wsRole(o.Path)
	if role == "" {
		l.refuse(id, apierr.New(apierr.CodeNotFound, "no websocket at this path"))
		return
	}
	if o.Header == nil {
		o.Header = http.Header{}
	}
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: o.Path, RawQuery: o.Query}, Host: o.Host, Header: o.Header}
	a, err := h.admitWS(r, role, o.IP, true)
	if err != nil {
		l.refuse(id, err)
		return
	}
	// Accepted first: what the hub sends from now on follows it.
	if l.send(linkAccept, id, nil) != nil {
		h.caps.release(a.ip, a.capKey, true)
		return
	}
	in := &inbox{}
	cn, code, reason := h.openConn(a, &linkSocket{l: l, id: id, in: in}, 0, in)
	if cn == nil {
		_ = l.send(linkClose, id, websocket.FormatCloseMessage(code, reason))
		return
	}
	// The link's frames for it are read after this (by this goroutine);
	// a close the hub sent meanwhile has ended it already.
	in.mu.Lock()
	if !in.ended {
		l.mu.Lock()
		l.conns[id] = cn
		l.mu.Unlock()
	}
	in.mu.Unlock()
}

func (l *homeLink) refuse(id uint64, err error) {
	b, _ := json.Marshal(refusalOf(err))
	_ = l.send(linkRefuse, id, b)
}

// forget removes a websocket from the link; nil if it was not there.
func (l *homeLink) forget(id uint64) *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.conns[id]
	delete(l.conns, id)
	return c
}

// send writes one link frame; a failed write closes the link.
func (l *homeLink) send(kind byte, id uint64, payload []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.buf = appendLinkFrame(l.buf[:0], kind, id, payload)
	_ = l.ws.SetWriteDeadline(time.Now().Add(linkWriteWait))
	err := l.ws.WriteMessage(websocket.BinaryMessage, l.buf)
	if cap(l.buf) > 64<<10 {
		l.buf = nil
	}
	if err != nil {
		_ = l.ws.Close()
	}
	return err
}

// ping keeps the link's reader on the relaying node from timing out, and
// shows the home a relaying node that stopped answering.
func (l *homeLink) ping() {
	t := time.NewTicker(l.h.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
			if l.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(linkWriteWait)) != nil {
				_ = l.ws.Close()
			}
		}
	}
}

// end lets go of every websocket of a link that is gone: their clients
// are gone for the hub (an agent's grace starts).
func (l *homeLink) end() {
	l.mu.Lock()
	conns := l.conns
	l.conns = map[uint64]*conn{}
	l.mu.Unlock()
	for _, c := range conns {
		l.h.endRelayed(c)
	}
	l.h.liveMu.Lock()
	delete(l.h.links, l)
	l.h.liveMu.Unlock()
}

// linkSocket is a relayed websocket's socket on the home.
type linkSocket struct {
	l  *homeLink
	id uint64
	in *inbox
}

func (s *linkSocket) writeText(b []byte, _ time.Duration) error { return s.l.send(linkText, s.id, b) }

// writePing is never called: the relaying node pings its client.
func (s *linkSocket) writePing(time.Duration) error { return nil }

func (s *linkSocket) writeClose(msg []byte) {
	_ = s.l.send(linkClose, s.id, msg)
	s.l.h.endRelayed(s.in.conn) // before forget: open registers it only if not ended
	s.l.forget(s.id)
}

func (s *linkSocket) hurry() {}

// inbox holds a relayed websocket's frames until they are handled, in
// order, by a goroutine that runs while there are some.
type inbox struct {
	conn *conn

	mu       sync.Mutex
	frames   [][]byte
	running  bool // a goroutine handles the frames
	ended    bool // the websocket is gone: no more frames
	finished bool // the hub has let go of the connection
	pipe     *pipeline
}

// receive queues a frame of a relayed websocket.
func (h *Hub) receive(c *conn, data []byte) {
	in := c.in
	in.mu.Lock()
	if in.ended {
		in.mu.Unlock()
		return
	}
	// As many as an agent may have in flight: a client does not run
	// that far ahead of the hub unless it floods.
	if len(in.frames) >= maxInFlight {
		in.mu.Unlock()
		c.closeWith(ClosePolicy, "too many frames at once: slow down")
		return
	}
	in.frames = append(in.frames, data)
	if !in.running {
		in.running = true
		h.conns.Add(1) // the connection is not finished, so the count is above 0
		go h.drain(c)
	}
	in.mu.Unlock()
}

// drain handles an inbox's frames until it is empty.
func (h *Hub) drain(c *conn) {
	defer h.conns.Done()
	in := c.in
	for {
		in.mu.Lock()
		if len(in.frames) == 0 {
			in.frames = nil
			in.running = false
			finish := in.ended && !in.finished
			if finish {
				in.finished = true
			}
			in.mu.Unlock()
			if finish {
				h.finishRelayed(c)
			}
			return
		}
		data := in.frames[0]
		in.frames[0] = nil
		in.frames = in.frames[1:]
		in.mu.Unlock()
		if c.role == tokens.RoleAgent {
			h.agentFrame(c, data, &in.pipe)
		} else {
			h.frame(c, data)
		}
	}
}

// endRelayed ends a relayed websocket: once the frames it sent are
// handled, the hub lets go of it.
func (h *Hub) endRelayed(c *conn) {
	in := c.in
	in.mu.Lock()
	if in.ended {
		in.mu.Unlock()
		return
	}
	in.ended = true
	finish := !in.running
	if finish {
		in.finished = true
	}
	in.mu.Unlock()
	if finish {
		// Not on the link's reader: letting go of an agent requeues and
		// routes their chats, and the link's other clients must not wait.
		h.conns.Add(1) // the connection is not finished, so the count is above 0
		go func() {
			defer h.conns.Done()
			h.finishRelayed(c)
		}()
	}
}

func (h *Hub) finishRelayed(c *conn) {
	if c.in.pipe != nil {
		c.in.pipe.wait()
	}
	h.finish(c)
	h.conns.Done() // the count track took in place of a reader
}
