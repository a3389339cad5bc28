package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/normalize"
)

// wirePartners builds the Suishenban and Yiwangtongban channels and the
// durable outbound webhook queue that tells them what became of requests.
func (g *Gateway) wirePartners(enabled map[string]bool) error {
	o := delivery.Options{AllowHosts: g.cfg.Webhooks.AllowHosts, Clock: g.clock, Logger: g.log}
	if g.cfg.Clustered() {
		o.Poll = time.Second // the other nodes enqueue into the shared store too
	}
	q := delivery.New(g.db, o)
	g.webhooks = q
	g.Register(q.Collectors()...)
	q.MountAdmin(g.echo, g.cfg.Auth.AdminToken)
	var chans []*partner.Channel
	for name, cfg := range map[string]struct {
		enabled bool
		ch      string
	}{normalize.ChannelSuishenban: {enabled[normalize.ChannelSuishenban], normalize.ChannelSuishenban},
		normalize.ChannelYiwangtongban: {enabled[normalize.ChannelYiwangtongban], normalize.ChannelYiwangtongban}} {
		if !cfg.enabled {
			continue
		}
		pc := g.cfg.Channels.Suishenban
		if name == normalize.ChannelYiwangtongban {
			pc = g.cfg.Channels.Yiwangtongban
		}
		c, err := partner.New(name, g.deps(), pc, q, g.intake, partner.Options{})
		if err != nil {
			return err
		}
		c.Mount(g.echo)
		if c.Webhooks() { // the "accepted" webhook is queued in the accepting transaction
			g.intake.OnAccept(c.OnAccept)
			g.intake.AfterAccept(c.AfterAccept)
		}
		chans = append(chans, c)
		g.statusAuth = append(g.statusAuth, c.StatusOwner)
	}
	if len(chans) == 0 {
		return nil
	}
	// Ticket statuses and replies, and timeliness warnings and breaches, go
	// to the partner that forwarded the request.
	g.statusNotifiers = append(g.statusNotifiers, func(ctx context.Context, req *intakelog.Request, ev *normalize.TicketEvent) error {
		reply := ""
		if ev.Reply != nil {
			reply = ev.Reply.Text
		}
		for _, c := range chans {
			if c.Name() == req.Channel {
				return c.NotifyStatus(ctx, req.ID, ev.Status, ev.At, reply)
			}
		}
		return nil
	})
	g.partners = chans
	return nil
}

// partnerTimeliness tells the partner that forwarded a request of a warning
// or breach of its clocks (request.timeliness webhook).
func (g *Gateway) partnerTimeliness(ctx context.Context, req *intakelog.Request, clock, state string, due time.Time) {
	for _, c := range g.partners {
		if c.Name() == req.Channel {
			if err := c.NotifyTimeliness(ctx, req.ID, clock, state, due); err != nil && !errors.Is(err, partner.ErrForeign) {
				g.log.Warn("partner timeliness webhook not queued", "partner", c.Name(), "err", err)
			}
		}
	}
}
