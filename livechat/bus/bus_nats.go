package bus

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// MaxPayloadNATS is the largest frame the NATS bus carries: the server's
// default max_payload, far above a websocket frame (livechat.max_frame_bytes).
const MaxPayloadNATS = 1 << 20

// natsClusterName names the route mesh; a route from a server of another
// cluster name is refused.
const natsClusterName = "gateway-chat"

// natsRouteUser is the route user when NATSConfig.Secret is set.
const natsRouteUser = "gateway"

// NATSConfig configures the NATS bus of one node (contract §8:
// cluster.listen, cluster.peers).
type NATSConfig struct {
	// NodeID names this node's server among its peers and in its logs.
	NodeID string
	// Listen is the host:port where this node's server accepts routes
	// from its peers (cluster.listen). Empty: no routes, a bus of one
	// node. Port 0 picks a free port (tests; see Addr).
	Listen string
	// Peers are the other nodes' Listen addresses (cluster.peers). A peer
	// that is down is retried every second for as long as the bus runs;
	// this node's own address among them is ignored, so every node may be
	// given the same list.
	Peers []string
	// Secret, when set, is the route password every node must share; a
	// server without it cannot join. Without it anyone who reaches Listen
	// can join and read the frames: bind Listen to the nodes' network.
	Secret string
	// StartTimeout bounds the start of the server; default 10 s.
	StartTimeout time.Duration
	// Logger receives the server's notices and errors; nil: quiet.
	Logger *slog.Logger
}

func (c *NATSConfig) setDefaults() {
	if c.StartTimeout <= 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate names the key at fault.
func (c *NATSConfig) Validate() error {
	if c.Listen == "" {
		if len(c.Peers) > 0 {
			return errors.New("bus: cluster.peers needs cluster.listen")
		}
		return nil
	}
	if _, _, err := splitHostPort(c.Listen); err != nil {
		return fmt.Errorf("bus: cluster.listen: %w", err)
	}
	for _, p := range c.Peers {
		if _, _, err := splitHostPort(p); err != nil {
			return fmt.Errorf("bus: cluster.peers: %w", err)
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	return host, port, nil
}

// NATS is a Bus over a NATS server embedded in this process, routed to the
// servers embedded in the other nodes; the gateway is its only client,
// connected in process (the server listens for routes only). No JetStream:
// core NATS, at most once.
type NATS struct {
	srv    *server.Server
	nc     *nats.Conn
	closed chan struct{} // closed by the client's ClosedHandler
	log    *slog.Logger

	// stopped is set when a drain is cut short, before the client closes
	// with frames still queued: none of them reaches a handler.
	stopped atomic.Bool

	closeOnce sync.Once
}

var _ Bus = (*NATS)(nil)

// NewNATS starts this node's server and connects to it. It returns once
// the server accepts routes; peers join as they come up (see Peers).
func NewNATS(ctx context.Context, cfg NATSConfig) (*NATS, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := natsServerOptions(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: cannot create the NATS server: %w", err)
	}
	log := cfg.Logger.With("component", "bus", "node", cfg.NodeID)
	srv.SetLoggerV2(natsLogger{log}, false, false, false)
	srv.Start()
	wait := cfg.StartTimeout
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("bus: NATS server not ready within %s (cluster.listen %q taken?)", wait, cfg.Listen)
	}
	b := &NATS{srv: srv, closed: make(chan struct{}), log: log}
	b.nc, err = nats.Connect("nats://in-process", // the URL is required, never dialled
		nats.InProcessServer(srv),
		nats.Token(opts.Authorization),
		nats.Name(cfg.NodeID),
		// The server cuts a client that falls too far behind (a slow
		// consumer); the client then connects again in process, at once,
		// and subscribes again. Frames of the gap are lost.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus: cut off from the embedded NATS server; frames are lost until it reconnects", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("bus: reconnected to the embedded NATS server") }),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			// Slow consumer: frames dropped; subscribers refetch on the gap.
			log.Warn("bus: frames dropped", "subject", subj, "err", err)
		}),
	)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("bus: cannot connect to the embedded NATS server: %w", err)
	}
	return b, nil
}

