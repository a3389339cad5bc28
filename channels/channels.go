// Package channels holds what every intake channel shares: the intake it
// hands envelopes to and the dependencies a channel is built with. Each
// channel lives in its own package below and is wired in one place
// (package gateway); nothing registers itself.
package channels

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/connectors/intakelog"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions/tokens"
)

// Intake records an envelope durably, or returns the earlier receipt for a
// repeated idempotency key. *intakelog.Log implements it.
type Intake interface {
	Accept(ctx context.Context, env *normalize.Envelope, opts intakelog.AcceptOptions) (intakelog.Result, error)
}

var _ Intake = (*intakelog.Log)(nil)

// Deps are what a channel is built with.
type Deps struct {
	Intake   Intake
	Stamp    normalize.Stamp
	Tokens   *tokens.Signer
	Logger   *slog.Logger
	Now      func() time.Time
	MaxBody  int64
	ClientIP func(*http.Request) string
	// CitizenTTL is the lifetime of citizen tokens the channel mints.
	CitizenTTL time.Duration
}

// Channel is an intake channel: it mounts its routes.
type Channel interface {
	Name() string
	Mount(e *echo.Echo)
}

// Outbound is a message for a citizen on the channel a request came from.
type Outbound struct {
	Channel       string
	ChannelUserID string // openid, E.164 phone, citizen subject, partner user id
	EnvelopeID    string
	SessionID     string
	Text          string
	Kind          string // "receipt", "agent", "ticket_reply", "status"
	Status        string // request status, for partners
}

// Deliverer sends a message to a citizen on its channel. A permanent failure
// (outside WeChat's 48-hour window, a number that cannot receive) is reported
// as an error for which Permanent returns true; the caller records
// message.delivery_failed instead of retrying.
type Deliverer interface {
	Deliver(ctx context.Context, m Outbound) error
}
