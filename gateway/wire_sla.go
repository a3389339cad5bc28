package gateway

import (
	"context"
	"errors"

	"github.com/hotline12345/gateway/connectors/intakelog"
	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/sessions/sla"
	"github.com/hotline12345/gateway/sessions/timers"
)

// wireSLA builds the timeliness clocks and the ticket-events consumer.
func (g *Gateway) wireSLA() error {
	c := g.cfg.SLA
	svc, err := sla.New(sla.Config{FirstResponse: c.FirstResponse, NextResponse: c.NextResponse, Handling: c.Handling,
		LeadResponse: c.WarningLead.Response, LeadHandling: c.WarningLead.Handling}, g.intake, g.timersClock(), g.log)
	if err != nil {
		return err
	}
	g.sla = svc
	g.Register(svc.Collectors()...)
	svc.SetLive(g.hub)
	g.hub.SetHooks(livechatHooks(svc))
	if err := svc.Load(context.Background()); err != nil {
		return err
	}
	return nil
}

func (g *Gateway) timersClock() timers.Clock {
	if g.timersClk != nil {
		return g.timersClk
	}
	return timers.System
}

// replyToCitizen delivers a ticket's reply on the channel the request came
// from: into its live chat (which also reaches WeChat and SMS), to a partner
// as a status webhook, and for web and app through the request's status.
func (g *Gateway) replyToCitizen(ctx context.Context, req *intakelog.Request, ev *normalize.TicketEvent) error {
	var errs []error
	if req.SessionID != "" && ev.Reply != nil {
		errs = append(errs, g.hub.Deliver(ctx, req.SessionID, "agent", ev.Reply.Text))
	}
	for _, n := range g.statusNotifiers {
		errs = append(errs, n(ctx, req, ev))
	}
	return errors.Join(errs...)
}

// runTickets consumes ticket.events until ctx ends.
func (g *Gateway) runTickets(ctx context.Context) {
	t := g.cfg.Kafka.Topics
	c := kafka.NewConsumer(g.brokers, g.cfg.Kafka.ConsumerGroup, t.Tickets, t.DeadLetter, g.producer, g.log)
	c.Run(ctx, func(ctx context.Context, _, value []byte) error {
		err := g.sla.Ticket(ctx, value, g.replyToCitizen)
		if errors.Is(err, sla.ErrInvalidTicket) {
			return errors.Join(kafka.ErrPoison, err)
		}
		return err
	})
}

func livechatHooks(svc *sla.Service) livechat.Hooks {
	bg := context.Background()
	return livechat.Hooks{
		CitizenMessage: func(s sessions.Session, m sessions.Message) { svc.CitizenMessage(bg, s, m) },
		AgentMessage:   func(s sessions.Session, m sessions.Message) { svc.AgentMessage(bg, s, m) },
	}
}
