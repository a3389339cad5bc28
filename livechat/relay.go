package livechat

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
)

// Relay is a relaying node's side of links (link.go): it carries this
// node's clients' websockets to the chat home, all of them over one link
// per home. It pings its clients itself, closes them with 1001 when it
// stops or when the home is no longer the home (they reconnect through the
// balancer and resume by last_seq), and passes on the home's close codes.
type Relay struct {
	cfg  configs.LiveChat
	log  *slog.Logger
	dial func(ctx context.Context, addr string) (*websocket.Conn, error)

	// max caps this node's relayed websockets (its descriptors), as the
	// hub caps its own: livechat.max_connections, or from the file limit.
	max       int
	open      atomic.Int64
	refused   prometheus.Counter
	logSample *httpin.Limiter // a refusal's log line at most about once a second

	mu     sync.Mutex
	links  map[string]*relayLink // by the home's address
	closed bool
	wg     sync.WaitGroup // links' and clients' readers, clients' writers
}

// errRelayClosed: the node is stopping (its new clients are told to reconnect).
var errRelayClosed = errors.New("livechat: relay closed")

// errLinkDown: the link to the home failed before the home answered.
var errLinkDown = errors.New("livechat: link to the chat home lost")

// relayOpenWait bounds the wait for the home's answer to an opening.
const relayOpenWait = 10 * time.Second

// NewRelay makes a relay whose links dial says how to open (it adds the
// peer's credentials).
func NewRelay(cfg configs.LiveChat, log *slog.Logger, dial func(ctx context.Context, addr string) (*websocket.Conn, error)) *Relay {
	max, _ := maxConnections(cfg.MaxConnections)
	return &Relay{cfg: cfg, log: log, dial: dial, max: max, logSample: newLogSampler(clock.System), links: map[string]*relayLink{},
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_websockets_relayed_refused_total",
			Help: "Websockets this node refused to relay to the chat home: it holds as many as its cap (livechat.max_connections or its file limit)."})}
}

// Collectors are the relay's metrics, for the node's registry.
func (r *Relay) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.refused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_websockets_relayed",
			Help: "Websockets this node relays to the chat home (cluster mode; the home's gateway_websockets_open counts them too)."},
			func() float64 { return float64(r.open.Load()) })}
}

type relayLink struct {
	r     *Relay
	addr  string
	ws    *websocket.Conn
	ready chan struct{} // closed once dialled; then err or ws is set
	err   error

	// out is written to the link by one goroutine: the clients' frames in
	// the order they were read, and a stopping node can wait for them.
	out  chan linkFrame
	done chan struct{} // closed when the link is down
	// heard is when the home last sent anything (unix ns): a link that is
	// silent as well as slow to answer is dropped.
	heard atomic.Int64
	// readers are the clients' readers: a stopping node waits for them
	// before it flushes the link.
	readers sync.WaitGroup

	mu      sync.Mutex
	next    uint64
	clients map[uint64]*relayed
	down    bool
}

type linkFrame struct {
	kind    byte
	id      uint64
	payload []byte
	flushed chan struct{} // not a frame: closed once every frame before it is written
}

// relayed is one client's websocket on a link.
type relayed struct {
	answer   chan error // the home's answer to the opening: nil (accepted) or why not
	c        *conn      // once upgraded
	early    [][]byte   // frames the home sent before the upgrade
	overflow bool       // more of them than the send queue holds: the client is too slow
	closed   []byte     // the home's close before the upgrade
}

// Serve relays the websocket request of c to the home at addr; ip is the
// client's address. An error is the answer to give instead of upgrading:
// the home's refusal as it gave it, or a failure to reach the home.
func (r *Relay) Serve(c echo.Context, addr, ip string) error {
	req := c.Request()
	if n := r.open.Add(1); r.max > 0 && n > int64(r.max) {
		r.open.Add(-1)
		r.refused.Inc()
		if ok, _ := r.logSample.Allow("refused"); ok {
			r.log.Warn("livechat: websocket refused", "reason", refusedTotal, "relayed", true, "ip", ip, "open", n-1)
		}
		return &apierr.Error{Code: apierr.CodeUnavailable, Message: "the server has as many live connections as it can hold; retry later",
			RetryAfter: retryConnAfter}
	}
	upgraded := false
	defer func() {
		if !upgraded {
			r.open.Add(-1)
		}
	}()
	l, id, rd, err := r.ask(req, addr, ip)
	if errors.Is(err, errRelayClosed) {
		r.goAway(c)
		return nil
	}
	if err != nil {
		return err
	}
	up := websocket.Upgrader{ReadBufferSize: clientReadBuffer, WriteBufferSize: 1024, WriteBufferPool: writeBuffers,
		CheckOrigin: func(*http.Request) bool { return true }, // the home checked it
		Error:       UpgradeFailed(c)}
	ws, err := up.Upgrade(c.Response(), req, nil)
	if err != nil {
		l.abandon(id)
		return nil // the upgrader has answered
	}
	r.mu.Lock() // Close waits for the goroutines counted before it
	if r.closed {
		r.mu.Unlock()
		l.abandon(id)
		refuse(ws, CloseGoingAway, "server restarting: reconnect")
		return nil
	}
	r.wg.Add(1)
	l.readers.Add(1)
	r.mu.Unlock()
	upgraded = true // the client's reader gives its slot back
	cn := newConn(wsSocket{ws}, "", "", r.cfg.SendQueue, &r.wg, r.cfg.PingInterval, 10*time.Second)
	cn.start()
	l.attach(id, rd, cn)
	go func() {
		defer r.wg.Done()
		defer l.readers.Done()
		defer r.open.Add(-1)
		l.readClient(id, cn, ws)
	}()
	return nil
}

