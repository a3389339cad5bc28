// Package wechat is the WeChat mini-program channel: WeChat's message push
// (GET /v1/channels/wechat for URL verification, POST /v1/channels/wechat for
// pushes) on the way in, customer-service messages (custom/send) on the way
// out.
//
// A push is authenticated and opened by wxcrypto (plaintext or safe mode,
// JSON or XML, timestamp at most 5 minutes off), then handed to the live chat:
// text, image and miniprogrampage messages join the citizen's conversation
// through channels.Conversations.CitizenMessage, the user_enter_tempsession
// event opens or resumes it through OpenConversation, and any other message
// type or event is recorded whole through a Recorder. The handler answers
// "success" only after that call returned, i.e. after the message is durable.
// WeChat's retries (same MsgId, or same FromUserName+CreateTime for events)
// carry the same DedupKey and change nothing, also across a restart, because
// de-duplication is done by the durable side, not here.
package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/silenceper/wechat/v2/cache"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/wechatapi"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// Path is the route of both the URL verification and the message push.
const Path = "/v1/channels/wechat"

// HandleTimeout bounds the work done for one push, so that the answer leaves
// well within WeChat's 5-second limit; past it the push is answered with an
// error and WeChat's retry (de-duplicated) tries again.
const HandleTimeout = 4 * time.Second

// Recorder durably records a push the gateway does not map onto a chat
// message (an unknown message type or event), so that nothing WeChat
// delivered is lost. Record returns once the record is durable; a repeated
// dedupKey (a WeChat retry, possibly after a restart) must be recognised and
// change nothing. raw is the (decrypted) push exactly as received, at most
// wxcrypto.MaxPushBytes; it may hold personal data and must not be logged.
type Recorder interface {
	Record(ctx context.Context, channel, openid, dedupKey string, raw []byte) error
}

// Options are the optional parts of a Channel.
type Options struct {
	// HTTP is the client for the WeChat API; nil means wechatapi's default.
	HTTP *http.Client
	// TokenCache holds the access token (wechatapi.Config.Cache); nil means
	// one in this process. The library's Redis cache shares it between
	// replicas.
	TokenCache cache.Cache
	// TokenLock is held around a token fetch (wechatapi.Config.Lock): gateways
	// sharing TokenCache fetch one at a time. Nil: no lock.
	TokenLock func(ctx context.Context) (unlock func(), err error)
	// Recorder records unknown message types and events. Nil means they are
	// only logged (without content) and acknowledged: wire it in production.
	Recorder Recorder
	// AllowPlaintext accepts plaintext pushes although an EncodingAESKey is
	// configured. Off by default: a plaintext push's signature does not cover
	// its body, so a deployment that set up safe mode refuses the downgrade.
	AllowPlaintext bool
}

// Channel is the WeChat mini-program channel. It is safe for concurrent use.
type Channel struct {
	d        channels.Deps
	conv     channels.Conversations
	verifier *wxcrypto.Verifier
	api      *wechatapi.Client
	rec      Recorder
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	sends    *prometheus.CounterVec // gateway_wechat_sends_total
}

var (
	_ channels.Channel   = (*Channel)(nil)
	_ channels.Deliverer = (*Channel)(nil)
)

