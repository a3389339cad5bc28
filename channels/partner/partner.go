// Package partner is the intake channel of the government platforms that
// forward citizens' requests to the hotline: Suishenban and Yiwangtongban,
// one Channel per partner, parameterised by name.
//
// Inbound, POST /v1/channels/<name>/requests is a Standard Webhooks request:
// webhook-id, webhook-timestamp (within ±5 min) and webhook-signature
// (HMAC-SHA256, "v1,<base64>", several space-separated during a key
// rotation). channels.<name>.secret may hold several secrets separated by
// spaces ("whsec_new whsec_old"); a request signed with any of them passes,
// and outbound webhooks are signed with each. webhook-id is the idempotency
// key ("<name>:<webhook-id>"): a retry gets the first answer and makes no new
// envelope; the same id with a different body is 422.
//
// The partner's JSON is mapped onto the envelope by a Mapper (see Targets,
// DefaultMapping; channels.<name>.mapping and .kinds override it).
//
// Outbound, every status change of a request the partner forwarded, and its
// timeliness warnings and breaches, are posted to channels.<name>.callback_url
// through the durable delivery queue (package delivery), in order per request.
package partner

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

// HeaderPartner names the partner a status look-up claims to come from; see
// StatusOwner.
const HeaderPartner = "X-Partner"

// maxWebhookIDLen bounds webhook-id, which becomes part of a stored key.
const maxWebhookIDLen = 200

// Errors callers branch on.
var (
	// ErrForeign: the request did not come through this partner; route the
	// notification by intakelog.Request.Channel to the channel of that Name.
	ErrForeign = errors.New("partner: request was not forwarded by this partner")
	// ErrBadStatus: an unknown status, clock or timeliness state.
	ErrBadStatus = errors.New("partner: unknown status")
)

// Options tune a Channel.
type Options struct {
	// Tolerance for webhook-timestamp; 0 means stdwebhook.DefaultTolerance (5 min).
	Tolerance time.Duration
}

// Channel is one partner's channel. It is a channels.Channel (its intake
// route) and a channels.Deliverer (status webhooks to the partner).
type Channel struct {
	name     string
	d        channels.Deps
	cfg      configs.Partner
	q        *delivery.Queue // nil: no status webhooks
	log      *intakelog.Log
	mapper   *Mapper
	verifier *stdwebhook.Verifier
	logger   *slog.Logger
	maxBody  int64
}

var (
	_ channels.Channel   = (*Channel)(nil)
	_ channels.Deliverer = (*Channel)(nil)
)

// ParseSecrets parses channels.<name>.secret: one or more Standard Webhooks
// secrets ("whsec_…") separated by spaces, the current one first.
func ParseSecrets(s string) ([]stdwebhook.Secret, error) {
	var out []stdwebhook.Secret
	for _, f := range strings.Fields(s) {
		sec, err := stdwebhook.ParseSecret(f)
		if err != nil {
			return nil, err
		}
		out = append(out, sec)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty", stdwebhook.ErrSecret)
	}
	return out, nil
}

// New returns the channel of partner name ("suishenban" or "yiwangtongban").
// log is the intake log behind d.Intake (requests are looked up there and
// the "accepted" webhook is enqueued inside its Accept transaction: register
// OnAccept and AfterAccept with it when Webhooks is true). When
// cfg.CallbackURL is set, q must be the delivery queue: New registers the
// partner's secrets with it. Errors name the configuration key at fault.
func New(name string, d channels.Deps, cfg configs.Partner, q *delivery.Queue, log *intakelog.Log, opts Options) (*Channel, error) {
	if name != normalize.ChannelSuishenban && name != normalize.ChannelYiwangtongban {
		return nil, fmt.Errorf("partner: unknown partner %q", name)
	}
	key := "channels." + name + "."
	if log == nil || d.Intake == nil || d.Clock == nil || d.Stamp.Clock == nil {
		return nil, fmt.Errorf("partner %s: intake log, Deps.Intake, Deps.Clock and Deps.Stamp are required", name)
	}
	secrets, err := ParseSecrets(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("%ssecret: %w", key, err)
	}
	mapper, err := NewMapper(cfg.Mapping, cfg.Kinds)
	if err != nil {
		return nil, fmt.Errorf("%s%w", key, err)
	}
	c := &Channel{name: name, d: d, cfg: cfg, log: log, mapper: mapper, logger: d.Logger, maxBody: d.MaxBody,
		verifier: &stdwebhook.Verifier{Secrets: secrets, Tolerance: opts.Tolerance, Clock: d.Clock}}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.maxBody <= 0 {
		c.maxBody = 1 << 20
	}
	if cfg.CallbackURL != "" {
		if q == nil {
			return nil, fmt.Errorf("partner %s: %scallback_url is set but no delivery queue was given", name, key)
		}
		if err := q.CheckURL(cfg.CallbackURL); err != nil {
			return nil, fmt.Errorf("%scallback_url: %w", key, err)
		}
		if err := q.Register(name, secrets...); err != nil {
			return nil, fmt.Errorf("partner %s: %w", name, err)
		}
		c.q = q
	}
	return c, nil
}