// ask sends the home a client's opening and waits for its answer. A link
// found down is dialled again once; a home that does not answer loses its
// link, so that the next client does not wait as long.
func (r *Relay) ask(req *http.Request, addr, ip string) (*relayLink, uint64, *relayed, error) {
	hdr := http.Header{}
	for _, k := range []string{"Authorization", "Cookie", "Origin", "User-Agent"} {
		if v := req.Header.Values(k); len(v) > 0 {
			hdr[k] = v
		}
	}
	opening, _ := json.Marshal(linkOpening{Path: req.URL.Path, Query: req.URL.RawQuery, Host: req.Host, Header: hdr, IP: ip})
	var (
		l   *relayLink
		id  uint64
		rd  *relayed
		err error
	)
	for range 2 {
		if l, err = r.link(addr); err != nil {
			return nil, 0, nil, err
		}
		if id, rd, err = l.add(); err == nil {
			err = l.send(linkOpen, id, opening)
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, 0, nil, err
	}
	asked := time.Now().UnixNano()
	t := time.NewTimer(relayOpenWait)
	defer t.Stop()
	select {
	case err = <-rd.answer:
	case <-t.C:
		err = fmt.Errorf("%w: no answer to an opening in %s", errLinkDown, relayOpenWait)
		if l.heard.Load() < asked { // silent since: the next client would wait as long
			r.log.Warn("livechat: the chat home neither answered a websocket's opening nor sent anything; dropping the link",
				"home", addr, "waited", relayOpenWait)
			l.shut("connection to the server lost: reconnect and resume")
		}
	case <-req.Context().Done():
		err = req.Context().Err()
	}
	l.mu.Lock()
	rd.answer = nil // only ask reads it: a client held for hours need not keep it
	l.mu.Unlock()
	if err != nil {
		l.abandon(id)
		return nil, 0, nil, err
	}
	return l, id, rd, nil
}

// goAway upgrades a client only to tell it to reconnect elsewhere.
func (r *Relay) goAway(c echo.Context) {
	up := websocket.Upgrader{ReadBufferSize: 256, WriteBufferSize: 256, CheckOrigin: func(*http.Request) bool { return true }, Error: UpgradeFailed(c)}
	if ws, err := up.Upgrade(c.Response(), c.Request(), nil); err == nil {
		refuse(ws, CloseGoingAway, "server restarting: reconnect")
	}
}

// CloseNotTo closes the links to every home but addr ("": all), telling
// their clients to reconnect, and returns how many clients that was.
func (r *Relay) CloseNotTo(addr string) int {
	r.mu.Lock()
	var stale []*relayLink
	for a, l := range r.links {
		if a != addr {
			stale = append(stale, l)
			delete(r.links, a)
		}
	}
	r.mu.Unlock()
	n := 0
	for _, l := range stale {
		<-l.ready
		n += l.shut("server restarting: reconnect and resume")
	}
	return n
}

// Close closes every client (1001), lets the links write what the clients
// sent before that, closes the links and waits for their goroutines.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	links := make([]*relayLink, 0, len(r.links))
	for _, l := range r.links {
		links = append(links, l)
	}
	r.mu.Unlock()
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, l := range links {
		<-l.ready
		if l.err == nil {
			l.closeClients("server restarting: reconnect and resume")
		}
	}
	for _, l := range links {
		if l.err == nil {
			l.flush(fctx)
		}
	}
	r.CloseNotTo("")
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// link returns the link to addr, dialling it if there is none.
func (r *Relay) link(addr string) (*relayLink, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errRelayClosed
	}
	l := r.links[addr]
	if l == nil {
		l = &relayLink{r: r, addr: addr, ready: make(chan struct{}), clients: map[uint64]*relayed{},
			out: make(chan linkFrame, 256), done: make(chan struct{})}
		r.links[addr] = l
		r.wg.Add(1)
		go r.connect(l)
	}
	r.mu.Unlock()
	<-l.ready
	if l.err != nil {
		return nil, l.err
	}
	return l, nil
}

