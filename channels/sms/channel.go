package sms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/sms/reassembly"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/smsapi"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// Store buckets owned by this package.
const (
	bucketParts    = "sms_parts" // phone \x00 hex(ref) \x00 seq \x00 part key → pending part
	bucketPartKeys = "sms_keys"  // dedup key of a part (pending or done) or of a whole message handed over
	bucketReady    = "sms_ready" // phone \x00 release time \x00 message key → message joined from parts, until handed over
	bucketSent     = "sms_sent"  // provider:message id → session, envelope, report state
)

// Buckets lists the buckets the store must have for this package: pass them
// to store.Open (New refuses a store without them).
var Buckets = []string{bucketParts, bucketPartKeys, bucketReady, bucketSent}

// Errors callers branch on.
var (
	// ErrWrongChannel: Deliver was given a message for another channel.
	ErrWrongChannel = errors.New("sms: outbound message is not for the sms channel")
	// ErrNoSender: replies cannot be sent because the provider's send API
	// is not configured (e.g. generic without channels.sms.api_base).
	ErrNoSender = errors.New("sms: send API not configured")
	// ErrBadRecipient: the outbound message has no valid phone number or no text.
	ErrBadRecipient = errors.New("sms: bad recipient or empty text")
)

// Permanent reports whether retrying a Deliver error cannot help: the
// message is for another channel, has no valid recipient, replies are not
// configured, or the provider refused it for good.
func Permanent(err error) bool {
	return errors.Is(err, ErrWrongChannel) || errors.Is(err, ErrNoSender) || errors.Is(err, ErrBadRecipient) ||
		smsapi.Permanent(err)
}

// Emitter records events durably for intake.events. *intakelog.Log
// implements it.
type Emitter interface {
	Emit(ctx context.Context, evs ...*normalize.Event) error
}

// TxEmitter is an Emitter that can also append events inside the caller's
// transaction (*intakelog.Log does). When the Emitter given to New is one,
// a delivery report is marked and its event recorded in one transaction, so
// a retried report produces no second event.
type TxEmitter interface {
	Emitter
	AppendEvent(tx *store.Tx, ev *normalize.Event) error
	Notify()
}

// Options tune the channel; zero values take the defaults.
type Options struct {
	// HTTPClient calls the provider's send API (default: 10 s timeout).
	HTTPClient *http.Client
	// CallbackToken and CallbackSecret, when either is set, replace
	// channels.sms.token / .secret for authenticating callbacks. (For
	// aliyun and tencent those keys hold the API credentials.)
	CallbackToken, CallbackSecret string
	// AliyunTemplateCode and TencentTemplateID replace the default templates.
	AliyunTemplateCode, TencentTemplateID string
	// PartRetention is how long the de-duplication keys of handed-over
	// messages and assembled parts are kept to recognise late provider
	// retries (default 72 h; whole messages stay de-duplicated by the hub
	// after that).
	PartRetention time.Duration
	// SentRetention is how long sent message ids are kept for delivery
	// reports (default 7 days).
	SentRetention time.Duration
	// CompactEvery is how often Run deletes expired records (default 1 h).
	CompactEvery time.Duration
	// MaxGroups bounds the long messages waiting for parts at once, on
	// every node sharing the store (default reassembly.DefaultMaxGroups):
	// beyond it Run releases the oldest early, as incomplete.
	MaxGroups int
	// SweepEvery is how often Run looks at the store for work a part stored
	// by another node brought (a long message's deadline, a hand-off whose
	// node died); default 5 s. Parts stored by this node wake it at once.
	SweepEvery time.Duration
	// SendBackoff are the waits before re-sending a reply after a transient
	// provider failure (default 1 s, 4 s: three attempts in all).
	SendBackoff []time.Duration
	// MaxBody bounds callback bodies (default Deps.MaxBody, else 1 MiB).
	MaxBody int64
}

