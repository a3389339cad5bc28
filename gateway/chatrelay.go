package gateway

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/livechat"
)

// A node that is not the chat home relays its clients to the home. A
// websocket is relayed frame by frame, not as a byte tunnel, so that this
// node can close it with 1001 when it shuts down (the client reconnects
// through the balancer and resumes by last_seq) and the home's close codes
// and pings reach the client as they are.

const relayWriteWait = 10 * time.Second

var relayBuffers = &sync.Pool{}

// relaySet is the websockets this node relays, each with the home it
// relays to.
type relaySet struct {
	mu     sync.Mutex
	conns  map[*websocket.Conn]string // client → the home's address
	closed bool
	pumps  sync.WaitGroup
}

func (s *relaySet) add(c *websocket.Conn, home string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[*websocket.Conn]string{}
	}
	s.conns[c] = home
	s.pumps.Add(1)
	return true
}

func (s *relaySet) remove(c *websocket.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.pumps.Done()
}

// closeAll tells every relayed client to reconnect (this node goes away).
func (s *relaySet) closeAll() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.closeNotTo("")
}

// closeNotTo tells the clients relayed to another home than addr to
// reconnect ("": every client), and returns how many.
func (s *relaySet) closeNotTo(addr string) int {
	s.mu.Lock()
	var stale []*websocket.Conn
	for c, home := range s.conns {
		if home != addr {
			stale = append(stale, c)
		}
	}
	s.mu.Unlock()
	for _, c := range stale {
		_ = c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(livechat.CloseGoingAway, "server restarting: reconnect and resume"), time.Now().Add(time.Second))
		_ = c.Close() // its pumps end and remove it
	}
	return len(stale)
}

// wait waits for every relay's pumps to return.
func (s *relaySet) wait() { s.pumps.Wait() }

// relayWS connects the client's websocket to the same route on the home.
func (ch *chatHome) relayWS(c echo.Context, addr string) error {
	r := c.Request()
	u := url.URL{Scheme: "ws", Host: addr, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	hdr := http.Header{}
	for _, k := range []string{"Authorization", "Cookie", "Origin", "User-Agent"} {
		if v := r.Header.Values(k); len(v) > 0 {
			hdr[k] = v
		}
	}
	hdr.Set("Host", r.Host) // the home checks Origin against the host the client used
	ch.peerHeaders(hdr, ch.g.clientIP(r))
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: relayBuffers}
	home, resp, err := d.DialContext(r.Context(), u.String(), hdr)
	if err != nil {
		if resp != nil { // the home answered without upgrading: pass its answer on
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			for _, k := range []string{"Content-Type", "Retry-After"} {
				if v := resp.Header.Get(k); v != "" {
					c.Response().Header().Set(k, v)
				}
			}
			return c.Blob(resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		return unavailable(err)
	}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: relayBuffers,
		CheckOrigin: func(*http.Request) bool { return true }, // the home checked it
		Error:       livechat.UpgradeFailed(c)}
	client, err := up.Upgrade(c.Response(), r, nil)
	if err != nil {
		_ = home.Close()
		return nil // the upgrader has answered
	}
	if !ch.relays.add(client, addr) {
		_ = client.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(livechat.CloseGoingAway, "server restarting: reconnect"), time.Now().Add(time.Second))
		_ = client.Close()
		_ = home.Close()
		return nil
	}
	client.SetReadLimit(ch.g.cfg.LiveChat.MaxFrameBytes)
	// The home's pings reach the client and the client's pongs the home,
	// so the home still sees a client that stopped answering; a home that
	// stopped pinging is gone (watch closes its relays sooner, once
	// another node is the home).
	alive := func() { _ = home.SetReadDeadline(time.Now().Add(ch.g.cfg.LiveChat.PongWait)) }
	alive()
	home.SetPingHandler(func(data string) error {
		alive()
		return client.WriteControl(websocket.PingMessage, []byte(data), time.Now().Add(relayWriteWait))
	})
	client.SetPongHandler(func(data string) error {
		return home.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(relayWriteWait))
	})
	go func() {
		defer ch.relays.remove(client)
		done := make(chan struct{})
		go func() { defer close(done); pump(home, client, func() {}) }()
		pump(client, home, alive)
		<-done
	}()
	return nil
}

// pump copies messages from src to dst until src ends, then passes on
// src's close (its code and reason) and closes both. read is called after
// each message read.
func pump(dst, src *websocket.Conn, read func()) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	for {
		typ, data, err := src.ReadMessage()
		read()
		if err != nil {
			code, reason := websocket.CloseAbnormalClosure, ""
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Text
			}
			if code == websocket.CloseAbnormalClosure || code == websocket.CloseNoStatusReceived {
				code, reason = livechat.CloseGoingAway, "connection to the server lost: reconnect and resume"
			}
			_ = dst.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
			return
		}
		_ = dst.SetWriteDeadline(time.Now().Add(relayWriteWait))
		if err := dst.WriteMessage(typ, data); err != nil {
			return
		}
	}
}

// proxy relays a REST request to the home.
func (ch *chatHome) proxy(c echo.Context, addr string) error {
	var failed error
	ip := ch.g.clientIP(c.Request())
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: addr})
			pr.Out.Host = pr.In.Host
			ch.peerHeaders(pr.Out.Header, ip)
		},
		Transport:    ch.transport,
		ErrorLog:     slog.NewLogLogger(ch.g.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(_ http.ResponseWriter, _ *http.Request, err error) { failed = err },
	}
	p.ServeHTTP(c.Response(), c.Request())
	if failed != nil && !c.Response().Committed {
		return unavailable(failed)
	}
	return nil
}

// relayedSet is the home's side of the websockets other nodes relay to it,
// by relaying node.
type relayedSet struct {
	mu    sync.Mutex
	conns map[*relayedConn]string // → the relaying node
}

// track makes the hijacking of c's connection (the hub's websocket
// upgrade) register it as relayed by node.
func (s *relayedSet) track(c echo.Context, node string) {
	res := c.Response()
	res.Writer = &hijackTracker{ResponseWriter: res.Writer, hijacked: func(conn net.Conn) net.Conn {
		rc := &relayedConn{Conn: conn, set: s}
		s.mu.Lock()
		if s.conns == nil {
			s.conns = map[*relayedConn]string{}
		}
		s.conns[rc] = node
		s.mu.Unlock()
		return rc
	}}
}

// closeNotFrom closes the relayed websockets of every node not in nodes,
// and returns how many.
func (s *relayedSet) closeNotFrom(nodes []string) int {
	s.mu.Lock()
	var gone []*relayedConn
	for c, node := range s.conns {
		if !slices.Contains(nodes, node) {
			gone = append(gone, c)
		}
	}
	s.mu.Unlock()
	for _, c := range gone {
		_ = c.Close() // the hub's reader fails: the client is gone, its grace starts
	}
	return len(gone)
}

// relayedConn leaves its set when closed.
type relayedConn struct {
	net.Conn
	set *relayedSet
}

func (c *relayedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.conns, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}

// hijackTracker hands the hijacked connection to hijacked, which may wrap it.
type hijackTracker struct {
	http.ResponseWriter
	hijacked func(net.Conn) net.Conn
}

func (w *hijackTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return conn, rw, err
	}
	return w.hijacked(conn), rw, nil
}

func (w *hijackTracker) Unwrap() http.ResponseWriter { return w.ResponseWriter }