// connect dials a link and then reads it until it fails.
func (r *Relay) connect(l *relayLink) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	ws, err := r.dial(ctx, l.addr)
	cancel()
	r.mu.Lock()
	switch {
	case err != nil:
		l.err = fmt.Errorf("%w: %w", errLinkDown, err)
	case r.closed || r.links[l.addr] != l:
		l.err = errRelayClosed
		_ = ws.Close()
	default:
		l.ws = ws
	}
	if l.err != nil && r.links[l.addr] == l {
		delete(r.links, l.addr) // the next client dials again
	}
	r.mu.Unlock()
	close(l.ready)
	if l.err != nil {
		if !errors.Is(l.err, errRelayClosed) {
			r.log.Warn("livechat: cannot open a link to the chat home", "home", l.addr, "err", err)
		}
		return
	}
	r.log.Info("livechat: link to the chat home opened", "home", l.addr)
	r.wg.Add(1)
	go func() { defer r.wg.Done(); l.write() }()
	err = l.read()
	r.log.Info("livechat: link to the chat home closed", "home", l.addr, "err", err)
	l.shut("connection to the server lost: reconnect and resume")
}

func (l *relayLink) read() error {
	pongWait := l.r.cfg.PongWait
	_ = l.ws.SetReadDeadline(time.Now().Add(pongWait))
	l.ws.SetPingHandler(func(data string) error {
		l.heard.Store(time.Now().UnixNano())
		_ = l.ws.SetReadDeadline(time.Now().Add(pongWait))
		return l.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(linkWriteWait))
	})
	for {
		_, b, err := l.ws.ReadMessage()
		if err != nil {
			return err
		}
		l.heard.Store(time.Now().UnixNano())
		_ = l.ws.SetReadDeadline(time.Now().Add(pongWait))
		kind, id, payload, err := parseLinkFrame(b)
		if err != nil {
			return err
		}
		l.mu.Lock()
		rd := l.clients[id]
		if rd == nil {
			l.mu.Unlock()
			continue // the client left meanwhile
		}
		switch kind {
		case linkAccept:
			answer := rd.answer
			l.mu.Unlock()
			tell(answer, nil)
		case linkRefuse:
			answer := rd.answer
			delete(l.clients, id)
			l.mu.Unlock()
			var rf linkRefusal
			if json.Unmarshal(payload, &rf) != nil {
				rf = refusalOf(nil)
			}
			tell(answer, rf.err())
		case linkText:
			c := rd.c
			switch {
			case c != nil:
			case rd.overflow:
			case len(rd.early) >= l.r.cfg.SendQueue: // attach closes the client, and tells the home
				rd.overflow, rd.early = true, nil
			default:
				rd.early = append(rd.early, payload)
			}
			l.mu.Unlock()
			if c != nil {
				c.enqueue(payload) // a client too slow for it is closed, and its reader tells the home
			}
		case linkClose:
			c := rd.c
			if c == nil {
				rd.closed = payload // passed on once upgraded
			} else {
				delete(l.clients, id)
			}
			l.mu.Unlock()
			if c != nil {
				code, reason := parseClose(payload)
				c.closeAfterQueue(code, reason)
			}
		default:
			l.mu.Unlock()
		}
	}
}

// readClient passes a client's frames to the home until the client leaves,
// then tells the home.
func (l *relayLink) readClient(id uint64, c *conn, ws *websocket.Conn) {
	pongWait := l.r.cfg.PongWait
	ws.SetReadLimit(l.r.cfg.MaxFrameBytes)
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			code := websocket.CloseGoingAway
			if errors.Is(err, websocket.ErrReadLimit) {
				code = CloseTooBig
				c.closeWith(CloseTooBig, "frame too large")
			} else {
				c.closeWith(websocket.CloseNormalClosure, "")
			}
			if l.forget(id) != nil {
				_ = l.send(linkClose, id, websocket.FormatCloseMessage(code, ""))
			}
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(pongWait))
		if l.send(linkText, id, data) != nil {
			return // the link is down: its reader closes every client
		}
	}
}

