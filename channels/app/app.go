// Package app is the mobile app's intake channel. Every request is signed by
// the app: X-Signature = hex(HMAC-SHA256(secret, METHOD\nPATH\nTIMESTAMP\nNONCE\nsha256hex(body)))
// with X-App-Key, X-Timestamp (unix seconds, within ±timestamp_skew) and a
// single-use X-Nonce. PATH is the request's URL path without the query.
package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/form"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/intakelog"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/normalize/apierr"
)

// Verifier checks app signatures.
type Verifier struct {
	Keys map[string]string
	Skew time.Duration
	Now  func() time.Time
}

// Signed is a verified request's identity.
type Signed struct {
	AppKey, Nonce string
}

// Sign computes the signature a client sends (also used by tests and loadgen).
func Sign(secret, method, path, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + "\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks headers and signature. The nonce is returned for the caller
// to consume durably (in the same transaction as the request's effect).
func (v *Verifier) Verify(r *http.Request, body []byte) (Signed, error) {
	key, ts, nonce, sig := r.Header.Get("X-App-Key"), r.Header.Get("X-Timestamp"), r.Header.Get("X-Nonce"), r.Header.Get("X-Signature")
	if key == "" || ts == "" || nonce == "" || sig == "" {
		return Signed{}, apierr.New(apierr.CodeUnauthorized, "missing X-App-Key, X-Timestamp, X-Nonce or X-Signature")
	}
	secret, ok := v.Keys[key]
	if !ok {
		return Signed{}, apierr.New(apierr.CodeUnauthorized, "unknown app key")
	}
	if len(nonce) > 128 {
		return Signed{}, apierr.New(apierr.CodeUnauthorized, "X-Nonce longer than 128 characters")
	}
	want := Sign(secret, r.Method, r.URL.Path, ts, nonce, body)
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mustHex(want)) {
		return Signed{}, apierr.New(apierr.CodeUnauthorized, "bad signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Signed{}, apierr.New(apierr.CodeStale, "X-Timestamp must be unix seconds")
	}
	if d := v.Now().Sub(time.Unix(sec, 0)); d > v.Skew || d < -v.Skew {
		return Signed{}, apierr.New(apierr.CodeStale, "X-Timestamp outside the accepted window of ±"+v.Skew.String())
	}
	return Signed{AppKey: key, Nonce: nonce}, nil
}

func mustHex(s string) []byte { b, _ := hex.DecodeString(s); return b }

// Channel is the app channel.
type Channel struct {
	d       channels.Deps
	v       *Verifier
	limiter *httpin.Limiter
	ipLimit *httpin.Limiter
}

var _ channels.Channel = (*Channel)(nil)

// New returns the app channel.
func New(d channels.Deps, cfg configs.App, rl configs.RateLimit) *Channel {
	return &Channel{d: d, v: &Verifier{Keys: cfg.Keys, Skew: cfg.TimestampSkew, Now: d.Now},
		limiter: httpin.NewLimiter(rl.PerAppKey, rl.PerAppKeyBurst, d.Now),
		ipLimit: httpin.NewLimiter(rl.PerIP*10, rl.PerIPBurst*10, d.Now)}
}

// Verifier returns the channel's signature verifier.
func (c *Channel) Verifier() *Verifier { return c.v }

// Name is the channel value.
func (c *Channel) Name() string { return normalize.ChannelApp }

// Mount registers the routes.
func (c *Channel) Mount(e *echo.Echo) {
	e.POST("/v1/channels/app/requests", c.submit)
}

func (c *Channel) submit(ec echo.Context) error {
	r := ec.Request()
	if ok, wait := c.ipLimit.Allow(c.d.ClientIP(r)); !ok {
		return apierr.RateLimited(wait)
	}
	body, err := httpin.ReadBody(r, c.d.MaxBody)
	if err != nil {
		return err
	}
	signed, err := c.v.Verify(r, body)
	if err != nil {
		return err
	}
	if ok, wait := c.limiter.Allow(signed.AppKey); !ok {
		return apierr.RateLimited(wait)
	}
	req, err := form.Decode(body)
	if err != nil {
		return err
	}
	user := req.UserID
	if user == "" {
		user = "anonymous"
	}
	env := c.d.Stamp.New(normalize.ChannelApp, "", signed.AppKey+":"+user)
	if req.ClientRequestID != "" {
		env.IdempotencyKey = "app:" + signed.AppKey + ":" + req.ClientRequestID
	} else {
		env.IdempotencyKey = "app:" + signed.AppKey + ":" + signed.Nonce
	}
	env.Source = &normalize.Source{AppKey: signed.AppKey, NativeID: req.ClientRequestID}
	req.Apply(env)
	if err := env.Validate(); err != nil {
		var ve *normalize.ValidationError
		if errors.As(err, &ve) {
			return apierr.Invalid("the request is not valid", ve.Fields)
		}
		return err
	}
	ev := normalize.NewEvent(normalize.EventRequestAccepted, env.ReceivedAt)
	ev.Channel, ev.EnvelopeID = env.Channel, env.ID
	res, err := c.d.Intake.Accept(r.Context(), env, intakelog.AcceptOptions{
		Fingerprint: intakelog.Fingerprint(body), Nonce: signed.Nonce, NonceScope: "app:" + signed.AppKey,
		Owner: "app:" + signed.AppKey, Events: []*normalize.Event{ev},
	})
	if errors.Is(err, intakelog.ErrReplay) {
		return apierr.New(apierr.CodeReplay, "X-Nonce was already used")
	}
	if err != nil {
		return err
	}
	return ec.JSON(http.StatusAccepted, res.Receipt)
}
