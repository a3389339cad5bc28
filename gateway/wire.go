package gateway

import (
	"net/http"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/channels/web"
	"github.com/hotline12345/gateway/connectors/intakelog"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize/apierr"
	"github.com/hotline12345/gateway/sessions/sla"
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
		appCh = app.New(d, g.cfg.Channels.App, g.cfg.RateLimit)
		mounted = append(mounted, appCh)
		v := appCh.Verifier()
		g.statusAuth = append(g.statusAuth, func(r *http.Request) (string, bool, error) {
			if r.Header.Get("X-App-Key") == "" {
				return "", false, nil
			}
			s, err := v.Verify(r, nil)
			if err != nil {
				return "", true, err
			}
			if err := g.intake.UseNonce(r.Context(), "app:"+s.AppKey, s.Nonce); err != nil {
				return "", true, apierr.Wrap(apierr.CodeReplay, "X-Nonce was already used", err)
			}
			return "app:" + s.AppKey, true, nil
		})
	}
	if enabled["web"] {
		w := web.New(d, g.cfg.Channels.Web, g.cfg.RateLimit)
		if appCh != nil {
			v := appCh.Verifier()
			w.AppAuth = func(r *http.Request, body []byte) (string, error) {
				s, err := v.Verify(r, body)
				if err != nil {
					return "", err
				}
				if err := g.intake.UseNonce(r.Context(), "app:"+s.AppKey, s.Nonce); err != nil {
					return "", apierr.Wrap(apierr.CodeReplay, "X-Nonce was already used", err)
				}
				return s.AppKey + ":" + r.Header.Get("X-App-User"), nil
			}
		}
		mounted = append(mounted, w)
	}
	for _, ch := range mounted {
		ch.Mount(g.echo)
	}
	_ = intakelog.ErrReplay
	if err := g.wireLiveChat(); err != nil {
		return err
	}
	if err := g.wireSLA(); err != nil {
		return err
	}
	return g.wireMessaging(enabled)
}

// wireLiveChat builds the live-chat hub: agents, websockets, sessions.
func (g *Gateway) wireLiveChat() error {
	agents, err := g.cfg.AgentSpecs()
	if err != nil {
		return err
	}
	if len(agents) == 0 {
		g.log.Warn("no agents configured (agents / agents_file): live chat queues citizens but nobody can answer")
	}
	h, err := livechat.New(livechat.Config{LiveChat: g.cfg.LiveChat, AllowedOrigins: g.cfg.HTTP.AllowedOrigins,
		AgentTokenTTL: g.cfg.Auth.AgentTokenTTL, ResponseWindow: g.cfg.SLA.NextResponse, Receipt: sla.Receipt},
		livechat.Deps{DB: g.db, Intake: g.intake, Stamp: g.stamp, Tokens: g.tokens, Logger: g.log, Agents: agents})
	if err != nil {
		return err
	}
	g.hub = h
	h.Mount(g.echo)
	g.onShutdown(h.Close)
	return nil
}
