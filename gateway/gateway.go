// Package gateway builds the whole intake gateway from its configuration and
// runs it: the durable store and intake log, Kafka (embedded or external) and
// the relay, the HTTP server with every channel, and an orderly shutdown.
// This is the one place where channels and connectors are wired together.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/relay"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/logsample"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/timeliness/sla"
	"github.com/hotline12345/gateway/timeliness/timers"
	"github.com/hotline12345/gateway/triage"
)

// Options are what tests inject; zero values mean the real thing.
type Options struct {
	// Clock is every component's time source: timestamps, timeliness
	// clocks, rate limits, token expiry, timers (tests pass a clock.Fake and
	// Advance it); nil means clock.System.
	Clock  clock.Clock
	Logger *slog.Logger
	// BcryptWorker is the command of the process that compares agents'
	// passwords (cmd/gateway: its own binary with loginguard.WorkerArg), so
	// that a login storm does not take intake's CPU. Empty: in-process.
	BcryptWorker []string
}

// Gateway is one running gateway process.
type Gateway struct {
	cfg *configs.Config
	log *slog.Logger
	now func() time.Time
	db  *store.DB
	// commitSeconds observes the store's commits (gateway_store_commit_seconds).
	commitSeconds prometheus.Histogram
	intake        *intakelog.Log
	tokens        *tokens.Signer
	stamp         normalize.Stamp

	broker   *kafka.Embedded
	brokers  []string
	producer *kafka.Producer
	relay    *relay.Relay

	bcryptWorker []string

	echo     *echo.Echo
	srv      *http.Server
	ln       net.Listener
	draining atomic.Bool
	metrics  *metrics
	// refusals samples the audit lines of 429s (logRefusal).
	refusals *logsample.Sampler
	// chat is live chat as the other components call it: the hub on one
	// node; in a cluster chatHome, which reaches the node running the hub.
	chat     chatCore
	hub      *livechat.Hub // one node's hub (nil in a cluster)
	chatHome *chatHome     // cluster mode
	agents   roster
	sla      *sla.Service
	// ticketLag is how far the ticket.events consumer is behind.
	ticketLag *kafka.Lag
	webhooks  *delivery.Queue
	triage    *triage.Triager
	partners  []*partner.Channel
	followup  *followup.Service
	// deliverers are the messaging channels' (WeChat, SMS), for surveys.
	deliverers map[string]channels.Deliverer

	clock           clock.Clock
	background      []func(ctx context.Context) // component loops started by Start
	statusNotifiers []func(ctx context.Context, req *intakelog.Request, ev *normalize.TicketEvent) error
	chState         []configs.ChannelState

	// statusAuth decide who may read a request's status (owner strings).
	statusAuth []StatusAuthorizer

	bg       sync.WaitGroup
	bgCancel context.CancelFunc
	closers  []func(context.Context) error // run in reverse order at shutdown, before the relay drains
	shutOnce sync.Once
	shutErr  error
}

// StatusAuthorizer returns the owner a request presents ("citizen:<sub>",
// "app:<key>", "partner:<name>"), or ok=false if it does not apply.
// An owner ending in ":*" stands for every owner it is the prefix of (an
// app's backend reads what any of its users filed).
type StatusAuthorizer func(r *http.Request) (owner string, ok bool, err error)

// owns tells whether the reader authorized as owner may read a request
// whose owner is reqOwner.
func owns(owner, reqOwner string) bool {
	if prefix, all := strings.CutSuffix(owner, "*"); all && strings.HasSuffix(prefix, ":") {
		return strings.HasPrefix(reqOwner, prefix)
	}
	return reqOwner == owner
}

// Buckets every component keeps in the store.
var buckets = slices.Concat([]string{"gateway", unsupportedBucket, sla.BucketTickets, bucketWechatCache}, intakelog.Buckets, sessions.Buckets, timers.Buckets, delivery.Buckets, sms.Buckets, triage.Buckets, followup.Buckets, lease.Buckets)

