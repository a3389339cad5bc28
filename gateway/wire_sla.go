package gateway

import (
	"context"
	"crypto/subtle"
	"strings"

	"errors"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/internal/apierr"

	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/timeliness/report"
	"github.com/hotline12345/gateway/timeliness/sla"
)

// wireSLA builds the timeliness clocks and the ticket-events consumer.
func (g *Gateway) wireSLA() error {
	c := g.cfg.SLA
	svc, err := sla.New(sla.Config{FirstResponse: c.FirstResponse, NextResponse: c.NextResponse, Handling: c.Handling,
		LeadResponse: c.WarningLead.Response, LeadHandling: c.WarningLead.Handling}, g.intake, g.clock, g.log, hubLink{g}, g.partnerTimeliness)
	if err != nil {
		return err
	}
	g.intake.OnAccept(svc.OnAccept) // the clocks start in the accepting transaction
	g.sla = svc
	g.Register(svc.Collectors()...)
	g.ticketLag = kafka.NewLag(nil) // records carry the producers' wall-clock times
	g.Register(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_ticket_events_lag_messages",
			Help: "ticket.events records the gateway has not handled yet, up to the high watermark as of its last fetch."},
			func() float64 { return float64(g.ticketLag.Messages()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_ticket_events_lag_seconds",
			Help: "Age of the oldest ticket.events record not handled yet (the one being handled or retried); 0 when caught up."},
			g.ticketLag.Seconds))
	g.echo.GET("/v1/timeliness", report.Handler(g.intake.ForEachRequest, g.clock), g.requireAdmin)
	if err := svc.Load(context.Background()); err != nil {
		return err
	}
	return nil
}

// replyToCitizen delivers a ticket's reply on the channel the request came
// from: into its live chat (which also reaches WeChat and SMS), to a partner
// as a status webhook, and for web and app through the request's status.
func (g *Gateway) replyToCitizen(ctx context.Context, req *intakelog.Request, ev *normalize.TicketEvent) error {
	var errs []error
	if req.SessionID != "" && ev.Reply != nil {
		errs = append(errs, g.chat.Deliver(ctx, req.SessionID, "agent", ev.Reply.Text))
	}
	for _, n := range g.statusNotifiers {
		errs = append(errs, n(ctx, req, ev))
	}
	return errors.Join(errs...)
}

// runTickets consumes ticket.events until ctx ends.
func (g *Gateway) runTickets(ctx context.Context) {
	t := g.cfg.Kafka.Topics
	c := kafka.NewConsumer(g.brokers, g.cfg.Kafka.ConsumerGroup, t.Tickets, t.DeadLetter, g.producer, g.log).ReportLag(g.ticketLag)
	c.Run(ctx, func(ctx context.Context, _, value []byte) error {
		err := g.sla.Ticket(ctx, value, g.replyToCitizen)
		if errors.Is(err, sla.ErrInvalidTicket) {
			return errors.Join(kafka.ErrPoison, err)
		}
		if err != nil {
			return err
		}
		// Idempotent, like the line above: a record seen again after a
		// crash between the two finishes what the first run began.
		return g.followup.Ticket(ctx, value)
	})
}

// requireAdmin guards operator endpoints with auth.admin_token (Bearer).
// With no admin token configured they are refused, so that nothing is
// exposed by default.
func (g *Gateway) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		want := g.cfg.Auth.AdminToken
		got, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if want == "" {
			return apierr.New(apierr.CodeForbidden, "operator endpoints are disabled: set auth.admin_token")
		}
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return apierr.New(apierr.CodeUnauthorized, "Authorization: Bearer <auth.admin_token> required")
		}
		return next(c)
	}
}
