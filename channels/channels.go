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

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
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
	Clock    clock.Clock
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

// Deliverer sends a message to a citizen on its channel. Deliver returns once
// the channel has the message or has given up: a channel retries what is
// worth retrying itself, within ctx. The caller never retries; it records
// any error as message.delivery_failed and tells the agent.
type Deliverer interface {
	Deliver(ctx context.Context, m Outbound) error
}

// InboundMessage is a citizen's message arriving on a messaging channel
// (WeChat, SMS, app) that joins the citizen's live-chat conversation.
type InboundMessage struct {
	Channel       string
	ChannelUserID string // openid, E.164 phone, …
	// DedupKey is the channel's own id for the message; a repeat (a platform
	// retry) is recognised, also across restarts, and changes nothing.
	DedupKey    string
	Text        string
	Attachments []normalize.Attachment
	At          time.Time // when the channel says it was sent
	Skills      []string  // skills the conversation needs, if the channel knows
	Language    string
	Phone       string // E.164, when the channel user id is a phone number
	// JoinWindow: if the citizen's open conversation has been quiet for longer,
	// a new conversation is started (SMS). Zero: the open one is always joined.
	JoinWindow time.Duration
	// Source is recorded in the envelope the conversation's first message makes.
	Source *normalize.Source
	// Meta is free-form channel context (WeChat SessionFrom, "incomplete" SMS).
	Meta map[string]string
}

// ChatResult says what became of an inbound message.
type ChatResult struct {
	SessionID  string
	Seq        int64
	EnvelopeID string // the envelope of the conversation (made by its first message)
	NewSession bool
	Duplicate  bool
}

// Conversations is the live-chat core as messaging channels see it.
// CitizenMessage returns once the message is durable.
type Conversations interface {
	CitizenMessage(ctx context.Context, m InboundMessage) (ChatResult, error)
	// OpenConversation returns the citizen's open conversation, if any, on
	// an entry without a message (WeChat's user_enter_tempsession); it
	// opens none: a conversation starts with the citizen's first message.
	OpenConversation(ctx context.Context, m InboundMessage) (ChatResult, error)
}
