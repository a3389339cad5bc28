package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/hotline12345/gateway/auth/agentlogin"
	"github.com/hotline12345/gateway/auth/loginguard"
	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/channels/signlang"
	webch "github.com/hotline12345/gateway/channels/web"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/livechat/web"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/timeliness/sla"
)

// wireChannels builds every enabled channel and mounts its routes. The list
// is explicit: a channel exists because it is named here.
func (g *Gateway) wireChannels() error {
	g.chState = g.cfg.ChannelStatus()
	enabled := map[string]bool{}
	for _, st := range g.chState {
		enabled[st.Name] = st.Enabled
	}
	d := g.deps()
	var mounted []channels.Channel

	var appCh *app.Channel
	if enabled["app"] {
		appCh = app.New(d, g.cfg.Channels.App, g.cfg.RateLimit, g.intake)
		mounted = append(mounted, appCh)
		g.statusAuth = append(g.statusAuth, appCh.StatusOwner)
	}
	if enabled["web"] {
		var appAuth webch.AppAuth
		if appCh != nil {
			appAuth = appCh.CitizenSubject
		}
		mounted = append(mounted, webch.New(d, g.cfg.Channels.Web, g.cfg.RateLimit, appAuth))
	}
	for _, ch := range mounted {
		ch.Mount(g.echo)
	}
	// In dependency order. The hub comes last of the core: it needs the
	// clocks' MessageTx and the sign-language hooks at construction, and
	// those reach the hub through hubLink, at call time.
	if err := g.wirePartners(enabled); err != nil {
		return err
	}
	if err := g.wireTriage(); err != nil {
		return err
	}
	if err := g.wireSLA(); err != nil {
		return err
	}
	if err := g.wireFollowUp(); err != nil {
		return err
	}
	video := g.wireSignLanguage()
	if err := g.wireLiveChat(video); err != nil {
		return err
	}
	return g.wireMessaging(enabled)
}

// hubLink is the live-chat hub as the timeliness clocks (alerts,
// escalation) and the sign-language channel (video queue) see it. They are
// built before the hub, which needs them at its construction; by the time
// either calls, the gateway has its hub.
type hubLink struct{ g *Gateway }

var (
	_ sla.Live       = hubLink{}
	_ signlang.Queue = hubLink{}
)

func (l hubLink) Alert(sessionID, state, clock string, due time.Time) {
	l.g.chat.Alert(sessionID, state, clock, due)
}
func (l hubLink) Escalate(ctx context.Context, sessionID string)  { l.g.chat.Escalate(ctx, sessionID) }
func (l hubLink) SessionInfo(sid string) (sessions.Session, bool) { return l.g.chat.SessionInfo(sid) }
func (l hubLink) VideoQueue(citizen, channel string) (int, time.Duration) {
	return l.g.chat.VideoQueue(citizen, channel)
}

// wireLiveChat builds the live-chat hub: agents, websockets, sessions.
func (g *Gateway) wireLiveChat(video livechat.Video) error {
	agents, err := g.cfg.AgentSpecs()
	if err != nil {
		return err
	}
	if len(agents) == 0 {
		g.log.Warn("no agents configured (agents / agents_file): live chat queues citizens but nobody can answer")
	}
	g.agents = roster{}
	for _, a := range agents {
		g.agents[a.ID] = a
	}
	// The hub writes only while it holds the chat lease (cluster mode; one
	// node passes the zero fence, always held): a home paused past its lease
	// (a VM stall) stores nothing its successor may store too. Held is read
	// from memory: reading the lease in every transaction cost each chat
	// message a round trip to PostgreSQL.
	build := func(fence lease.Fence) (*livechat.Hub, error) {
		writable := func() error {
			if !fence.Held(time.Second) {
				return fmt.Errorf("live chat: %w: this node is no longer the chat home", lease.ErrLost)
			}
			return nil
		}
		return livechat.New(livechat.Config{LiveChat: g.cfg.LiveChat, AllowedOrigins: g.cfg.HTTP.AllowedOrigins,
			AgentTokenTTL: g.cfg.Auth.AgentTokenTTL, ResponseWindow: g.cfg.SLA.NextResponse, AbandonAfter: g.cfg.LiveChat.AbandonAfter, Receipt: sla.Receipt, MessageTx: g.sla.MessageTx,
			LanguageWait: g.cfg.Routing.LanguageWait, RequiredSkills: g.cfg.Routing.RequiredSkills, InitialPresence: g.cfg.AgentsInitialPresence,
			Emergency: g.triage.Emergency, CitizenRequests: g.triage.Requests, MediaAllowHosts: g.cfg.Webhooks.AllowHosts,
			CloseTx: g.hubCloseTx, Writable: writable},
			livechat.Deps{DB: g.db, Intake: g.intake, Stamp: g.stamp, Tokens: g.tokens, Logger: g.log, Agents: agents, Clock: g.clock,
				ClientIP: g.clientIP, Video: video})
	}
	agentlogin.New(g.loginGuard(agents), g.agents, g.tokens, g.cfg.Auth.AgentTokenTTL).Mount(g.echo)
	web.Mount(g.echo)      // the agent console and the citizen widget
	if g.cfg.Clustered() { // one node runs the hub at a time (chathome.go)
		g.chatHome = newChatHome(g, build)
		g.chat = g.chatHome
		g.chatHome.mount(g.echo)
		return nil // Shutdown stops the chat home first
	}
	h, err := build(lease.Fence{})
	if err != nil {
		return err
	}
	g.hub, g.chat = h, h
	g.Register(h.Collectors()...)
	h.Mount(g.echo)
	g.onShutdown(h.Close)
	return nil
}

// onHub applies f to the hub: at once on one node; in a cluster to the hub
// of each term of this node as the chat home.
func (g *Gateway) onHub(f func(*livechat.Hub)) {
	if g.chatHome != nil {
		g.chatHome.register(f)
		return
	}
	f(g.hub)
}

// roster is the configured agents (agents, agents_file), by id.
type roster map[string]configs.AgentSpec

// Agent returns an agent's configuration (the login checks passwords
// against it).
func (r roster) Agent(id string) (configs.AgentSpec, bool) {
	a, ok := r[id]
	return a, ok
}

// loginGuard throttles agent logins and counts them (gateway_agent_logins_total).
func (g *Gateway) loginGuard(agents []configs.AgentSpec) *loginguard.Guard {
	o := loginguard.Options{Clock: g.clock, Logger: g.log, HashCost: agentlogin.HashCost(agents)}
	if len(g.bcryptWorker) > 0 {
		w := loginguard.NewWorker(g.log, g.bcryptWorker...)
		g.onShutdown(func(context.Context) error { return w.Close() })
		o.Compare = w.Compare
	}
	lg := loginguard.New(g.cfg.Auth.Login, o)
	g.Register(lg.Collectors()...)
	return lg
}