// AfterAccept wakes the webhook queue after an envelope of this partner's
// was accepted (its "accepted" webhook is then durable).
func (c *Channel) AfterAccept(env *normalize.Envelope) {
	if c.q != nil && env.Channel == c.name {
		c.q.Notify()
	}
}

var _ channels.Channel = (*Channel)(nil)

// Name is the channel value.
func (c *Channel) Name() string { return c.name }

// Mapper returns the channel's body mapping.
func (c *Channel) Mapper() *Mapper { return c.mapper }

// Mount registers POST /v1/channels/<name>/requests.
func (c *Channel) Mount(e *echo.Echo) {
	e.POST("/v1/channels/"+c.name+"/requests", c.submit)
}

func (c *Channel) submit(ec echo.Context) error {
	r := ec.Request()
	body, err := httpin.ReadJSON(r, c.maxBody)
	if err != nil {
		return err
	}
	if err := c.verify(r.Header, body); err != nil {
		return err
	}
	webhookID := r.Header.Get(stdwebhook.HeaderID)
	if len(webhookID) > maxWebhookIDLen {
		return apierr.Invalid("webhook-id too long", map[string]string{"webhook-id": fmt.Sprintf("must be at most %d bytes", maxWebhookIDLen)})
	}
	req, err := c.mapper.Map(body)
	if err != nil {
		return err
	}
	env := c.d.Stamp.New(c.name, c.name+":"+webhookID, req.UserID)
	req.Apply(env, c.name)
	if err := env.Validate(); err != nil {
		var ve *normalize.ValidationError
		if errors.As(err, &ve) {
			return apierr.Invalid("the request does not map to a valid envelope", c.mapper.PartnerFields(ve.Fields))
		}
		return err
	}
	ev := normalize.NewEvent(normalize.EventRequestAccepted, env.ReceivedAt)
	ev.Channel, ev.EnvelopeID = env.Channel, env.ID
	res, err := c.d.Intake.Accept(r.Context(), env, intakelog.AcceptOptions{
		Fingerprint: intakelog.Fingerprint(body),
		Owner:       c.owner(),
		Extra:       map[string]string{"request_id": req.RequestID, "partner": c.name},
		Events:      []*normalize.Event{ev},
	})
	if errors.Is(err, intakelog.ErrConflict) {
		return apierr.Wrap(apierr.CodeConflict, "webhook-id was already used with a different body", err)
	}
	if err != nil {
		return err
	}
	c.logger.Info("partner request accepted", "channel", c.name, "envelope_id", res.Receipt.ID,
		"duplicate", res.Duplicate, "kind", env.Kind)
	return ec.JSON(http.StatusAccepted, res.Receipt)
}

func (c *Channel) owner() string { return "partner:" + c.name }

// verify checks the Standard Webhooks headers against body.
func (c *Channel) verify(h http.Header, body []byte) error {
	err := c.verifier.Verify(h, body)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, stdwebhook.ErrTimestamp):
		tol := c.verifier.Tolerance
		if tol <= 0 {
			tol = stdwebhook.DefaultTolerance
		}
		return apierr.Wrap(apierr.CodeStale, "webhook-timestamp outside the accepted window of ±"+tol.String(), err)
	case errors.Is(err, stdwebhook.ErrMissingHeaders):
		return apierr.Wrap(apierr.CodeUnauthorized, "webhook-id, webhook-timestamp and webhook-signature are required", err)
	}
	return apierr.Wrap(apierr.CodeUnauthorized, "webhook-signature does not match", err)
}

// StatusOwner lets this partner read GET /v1/requests/{id}: the request
// carries Standard Webhooks headers signed over an empty body with one of
// the partner's secrets. It returns "partner:<name>", true when they verify;
// ok=false when there are no webhook headers, or when they do not verify and
// X-Partner does not name this partner (so that the gateway can try the
// other partner's channel). With "X-Partner: <name>" a failure is final:
// ok=true and a 401 error (unauthorized or stale_timestamp). A look-up is
// read-only, so a replay within the timestamp window is harmless and
// webhook-id is not remembered.
func (c *Channel) StatusOwner(r *http.Request) (owner string, ok bool, err error) {
	h := r.Header
	if h.Get(stdwebhook.HeaderID) == "" && h.Get(stdwebhook.HeaderTimestamp) == "" && h.Get(stdwebhook.HeaderSignature) == "" {
		return "", false, nil
	}
	named := h.Get(HeaderPartner)
	if named != "" && named != c.name {
		return "", false, nil
	}
	if err := c.verify(h, nil); err != nil {
		if named == c.name {
			return "", true, err
		}
		return "", false, nil
	}
	return c.owner(), true, nil
}

// statuses a request.status webhook may carry.
var statuses = []string{normalize.StatusAccepted, normalize.StatusAcknowledged, normalize.StatusAnswered,
	normalize.StatusDispatched, normalize.StatusResolved, normalize.StatusRejected, normalize.StatusClosed}

func validStatus(s string) bool { return slices.Contains(statuses, s) }
