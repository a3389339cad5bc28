package gateway

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels/signlang"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// wireSignLanguage builds the sign-language video channel (after wireSLA)
// and returns the hub's video hooks: the calendar gate and ICE servers of
// video sessions, and the stop of a video request's first-response clock
// when an agent accepts the call. A calendar that does not parse disables
// the channel (start-up log, /readyz) rather than the gateway.
func (g *Gateway) wireSignLanguage() livechat.Video {
	ch, err := signlang.New(g.deps(), g.cfg.SignLanguage, g.cfg.RateLimit, hubLink{g})
	if err != nil {
		g.log.Error("sign-language channel disabled", "err", err)
		for i := range g.chState {
			if g.chState[i].Name == normalize.ChannelSignLanguage {
				g.chState[i].Enabled, g.chState[i].Reason = false, err.Error()
			}
		}
		off := func(echo.Context) error {
			return apierr.New(apierr.CodeChannelOff, "the sign-language channel is disabled: "+err.Error())
		}
		g.echo.POST(signlang.PathSessions, off)
		g.echo.POST(signlang.PathCallbacks, off)
		return livechat.Video{Open: func(time.Time) (bool, time.Time) { return false, time.Time{} }}
	}
	ch.Mount(g.echo)
	return livechat.Video{
		Welcome: ch.Welcome,
		Open:    ch.OpenAt,
		Answered: func(ctx context.Context, s sessions.Session, at time.Time) {
			if s.EnvelopeID == "" {
				return
			}
			if err := g.sla.FirstResponse(ctx, s.EnvelopeID, at); err != nil {
				g.log.Error("sign-language: cannot stop the first-response clock", "session", s.ID, "envelope", s.EnvelopeID, "err", err)
			}
		},
	}
}
