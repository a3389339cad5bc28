package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/livechat"
)

// Live chat in cluster mode (contract §8.3 and §8.6, ADR 0003): one node at
// a time, the chat home, runs the hub: routing, sessions' live state and
// every websocket's session. It is the holder of the livechat lease and
// writes the address the others reach it at into the store. The other nodes
// relay to it: websockets frame by frame (chatrelay.go), the console's REST
// reads as a reverse proxy, and the calls of their own components (a ticket's
// reply, a clock's alert, a WeChat or SMS message) as internal calls
// (chatcalls.go). The store holds sessions and transcripts, so a new home
// picks up where the old one stopped.

const (
	chatHomeLease = "livechat"
	// chatHomeTTL is short because chat waits for a new home: a home
	// killed is replaced within chatHomeTTL plus a third of it.
	chatHomeTTL = 6 * time.Second
	// chatHomeKey is where the home writes its address (bucket "gateway").
	chatHomeKey = "chat_home"
	// Headers between the nodes: the peer key, and the client's address as
	// the relaying node saw it.
	headerPeer     = "X-Gateway-Peer"
	headerClientIP = "X-Gateway-Client-Ip"
	headerNode     = "X-Gateway-Node" // the relaying node
)

// errNoChatHome: no node runs live chat at the moment (the home moves).
var errNoChatHome = errors.New("gateway: live chat is moving to another node")

type chatHomeRecord struct {
	Node string `json:"node"`
	Addr string `json:"addr"`
}

// chatHome runs or reaches the cluster's hub.
type chatHome struct {
	g *Gateway
	// build makes a fresh hub (it loads the open sessions from the store)
	// whose message writes check fence.
	build   func(fence lease.Fence) (*livechat.Hub, error)
	addr    string // where the others reach this node
	peerKey string

	local     atomic.Pointer[livechat.Hub] // while this node is the home
	transport *http.Transport              // to the home
	client    *http.Client

	regMu      sync.Mutex
	registered []func(*livechat.Hub) // deliverers and media fetchers, applied to every hub built

	// relay carries this node's clients' websockets to the home while
	// another node is the home.
	relay *livechat.Relay
	// later are the calls without an answer (alerts, escalations,
	// surveys), made by one worker so that the clocks' goroutine never
	// waits on the network.
	later chan chatCall

	cancel context.CancelFunc
	done   sync.WaitGroup
}

func newChatHome(g *Gateway, build func(lease.Fence) (*livechat.Hub, error)) *chatHome {
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	ch := &chatHome{g: g, build: build, peerKey: peerKey(g.cfg.Auth.TokenSecret), transport: tr,
		client: &http.Client{Timeout: 15 * time.Second, Transport: tr}, later: make(chan chatCall, 1024)}
	ch.relay = livechat.NewRelay(g.cfg.LiveChat, g.log, ch.dialLink)
	g.Register(ch.relay.Collectors()...)
	return ch
}