func natsServerOptions(cfg NATSConfig) (*server.Options, error) {
	opts := &server.Options{
		ServerName: cfg.NodeID,
		DontListen: true, // no client port: the gateway connects in process
		NoSigs:     true, // the gateway owns the signals
		NoLog:      true, // until SetLoggerV2 gives it ours
		MaxPayload: MaxPayloadNATS,
	}
	if cfg.Listen == "" {
		return opts, nil
	}
	// nats-server starts its routes only once its client listener is up
	// (Start waits on it; with DontListen it waits for ever), so a routed
	// server listens for clients on a free loopback port, closed to anyone
	// but this process by a token made up at each start.
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	opts.DontListen = false
	opts.Host = "127.0.0.1"
	opts.Port = server.RANDOM_PORT
	opts.Authorization = token
	host, port, _ := splitHostPort(cfg.Listen) // validated
	if port == 0 {
		port = server.RANDOM_PORT // NATS reads 0 as "no routes"
	}
	opts.Cluster = server.ClusterOpts{
		Name: natsClusterName,
		Host: host,
		Port: port,
		// Chat frames are small and the nodes near: compression costs
		// latency for no gain.
		Compression: server.CompressionOpts{Mode: server.CompressionOff},
		// Clients are this process only: no client port to gossip.
		NoAdvertise: true,
	}
	if cfg.Secret != "" {
		opts.Cluster.Username = natsRouteUser
		opts.Cluster.Password = cfg.Secret
	}
	for _, p := range cfg.Peers {
		u := &url.URL{Scheme: "nats-route", Host: p}
		if cfg.Secret != "" {
			u.User = url.UserPassword(natsRouteUser, cfg.Secret)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return opts, nil
}

// Addr is where the server accepts routes (the port chosen when Listen
// asked for 0); nil without Listen.
func (b *NATS) Addr() net.Addr {
	if a := b.srv.ClusterAddr(); a != nil {
		return a
	}
	return nil
}

// Peers is the number of other nodes this node's server is routed to now,
// for /readyz.
func (b *NATS) Peers() int { return b.srv.NumRemotes() }

// Publish implements Bus. It does not block on the network: the frame is
// buffered and flushed to the server by the client's own goroutine.
func (b *NATS) Publish(ctx context.Context, subject string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkSubject(subject); err != nil {
		return err
	}
	if len(data) > MaxPayloadNATS {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(data), MaxPayloadNATS)
	}
	if err := b.nc.Publish(subject, data); err != nil {
		return b.natsErr("publish", subject, err)
	}
	return nil
}

// Subscribe implements Bus. It returns once this node's server has the
// interest (a flush); the server forwards it to its peers asynchronously.
func (b *NATS) Subscribe(ctx context.Context, subject string, fn func([]byte)) (Subscription, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	s := &natsSub{}
	var err error
	s.sub, err = b.nc.Subscribe(subject, func(m *nats.Msg) {
		if !s.done.Load() && !b.stopped.Load() {
			fn(m.Data) // nats.go copies each message's payload
		}
	})
	if err != nil {
		return nil, b.natsErr("subscribe", subject, err)
	}
	if _, ok := ctx.Deadline(); !ok { // FlushWithContext wants a deadline
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		_ = s.Unsubscribe()
		return nil, b.natsErr("subscribe", subject, err)
	}
	return s, nil
}

func (b *NATS) natsErr(op, subject string, err error) error {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) {
		return ErrClosed
	}
	return fmt.Errorf("bus: %s %q: %w", op, subject, err)
}

// Close implements Bus: the client drains (subscriptions deliver what they
// hold, publications are flushed), then the server shuts down, closing its
// routes; peers see this node gone at once.
func (b *NATS) Close(ctx context.Context) error {
	var err error
	b.closeOnce.Do(func() {
		if derr := b.nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
			b.nc.Close()
		}
		select {
		case <-b.closed:
		case <-ctx.Done():
			err = fmt.Errorf("bus: drain cut short: %w", ctx.Err())
			b.stopped.Store(true)
			b.nc.Close()
			<-b.closed
		}
		b.srv.Shutdown() // waits for the server's goroutines
		b.srv.WaitForShutdown()
	})
	return err
}

func randomToken() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("bus: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// natsSub wraps the client's subscription so that no handler call starts
// after Unsubscribe returns (the client may hold frames already queued).
type natsSub struct {
	sub  *nats.Subscription
	done atomic.Bool
}

func (s *natsSub) Unsubscribe() error {
	if s.done.Swap(true) {
		return nil
	}
	if err := s.sub.Unsubscribe(); err != nil &&
		!errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) &&
		!errors.Is(err, nats.ErrConnectionDraining) {
		return fmt.Errorf("bus: unsubscribe %q: %w", s.sub.Subject, err)
	}
	return nil
}

// natsLogger hands the server's log lines to slog. Its Fatalf does not exit:
// the gateway decides what a failed bus means.
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(f string, v ...any) { n.l.Info("nats: " + fmt.Sprintf(f, v...)) }
func (n natsLogger) Warnf(f string, v ...any)   { n.l.Warn("nats: " + fmt.Sprintf(f, v...)) }
func (n natsLogger) Fatalf(f string, v ...any)  { n.l.Error("nats: " + fmt.Sprintf(f, v...)) }
func (n natsLogger) Errorf(f string, v ...any)  { n.l.Error("nats: " + fmt.Sprintf(f, v...)) }
func (n natsLogger) Debugf(f string, v ...any)  { n.l.Debug("nats: " + fmt.Sprintf(f, v...)) }
func (n natsLogger) Tracef(f string, v ...any)  { n.l.Debug("nats: " + fmt.Sprintf(f, v...)) }