// New builds the gateway; nothing listens until Start.
func New(cfg *configs.Config, opts Options) (_ *Gateway, err error) {
	if opts.Clock == nil {
		opts.Clock = clock.System
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}))
	}
	g := &Gateway{cfg: cfg, log: opts.Logger, clock: opts.Clock, now: opts.Clock.Now, bcryptWorker: opts.BcryptWorker,
		deliverers: map[string]channels.Deliverer{}}
	defer func() {
		if err != nil {
			g.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("gateway: cannot create data_dir %s: %w", cfg.DataDir, err)
	}
	g.commitSeconds = newCommitHistogram()
	onCommit := func(d time.Duration) { g.commitSeconds.Observe(d.Seconds()) }
	if cfg.Clustered() { // contract §8: the shared store
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Store.UnavailableBudget)
		g.db, err = store.OpenPostgres(ctx, cfg.Store.URL, store.PostgresOptions{OnCommit: onCommit,
			UnavailableBudget: cfg.Store.UnavailableBudget}, buckets...)
		cancel()
		if err == nil {
			g.log.Info("cluster mode: shared store opened", "node", g.nodeID())
		}
	} else {
		g.db, err = store.Open(filepath.Join(cfg.DataDir, "gateway.db"), store.Options{OnCommit: onCommit}, buckets...)
	}
	if err != nil {
		return nil, err
	}
	var logOpts []intakelog.Option
	if cfg.Clustered() {
		logOpts = append(logOpts, intakelog.SharedNumbers(100), intakelog.Lane(g.nodeID()))
	}
	g.intake = intakelog.New(g.db, intakelog.Topics{Envelopes: cfg.Kafka.Topics.Envelopes, Events: cfg.Kafka.Topics.Events}, g.clock, logOpts...)
	salt, err := g.citizenKeySalt()
	if err != nil {
		return nil, err
	}
	g.stamp = normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: salt}, FirstResponse: cfg.SLA.FirstResponse,
		Handling: cfg.SLA.Handling, Clock: g.clock}
	if cfg.Auth.TokenSecret == "" {
		g.log.Warn("auth.token_secret not set: tokens are signed with a random key and die with the process")
	}
	g.tokens = tokens.NewSigner(cfg.Auth.TokenSecret, g.clock)

	if len(cfg.Kafka.Brokers) == 0 {
		g.broker, err = kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: cfg.Kafka.Embedded.Addr, Advertise: cfg.Kafka.Embedded.Advertise,
			Dir: filepath.Join(cfg.DataDir, "kafka"), Partitions: 3},
			cfg.Kafka.Topics.Envelopes, cfg.Kafka.Topics.Events, cfg.Kafka.Topics.Tickets, cfg.Kafka.Topics.DeadLetter)
		if err != nil {
			return nil, err
		}
		g.brokers = []string{g.broker.Addr()}
		g.log.Info("embedded kafka broker started", "addr", g.broker.Addr(), "dir", filepath.Join(cfg.DataDir, "kafka"))
	} else {
		g.brokers = cfg.Kafka.Brokers
	}
	g.producer = kafka.NewProducer(g.brokers)
	g.relay = relay.New(g.intake, g.producer, clock.System, g.log)
	g.metrics = newMetrics(g)
	g.buildHTTP()
	if err := g.wireChannels(); err != nil {
		return nil, err
	}
	return g, nil
}

// singleton runs work that must have one owner: in cluster mode on the node
// that holds its lease (taken over within ~20 s when that node dies), with
// the lease's fence for the work's store transactions; on one node always,
// with the zero fence, which always passes.
func (g *Gateway) singleton(ctx context.Context, name string, work func(context.Context, lease.Fence)) {
	if !g.cfg.Clustered() {
		work(ctx, lease.Fence{})
		return
	}
	lease.Run(ctx, lease.New(g.db, name, g.nodeID(), 15*time.Second, nil), g.log, work)
}

// memberLease prefixes the lease each node of a cluster holds while it runs.
const memberLease = "node/"

// peers are the other nodes of the cluster that are running (holding their
// member lease).
func (g *Gateway) peers() ([]string, error) {
	all, err := lease.Holders(g.db, memberLease, time.Now())
	return slices.DeleteFunc(all, func(id string) bool { return id == g.nodeID() }), err
}

