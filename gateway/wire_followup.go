package gateway

import (
	"context"
	"fmt"
	"net"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/followup/page"
	"github.com/hotline12345/gateway/followup/report"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/labstack/echo/v4"
)

// wireFollowUp builds the follow-up survey service (contract §9). It is
// built before the hub, whose chat closes start surveys (hubCloseTx), and
// sends through the hub and the channels at call time.
func (g *Gateway) wireFollowUp() error {
	c := g.cfg.Survey
	q, err := configs.ParseQuietHours(c.QuietHours, c.Timezone)
	if err != nil {
		return err
	}
	base := c.BaseURL
	if base == "" {
		host, port, _ := net.SplitHostPort(g.cfg.HTTP.Addr)
		if host == "" {
			host = "localhost"
		}
		base = "http://" + net.JoinHostPort(host, port)
		g.log.Warn("survey.base_url not set: survey links point at " + base + ", which only this machine can open")
	}
	svc, err := followup.New(followup.Config{BaseURL: base, Expire: c.Expire, RemindAfter: c.RemindAfter, Delay: c.Delay,
		Quiet: q}, g.intake, g.clock, g.log, g.sendSurvey)
	if err != nil {
		return err
	}
	if err := svc.Load(context.Background()); err != nil {
		return err
	}
	g.followup = svc
	// The code is the credential: the page and its POST take no token.
	page.Mount(g.echo, svc, page.Options{MaxBody: g.cfg.HTTP.MaxBodyBytes, Logger: g.log})
	g.echo.GET("/v1/surveys/report", report.Handler(svc.ForEach, g.clock), g.requireAdminOrSupervisor)
	g.Register(svc.Collectors()...)
	g.background = append(g.background, svc.Run)
	return nil
}

// hubCloseTx starts the survey of a chat its agent closed, in the closing
// transaction; the hub puts it in the chat.
func (g *Gateway) hubCloseTx(tx *store.Tx, r *sessions.Session, _, reason string) (*livechat.SurveyData, error) {
	if reason != "closed_by_agent" {
		return nil, nil
	}
	rec, err := g.followup.ChatClosedTx(tx, r.EnvelopeID)
	if err != nil || rec == nil {
		return nil, err
	}
	return surveyData(g.followup, rec), nil
}

func surveyData(s *followup.Service, r *followup.Record) *livechat.SurveyData {
	return &livechat.SurveyData{EnvelopeID: r.EnvelopeID, Number: r.Number, Code: r.Code, URL: s.URL(r.Code), ExpiresAt: r.ExpiresAt}
}

// sendSurvey delivers a survey on the request's own channel: a status
// webhook to a partner, a message on WeChat and SMS; on the web and in the
// app it is on the status answer, and in the chat if one is open.
func (g *Gateway) sendSurvey(ctx context.Context, r *followup.Record, url string, reminder bool) error {
	for _, p := range g.partners {
		if p.Name() == r.Channel {
			return p.NotifySurvey(ctx, partner.SurveyNotice{EnvelopeID: r.EnvelopeID, URL: url, ExpiresAt: r.ExpiresAt, Reminder: reminder})
		}
	}
	switch r.Channel {
	case normalize.ChannelSMS, normalize.ChannelWechat:
		d := g.deliverers[r.Channel]
		if d == nil {
			return fmt.Errorf("gateway: channel %s is disabled: no survey can be sent on it", r.Channel)
		}
		return d.Deliver(ctx, channels.Outbound{Channel: r.Channel, ChannelUserID: r.ChannelUserID, EnvelopeID: r.EnvelopeID,
			SessionID: r.SessionID, Text: followup.Text(r.Channel, url, reminder), Kind: "survey"})
	}
	if r.SessionID != "" {
		g.chat.Survey(r.SessionID, *surveyData(g.followup, r))
	}
	return nil
}

// requireAdminOrSupervisor lets the operator token through, and a
// supervisor's agent token (the console's Wall shows the report).
func (g *Gateway) requireAdminOrSupervisor(next echo.HandlerFunc) echo.HandlerFunc {
	admin := g.requireAdmin(next)
	return func(c echo.Context) error {
		id, ok := g.agentReader(c.Request())
		if !ok {
			return admin(c)
		}
		if spec, _ := g.agents.Agent(id); !spec.Supervisor() {
			return apierr.New(apierr.CodeForbidden, "only a supervisor or the operator may read the satisfaction report")
		}
		return next(c)
	}
}