func (o *Options) setDefaults(d channels.Deps) {
	if o.AliyunTemplateCode == "" {
		o.AliyunTemplateCode = AliyunTemplateCode
	}
	if o.TencentTemplateID == "" {
		o.TencentTemplateID = TencentTemplateID
	}
	if o.PartRetention <= 0 {
		o.PartRetention = 72 * time.Hour
	}
	if o.SentRetention <= 0 {
		o.SentRetention = 7 * 24 * time.Hour
	}
	if o.CompactEvery <= 0 {
		o.CompactEvery = time.Hour
	}
	if o.MaxGroups <= 0 {
		o.MaxGroups = reassembly.DefaultMaxGroups
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = 5 * time.Second
	}
	if o.SendBackoff == nil {
		o.SendBackoff = []time.Duration{time.Second, 4 * time.Second}
	}
	if o.MaxBody <= 0 {
		o.MaxBody = d.MaxBody
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
}

// Channel is the SMS channel. Its handlers and Deliver are safe for
// concurrent use; Run is called once.
type Channel struct {
	cfg      configs.SMS
	opts     Options
	provider string
	log      *slog.Logger
	conv     channels.Conversations
	db       *store.DB
	em       Emitter
	auth     smsformat.Authenticator
	wait     time.Duration // channels.sms.reassembly_wait
	sender   smsapi.Sender // nil when replies are not configured
	noSender error
	metrics  *metrics

	clock clock.Clock

	wake chan struct{}
}

var (
	_ channels.Channel   = (*Channel)(nil)
	_ channels.Deliverer = (*Channel)(nil)
)

// New builds the channel over db (which must be the store conv writes to,
// shared by every node in cluster mode) and registers itself with conv as
// the deliverer for "sms". em receives
// message.delivery_failed events for failed delivery reports. Replies that
// cannot be configured (e.g. generic without api_base) are logged and make
// Deliver fail with ErrNoSender; the uplink still works.
func New(d channels.Deps, cfg configs.SMS, conv channels.Conversations, db *store.DB, em Emitter, opts Options) (*Channel, error) {
	if conv == nil || db == nil || em == nil {
		return nil, errors.New("sms: New needs conversations, a store and an emitter")
	}
	switch cfg.Provider {
	case smsformat.ProviderAliyun, smsformat.ProviderTencent, smsformat.ProviderGeneric:
	case "":
		cfg.Provider = smsformat.ProviderGeneric
	default:
		return nil, fmt.Errorf("sms: channels.sms.provider: %w: %q", smsformat.ErrUnknownProvider, cfg.Provider)
	}
	opts.setDefaults(d)
	log := d.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clk := d.Clock
	if clk == nil {
		clk = clock.System
	}
	c := &Channel{cfg: cfg, opts: opts, provider: cfg.Provider, log: log.With("channel", normalize.ChannelSMS),
		conv: conv, db: db, em: em, clock: clk, wake: make(chan struct{}, 1), metrics: newMetrics()}
	c.auth = smsformat.Authenticator{Token: cfg.Token, Secret: cfg.Secret, Clock: c.clock}
	if opts.CallbackToken != "" || opts.CallbackSecret != "" {
		c.auth.Token, c.auth.Secret = opts.CallbackToken, opts.CallbackSecret
	}
	c.wait = cfg.ReassemblyWait
	if c.wait <= 0 {
		c.wait = reassembly.DefaultWait
	}
	c.sender, c.noSender = newSender(cfg, opts, clk, c.log)
	if c.noSender != nil {
		c.log.Warn("sms: replies disabled", "err", c.noSender)
	}
	if err := db.View(func(tx *store.Tx) error {
		for _, b := range Buckets {
			if tx.Bucket([]byte(b)) == nil {
				return fmt.Errorf("sms: the store was opened without sms.Buckets (%s missing)", b)
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// The SMS channel takes uplinks and delivers replies.
var (
	_ channels.Channel   = (*Channel)(nil)
	_ channels.Deliverer = (*Channel)(nil)
)

// Name is the channel value.
func (c *Channel) Name() string { return normalize.ChannelSMS }

// Mount registers the callback routes.
func (c *Channel) Mount(e *echo.Echo) {
	e.POST(PathInbound, c.inbound)
	e.POST(PathReports, c.reports)
}

// kick wakes Run to recompute its next deadline.
func (c *Channel) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// readBody reads the callback body under the size limit; an oversize body
// gives an error matching *http.MaxBytesError (413 via smsformat.Reject).
func (c *Channel) readBody(ec echo.Context) ([]byte, error) {
	r := ec.Request()
	return io.ReadAll(http.MaxBytesReader(ec.Response(), r.Body, c.opts.MaxBody))
}

// reject answers err in the provider's format.
func (c *Channel) reject(ec echo.Context, route string, err error) error {
	status, body := smsformat.Reject(c.provider, err)
	lvl := slog.LevelInfo
	if status >= 500 {
		lvl = slog.LevelWarn
	}
	c.log.Log(ec.Request().Context(), lvl, "sms: callback refused", "route", route, "status", status, "err", err)
	return ec.Blob(status, smsformat.ContentTypeJSON, body)
}

func (c *Channel) ack(ec echo.Context) error {
	ct, body := smsformat.Ack(c.provider)
	return ec.Blob(http.StatusOK, ct, body)
}