// adoptTimers schedules the timers other nodes stored (cluster mode) once
// one of those nodes is gone, so that the clocks and surveys of a node that
// died fire on the others within 30 s of their due time; the store decides
// which node's firing counts, once. While every node runs, each fires the
// timers it set (and those it found at its start): loading every node's
// timers on every node all the time cost each node CPU and memory in
// proportion to the whole cluster's open clocks. A node is gone when it no
// longer holds its member lease (15 s after its last renewal), and this
// looks every 5 s: its timers are scheduled here within 20 s of its death.
func (g *Gateway) adoptTimers(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var known []string // the peers running at the last look
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		peers, err := g.peers()
		if err != nil {
			continue // the store is away: look again next time
		}
		gone := slices.DeleteFunc(known, func(id string) bool { return slices.Contains(peers, id) })
		known = peers
		if len(gone) == 0 {
			continue
		}
		g.log.Info("cluster: peers gone; adopting the shared timers", "gone", gone)
		for _, load := range []func(context.Context) error{g.sla.Load, g.followup.Load} {
			if err := load(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("cluster mode: cannot load the shared timers", "err", err)
				known = append(known, gone...) // try again at the next look
			}
		}
	}
}

// nodeID names this node (cluster.node_id, or the host name).
func (g *Gateway) nodeID() string {
	if g.cfg.Cluster.NodeID != "" {
		return g.cfg.Cluster.NodeID
	}
	h, _ := os.Hostname()
	return h
}

func (g *Gateway) citizenKeySalt() ([]byte, error) {
	var salt []byte
	err := g.db.Update(context.Background(), func(tx *store.Tx) error {
		b := tx.Bucket([]byte("gateway"))
		if v := b.Get([]byte("citizen_key_salt")); v != nil {
			salt = append([]byte(nil), v...)
			return nil
		}
		salt = make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		return b.Put([]byte("citizen_key_salt"), salt)
	})
	return salt, err
}

// deps returns what every channel is built with.
func (g *Gateway) deps() channels.Deps {
	return channels.Deps{Intake: g.intake, Stamp: g.stamp, Tokens: g.tokens, Logger: g.log, Clock: g.clock,
		MaxBody: g.cfg.HTTP.MaxBodyBytes, ClientIP: g.clientIP, CitizenTTL: g.cfg.Auth.CitizenTokenTTL}
}

// clientIP is a request's client: as the relaying node saw it when another
// node of the cluster relays live chat here.
func (g *Gateway) clientIP(r *http.Request) string {
	if g.chatHome != nil {
		if ip := g.chatHome.clientIP(r); ip != "" {
			return ip
		}
	}
	return g.echo.IPExtractor(r)
}

// Start listens on http.addr and starts the background work.
func (g *Gateway) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("gateway: cannot listen on %s: %w", g.cfg.HTTP.Addr, err)
	}
	g.ln = ln
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.bgCancel = cancel
	g.goBG(func() { g.singleton(bgCtx, "relay", g.relay.Run) })
	g.goBG(func() { g.janitor(bgCtx) })
	g.goBG(func() { g.sla.Run(bgCtx) })
	g.goBG(func() { g.runTickets(bgCtx) })
	g.goBG(func() {
		g.singleton(bgCtx, "webhooks", func(ctx context.Context, f lease.Fence) { _ = g.webhooks.Run(ctx, f) })
	})
	if g.cfg.Clustered() {
		g.chatHome.start(bgCtx)
		g.goBG(func() { g.adoptTimers(bgCtx) })
		// A node is a member while it holds the lease named after it: the
		// others list it as a peer (/readyz) until it stops renewing.
		g.goBG(func() {
			lease.Run(bgCtx, lease.New(g.db, memberLease+g.nodeID(), g.nodeID(), 15*time.Second, nil), g.log,
				func(ctx context.Context, _ lease.Fence) { <-ctx.Done() })
		})
	}
	for _, run := range g.background {
		g.goBG(func() { run(bgCtx) })
	}
	for _, st := range g.chState {
		if st.Enabled {
			g.log.Info("channel enabled", "channel", st.Name)
		} else {
			g.log.Warn("channel disabled", "channel", st.Name, "reason", st.Reason)
		}
	}
	g.goBG(func() {
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("http server stopped", "err", err)
		}
	})
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "data_dir", g.cfg.DataDir, "kafka", g.brokers, "gomaxprocs", runtime.GOMAXPROCS(0))
	return nil
}