// New builds the channel from its configuration: safe mode when
// cfg.EncodingAESKey is set (then plaintext pushes are refused unless
// opts.AllowPlaintext), plaintext mode otherwise. It registers the channel as
// conv's Deliverer for wechat_miniprogram, so agent messages, receipts and
// ticket replies reach the citizen through custom/send. It makes no network
// call; a configuration error names the key.
func New(d channels.Deps, cfg configs.Wechat, conv channels.Conversations, opts Options) (*Channel, error) {
	if conv == nil {
		return nil, errors.New("wechat: Conversations is required")
	}
	clk := d.Clock
	if clk == nil {
		clk = clock.System
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("channel", normalize.ChannelWechat)

	vcfg := wxcrypto.VerifierConfig{Token: cfg.Token, Clock: clk}
	if cfg.EncodingAESKey != "" {
		c, err := wxcrypto.NewCipher(cfg.EncodingAESKey, cfg.AppID)
		if err != nil {
			return nil, fmt.Errorf("wechat: channels.wechat.encoding_aes_key / app_id: %w", err)
		}
		vcfg.Cipher = c
		vcfg.RequireEncrypted = !opts.AllowPlaintext
	}
	v, err := wxcrypto.NewVerifier(vcfg)
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	api, err := wechatapi.New(wechatapi.Config{AppID: cfg.AppID, AppSecret: cfg.AppSecret, APIBase: cfg.APIBase,
		HTTP: opts.HTTP, Clock: clk, Cache: opts.TokenCache, Lock: opts.TokenLock, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("wechat: %w", err)
	}
	maxBody := int64(wxcrypto.MaxPushBytes)
	if d.MaxBody > 0 && d.MaxBody < maxBody {
		maxBody = d.MaxBody
	}
	rec := opts.Recorder
	if rec == nil {
		log.Warn("no recorder for unknown WeChat pushes: they are acknowledged and only logged")
		rec = logRecorder{log}
	}
	return &Channel{d: d, conv: conv, verifier: v, api: api, rec: rec, log: log, now: clk.Now, maxBody: maxBody,
		sends: newSends()}, nil
}

// The WeChat channel takes pushes and delivers replies.
var (
	_ channels.Channel   = (*Channel)(nil)
	_ channels.Deliverer = (*Channel)(nil)
)

// Name is the channel value, wechat_miniprogram.
func (c *Channel) Name() string { return normalize.ChannelWechat }

// Mount registers GET and POST /v1/channels/wechat.
func (c *Channel) Mount(e *echo.Echo) {
	e.GET(Path, c.verifyURL)
	e.POST(Path, c.push)
}

// API is the WeChat API client the channel sends with (shared access token).
func (c *Channel) API() *wechatapi.Client { return c.api }

// verifyURL answers WeChat's URL verification: 200 with the echostr exactly,
// or 401 for a bad signature.
func (c *Channel) verifyURL(ec echo.Context) error {
	q := ec.Request().URL.Query()
	if err := c.verifier.VerifyURL(q); err != nil {
		c.log.Warn("wechat URL verification refused", "reason", err.Error(), "remote", c.clientIP(ec.Request()))
		return apierr.Wrap(apierr.CodeUnauthorized, "bad signature", err)
	}
	echostr := q.Get("echostr")
	if echostr == "" {
		return apierr.New(apierr.CodeBadRequest, "echostr is required")
	}
	ec.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return ec.String(http.StatusOK, echostr)
}

// push handles one message push: authenticate and open it, record it, and
// answer "success" once it is durable.
func (c *Channel) push(ec echo.Context) error {
	r := ec.Request()
	body, err := httpin.ReadBody(r, c.maxBody)
	if err != nil {
		return err
	}
	p, err := c.verifier.Open(r.URL.Query(), body)
	if err != nil {
		ae := refusal(err)
		c.log.Warn("wechat push refused", "code", ae.Code, "reason", err.Error(), "remote", c.clientIP(r))
		return ae
	}
	ctx, cancel := context.WithTimeout(r.Context(), HandleTimeout)
	defer cancel()
	if err := c.handle(ctx, p); err != nil {
		c.log.Error("wechat push not recorded; WeChat will retry", "msg_type", p.MsgType, "msg_id", p.MsgID, "error", err)
		if ae, ok := errors.AsType[*apierr.Error](err); ok {
			return ae
		}
		return apierr.Wrap(apierr.CodeUnavailable, "the message could not be recorded; retry", err)
	}
	return ec.String(http.StatusOK, "success")
}

// handle hands the push to the live chat or the recorder and returns once it
// is durable.
func (c *Channel) handle(ctx context.Context, p *wxcrypto.Push) error {
	switch {
	case p.MsgType == wxcrypto.MsgTypeEvent && p.Event == wxcrypto.EventUserEnterTempSession:
		res, err := c.conv.OpenConversation(ctx, enterSession(p, c.now()))
		if err != nil {
			return fmt.Errorf("open conversation: %w", err)
		}
		c.log.Info("wechat session entered", "session_id", res.SessionID, "new", res.NewSession, "duplicate", res.Duplicate)
		return nil
	case p.Known():
		res, err := c.conv.CitizenMessage(ctx, inbound(p, c.now()))
		if err != nil {
			return fmt.Errorf("citizen message: %w", err)
		}
		c.log.Info("wechat message", "msg_type", p.MsgType, "session_id", res.SessionID, "seq", res.Seq,
			"envelope_id", res.EnvelopeID, "duplicate", res.Duplicate)
		return nil
	default:
		if err := c.rec.Record(ctx, normalize.ChannelWechat, p.FromUserName, p.DedupKey(), p.Raw); err != nil {
			return fmt.Errorf("record unsupported push: %w", err)
		}
		c.log.Info("wechat push of unsupported type recorded", "msg_type", p.MsgType, "event", p.Event, "msg_id", p.MsgID)
		return nil
	}
}

func (c *Channel) clientIP(r *http.Request) string {
	if c.d.ClientIP != nil {
		return c.d.ClientIP(r)
	}
	return r.RemoteAddr
}

// logRecorder is the fallback Recorder: it logs that a push arrived, never
// its content.
type logRecorder struct{ log *slog.Logger }

func (l logRecorder) Record(_ context.Context, _, _, _ string, raw []byte) error {
	l.log.Warn("unsupported wechat push acknowledged but not recorded (no Recorder wired)", "bytes", len(raw))
	return nil
}