// attach gives an accepted client its connection: the frames the home sent
// before the upgrade go first, under the lock, so that the reader passes
// on none after them; a close the home sent meanwhile follows them.
func (l *relayLink) attach(id uint64, rd *relayed, c *conn) {
	l.mu.Lock()
	rd.c = c
	for _, f := range rd.early {
		c.enqueue(f)
	}
	rd.early = nil
	overflow := rd.overflow
	switch {
	case rd.closed != nil: // the home's word, even if the link is down since
		delete(l.clients, id)
		code, reason := parseClose(rd.closed)
		c.closeAfterQueue(code, reason)
	case overflow:
		delete(l.clients, id)
		c.closeWith(CloseSlow, "send queue full: reconnect and resume")
	case l.down:
		c.closeWith(CloseGoingAway, "connection to the server lost: reconnect and resume")
	}
	l.mu.Unlock()
	if overflow {
		_ = l.send(linkClose, id, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
	}
}

// abandon tells the home that a client it may have accepted is gone.
func (l *relayLink) abandon(id uint64) {
	if l.forget(id) != nil {
		_ = l.send(linkClose, id, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
	}
}

// add registers a new client; its id is new on the link.
func (l *relayLink) add() (uint64, *relayed, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return 0, nil, errLinkDown
	}
	l.next++
	rd := &relayed{answer: make(chan error, 1)}
	l.clients[l.next] = rd
	return l.next, rd, nil
}

// forget removes a client from the link; nil if it was not there.
func (l *relayLink) forget(id uint64) *relayed {
	l.mu.Lock()
	defer l.mu.Unlock()
	rd := l.clients[id]
	delete(l.clients, id)
	return rd
}

// send queues a link frame for the writer; it waits while the queue is full
// (the home reads slower than the clients write).
func (l *relayLink) send(kind byte, id uint64, payload []byte) error {
	select {
	case l.out <- linkFrame{kind: kind, id: id, payload: payload}:
		return nil
	case <-l.done:
		return errLinkDown
	}
}

// write writes the queued frames until the link is down; a failed write
// closes it.
func (l *relayLink) write() {
	var buf []byte
	for {
		select {
		case <-l.done:
			return
		case f := <-l.out:
			if f.flushed != nil {
				close(f.flushed)
				continue
			}
			buf = appendLinkFrame(buf[:0], f.kind, f.id, f.payload)
			_ = l.ws.SetWriteDeadline(time.Now().Add(linkWriteWait))
			if err := l.ws.WriteMessage(websocket.BinaryMessage, buf); err != nil {
				_ = l.ws.Close() // the reader fails and shuts the link
				return
			}
			if cap(buf) > 64<<10 {
				buf = nil
			}
		}
	}
}

// closeClients tells the link's clients to reconnect; the link stays up
// for what they sent before.
func (l *relayLink) closeClients(reason string) {
	l.mu.Lock()
	var open []*conn
	for _, rd := range l.clients {
		if rd.c != nil {
			open = append(open, rd.c)
		}
	}
	l.mu.Unlock()
	for _, c := range open {
		c.closeWith(CloseGoingAway, reason)
	}
}

// flush returns once the clients' readers have ended and the frames they
// queued are written (or the link is down, or ctx ends).
func (l *relayLink) flush(ctx context.Context) {
	read := make(chan struct{})
	go func() { l.readers.Wait(); close(read) }() // they end as their sockets close
	select {
	case <-read:
	case <-l.done:
		return
	case <-ctx.Done():
		return
	}
	done := make(chan struct{})
	select {
	case l.out <- linkFrame{flushed: done}:
	case <-l.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-l.done:
	case <-ctx.Done():
	}
}

// shut closes the link and tells its clients to reconnect; it returns how
// many there were. The next client dials a new link.
func (l *relayLink) shut(reason string) int {
	l.r.mu.Lock()
	if l.r.links[l.addr] == l {
		delete(l.r.links, l.addr)
	}
	l.r.mu.Unlock()
	l.mu.Lock()
	if !l.down {
		close(l.done)
	}
	l.down = true
	var open []*conn
	for _, rd := range l.clients {
		tell(rd.answer, errLinkDown) // if still waiting for the home
		if rd.c != nil {
			open = append(open, rd.c)
		}
	}
	n := len(l.clients)
	l.clients = map[uint64]*relayed{}
	l.mu.Unlock()
	for _, c := range open {
		c.closeWith(CloseGoingAway, reason)
	}
	if l.ws != nil {
		_ = l.ws.Close()
	}
	return n
}

// tell gives an opening its answer, unless it has one (or gave up).
func tell(answer chan error, err error) {
	select {
	case answer <- err:
	default:
	}
}

// parseClose reads a close frame's payload (code, reason).
func parseClose(b []byte) (int, string) {
	if len(b) < 2 {
		return websocket.CloseNoStatusReceived, ""
	}
	return int(binary.BigEndian.Uint16(b)), string(b[2:])
}