func (g *Gateway) goBG(f func()) {
	g.bg.Add(1)
	go func() { defer g.bg.Done(); f() }()
}

// Addr is the HTTP listen address (useful with port 0).
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// KafkaBrokers are the brokers in use (the embedded one's address if embedded).
func (g *Gateway) KafkaBrokers() []string { return g.brokers }

// Intake exposes the intake log (tests, tools).
func (g *Gateway) Intake() *intakelog.Log { return g.intake }

// SLA exposes the timeliness service (tests).
func (g *Gateway) SLA() *sla.Service { return g.sla }

// FollowUp exposes the follow-up service (tests).
func (g *Gateway) FollowUp() *followup.Service { return g.followup }

// Hub exposes live chat (tests, other components).
// In a cluster it is nil unless this node is the chat home.
func (g *Gateway) Hub() *livechat.Hub {
	if g.chatHome != nil {
		return g.chatHome.local.Load()
	}
	return g.hub
}

// Echo exposes the router (tests).
func (g *Gateway) Echo() *echo.Echo { return g.echo }

// onShutdown registers a component's stop function; they run in reverse
// order after HTTP has drained and before the relay flushes.
func (g *Gateway) onShutdown(f func(context.Context) error) { g.closers = append(g.closers, f) }

func (g *Gateway) janitor(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := g.intake.Compact(ctx, g.cfg.Outbox.Retention)
			if err != nil {
				g.log.Warn("compaction failed", "err", err)
			} else if n > 0 {
				g.log.Info("compacted intake log", "removed", n)
			}
			// Closed conversations are kept as long as handled requests.
			cutoff := g.now().Add(-max(g.cfg.Outbox.Retention, intakelog.RequestRetention))
			if err := g.db.Update(ctx, func(tx *store.Tx) error {
				_, err := sessions.Compact(tx, cutoff, 500)
				return err
			}); err != nil {
				g.log.Warn("session compaction failed", "err", err)
			}
		}
	}
}

// Shutdown stops in phases: refuse new work (503) and let in-flight requests
// finish, stop components, flush the relay to Kafka, close Kafka, close the
// store. Anything acknowledged is in the store whatever happens here.
// Idempotent.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.shutOnce.Do(func() {
		g.draining.Store(true)
		g.log.Info("shutting down: draining in-flight requests")
		var errs []error
		// Live chat first (cluster mode): its clients reconnect to other
		// nodes, and another node takes the chat home, while this one drains.
		if g.chatHome != nil {
			if err := g.chatHome.stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("live chat: %w", err))
			}
		}
		if g.srv != nil {
			hctx, cancel := context.WithTimeout(ctx, max(time.Until(deadline(ctx))*6/10, time.Second))
			if err := g.srv.Shutdown(hctx); err != nil {
				errs = append(errs, fmt.Errorf("http: %w", err))
				g.srv.Close()
			}
			cancel()
		}
		for i := len(g.closers) - 1; i >= 0; i-- {
			if err := g.closers[i](ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if g.bgCancel != nil {
			g.bgCancel()
		}
		g.bg.Wait()
		// One node drains its relay. In a cluster the relay's lease holder
		// publishes every node's lane: a drain here, without the lease,
		// would publish again what it is publishing.
		if g.relay != nil && !g.cfg.Clustered() {
			dctx, cancel := context.WithTimeout(ctx, max(time.Until(deadline(ctx))/2, 500*time.Millisecond))
			if err := g.relay.Drain(dctx); err != nil {
				g.log.Warn("relay not drained; the rest is relayed at next start", "err", err)
			}
			cancel()
		}
		g.closeAll()
		g.shutErr = errors.Join(errs...)
		g.log.Info("shutdown complete")
	})
	return g.shutErr
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(10 * time.Second)
}

func (g *Gateway) closeAll() {
	if g.producer != nil {
		g.producer.Close()
	}
	if g.broker != nil {
		g.broker.Close()
	}
	if g.db != nil {
		g.db.Close()
	}
}