// peerKey is what a node shows the others: derived from the token secret
// that every node of a cluster has (contract §8), never the secret itself.
func peerKey(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("gateway peer key v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// fromPeer reports whether r was sent by another node of the cluster.
func (ch *chatHome) fromPeer(r *http.Request) bool {
	k := r.Header.Get(headerPeer)
	return k != "" && hmac.Equal([]byte(k), []byte(ch.peerKey))
}

// advertise is where the other nodes reach this node's HTTP listener.
func advertise(configured string, ln net.Addr) string {
	if configured != "" {
		return configured
	}
	host, port, _ := net.SplitHostPort(ln.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host, _ = os.Hostname()
	}
	return net.JoinHostPort(host, port)
}

// register keeps f to apply to the hub of every term of this node as home.
func (ch *chatHome) register(f func(*livechat.Hub)) {
	ch.regMu.Lock()
	defer ch.regMu.Unlock()
	ch.registered = append(ch.registered, f)
	if h := ch.local.Load(); h != nil {
		f(h)
	}
}

// start competes for the home, makes the calls without an answer, and
// watches the home for the relays, until stop.
func (ch *chatHome) start(ctx context.Context) {
	ch.addr = advertise(ch.g.cfg.Cluster.Advertise, ch.g.ln.Addr())
	ctx, ch.cancel = context.WithCancel(ctx)
	for _, run := range []func(context.Context){
		func(ctx context.Context) {
			lease.Run(ctx, lease.New(ch.g.db, chatHomeLease, ch.g.nodeID(), chatHomeTTL, nil), ch.g.log, ch.serveTerm)
		},
		ch.callLater,
		ch.watch,
	} {
		ch.done.Add(1)
		go func() { defer ch.done.Done(); run(ctx) }()
	}
}

// stop closes this node's relayed websockets and, if it is the home, its
// hub (every client is told to reconnect, 1001), then gives up the lease so
// that another node takes the home at once. The gateway calls it first
// when it shuts down: the cluster's chat must not wait for this node's
// drain.
func (ch *chatHome) stop(ctx context.Context) error {
	relayed := make(chan error, 1)
	go func() { relayed <- ch.relay.Close(ctx) }()
	if ch.cancel != nil {
		ch.cancel()
		done := make(chan struct{})
		go func() { ch.done.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return <-relayed
}

// watch closes the relays to a node that is no longer the home (it died
// without closing its sockets, or lost its lease): their clients reconnect
// and reach the new one. On the home, it closes the websockets relayed by a
// node that is gone (it stopped renewing its member lease: its machine died
// or was cut off, and nothing closed their sockets here), so that their
// agents' grace starts within about 12 s rather than after pong_wait.
func (ch *chatHome) watch(ctx context.Context) {
	t := time.NewTicker(chatHomeTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rec, err := ch.current()
		n := 0
		switch {
		case err == nil:
			n = ch.relay.CloseNotTo(rec.Addr)
		case errors.Is(err, errNoChatHome):
			n = ch.relay.CloseNotTo("")
		}
		if n > 0 {
			ch.g.log.Info("live chat: relays to a node that is no longer the chat home closed", "websockets", n)
		}
		if h := ch.local.Load(); h != nil {
			// A live node renews its member lease every 5 s, so its lease
			// always runs 10 s more: one that runs out within 5 s was not
			// renewed for 10 s. (A store failover can delay renewals so
			// long: then that node's clients reconnect once, no more.)
			if live, err := lease.Holders(ch.g.db, memberLease, time.Now().Add(5*time.Second)); err == nil {
				if n := h.CloseLinksNotFrom(live); n > 0 {
					ch.g.log.Warn("live chat: websockets relayed by nodes gone silent closed", "websockets", n, "live", live)
				}
			}
		}
	}
}

// serveTerm runs the hub while this node holds the lease.
func (ch *chatHome) serveTerm(ctx context.Context, fence lease.Fence) {
	// The clocks of the chats are the home's to stop (a message's
	// transaction stops them): it takes every stored one, also those the
	// last home set.
	if err := ch.g.sla.Load(ctx); err != nil {
		ch.g.log.Error("live chat: cannot load the clocks; not taking the chat home", "err", err)
		return // lease.Run releases the lease to another node; this one tries again a TTL later
	}
	h, err := ch.build(fence)
	if err != nil {
		ch.g.log.Error("live chat: cannot start the hub on this node", "err", err)
		return
	}
	ch.regMu.Lock()
	for _, f := range ch.registered {
		f(h)
	}
	ch.regMu.Unlock()
	cs := h.Collectors()
	for _, c := range cs {
		_ = ch.g.metrics.reg.Register(c)
	}
	rec, _ := json.Marshal(chatHomeRecord{Node: ch.g.nodeID(), Addr: ch.addr})
	err = ch.g.db.Update(ctx, func(tx *store.Tx) error {
		if err := fence.Check(tx); err != nil {
			return err
		}
		return tx.Bucket([]byte("gateway")).Put([]byte(chatHomeKey), rec)
	})
	if err == nil {
		ch.local.Store(h)
		ch.g.log.Info("live chat: this node is the chat home", "addr", ch.addr)
		<-ctx.Done()
		ch.local.Store(nil)
	} else {
		ch.g.log.Error("live chat: cannot record this node as the chat home", "err", err)
	}
	// Less than the default shutdown_timeout: the lease is released after.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.Close(cctx); err != nil {
		ch.g.log.Warn("live chat: hub not closed in time", "err", err)
	}
	for _, c := range cs {
		ch.g.metrics.reg.Unregister(c)
	}
	ch.g.log.Info("live chat: this node is no longer the chat home")
}

// current is the record of the node that runs the hub now.
func (ch *chatHome) current() (chatHomeRecord, error) {
	var rec chatHomeRecord
	err := ch.g.db.View(func(tx *store.Tx) error {
		v := tx.Bucket([]byte("gateway")).Get([]byte(chatHomeKey))
		if v == nil {
			return errNoChatHome
		}
		return json.Unmarshal(v, &rec)
	})
	if err != nil {
		return rec, err
	}
	holders, err := lease.Holders(ch.g.db, chatHomeLease, time.Now())
	if err != nil {
		return rec, err
	}
	// The record outlives its writer: it counts while its node holds the
	// lease.
	if !slices.Contains(holders, rec.Node) {
		return rec, errNoChatHome
	}
	return rec, nil
}

// home returns the address of the other node that runs the hub now.
func (ch *chatHome) home() (string, error) {
	rec, err := ch.current()
	if err != nil {
		return "", err
	}
	// This node's own record without its hub: the lease is taken and the
	// hub being built, or stopped. Relaying to itself would loop.
	if rec.Node == ch.g.nodeID() {
		return "", errNoChatHome
	}
	return rec.Addr, nil
}

// unavailable is the answer while the home moves.
func unavailable(err error) error {
	e := apierr.Wrap(apierr.CodeUnavailable, "live chat is moving to another node of the cluster: retry in a moment", err)
	e.RetryAfter = time.Second
	return e
}

// mount registers the hub's routes: served here while this node is the
// home, relayed to the home otherwise.
func (ch *chatHome) mount(e *echo.Echo) {
	for _, r := range livechat.HTTPRoutes {
		e.Add(r.Method, r.Path, func(c echo.Context) error {
			if h := ch.local.Load(); h != nil {
				return r.Serve(h, c)
			}
			if ch.fromPeer(c.Request()) { // relayed here, and this node is not the home (any more): never again
				return unavailable(errNoChatHome)
			}
			if r.WebSocket() && !websocket.IsWebSocketUpgrade(c.Request()) {
				return apierr.New(apierr.CodeBadRequest, "this is a websocket endpoint: connect with a websocket upgrade")
			}
			addr, err := ch.home()
			if err != nil {
				return unavailable(err)
			}
			if r.WebSocket() {
				return ch.relayWS(c, addr)
			}
			return ch.proxy(c, addr)
		})
	}
	e.POST(chatCallPath, ch.serveCall)
	e.GET(livechat.LinkPath, func(c echo.Context) error {
		if !ch.fromPeer(c.Request()) {
			return apierr.New(apierr.CodeForbidden, "only the nodes of the cluster may open a link")
		}
		h := ch.local.Load()
		if h == nil {
			return unavailable(errNoChatHome)
		}
		return h.ServeLink(c, c.Request().Header.Get(headerNode))
	})
}

// clientIP is the address of the client a peer relays, or "" when r is
// not from a peer.
func (ch *chatHome) clientIP(r *http.Request) string {
	if ip := r.Header.Get(headerClientIP); ip != "" && ch.fromPeer(r) {
		return ip
	}
	return ""
}

func (ch *chatHome) peerHeaders(h http.Header, clientIP string) {
	h.Set(headerPeer, ch.peerKey)
	h.Set(headerClientIP, clientIP)
	h.Set(headerNode, ch.g.nodeID())
}
