// Package app is the mobile app's intake channel. Every request is signed by
// the app: X-Signature = hex(HMAC-SHA256(secret, METHOD\nPATH\nTIMESTAMP\nNONCE\nsha256hex(body)))
// with X-App-Key, X-Timestamp (unix seconds, within ±timestamp_skew) and a
// single-use X-Nonce. PATH is the request's URL path without the query.
package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/form"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// Verifier checks app signatures.
type Verifier struct {
	Keys  map[string]string
	Skew  time.Duration
	Clock clock.Clock
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
	if len(nonce) > 128 {
		return Signed{}, apierr.New(apierr.CodeUnauthorized, "X-Nonce longer than 128 characters")
	}
	// An unknown key costs the same HMAC and gets the same answer as a bad
	// signature, so that keys cannot be told apart by probing.
	secret, known := v.Keys[key]
	if !known {
		secret = unknownKeySecret
	}
	want := Sign(secret, r.Method, r.URL.Path, ts, nonce, body)
	got, err := hex.DecodeString(sig)
	if !hmac.Equal(got, mustHex(want)) || err != nil || !known {
		return Signed{}, apierr.New(apierr.CodeUnauthorized, "unknown app key or bad signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Signed{}, apierr.New(apierr.CodeStale, "X-Timestamp must be unix seconds")
	}
	if d := v.Clock.Now().Sub(time.Unix(sec, 0)); d > v.Skew || d < -v.Skew {
		return Signed{}, apierr.New(apierr.CodeStale, "X-Timestamp outside the accepted window of ±"+v.Skew.String())
	}
	return Signed{AppKey: key, Nonce: nonce}, nil
}

const unknownKeySecret = "no such app key: the same work as for a known one"

func mustHex(s string) []byte { b, _ := hex.DecodeString(s); return b }

// Nonces consumes a signed request's nonce durably (*intakelog.Log). A used
// nonce is intakelog.ErrReplay.
type Nonces interface {
	UseNonce(ctx context.Context, scope, nonce string) error
}

// Channel is the app channel.
type Channel struct {
	d       channels.Deps
	v       *Verifier
	nonces  Nonces
	limiter *httpin.Limiter
	ipLimit *httpin.Limiter
}

var _ channels.Channel = (*Channel)(nil)

// New returns the app channel.
func New(d channels.Deps, cfg configs.App, rl configs.RateLimit, nonces Nonces) *Channel {
	return &Channel{d: d, v: &Verifier{Keys: cfg.Keys, Skew: cfg.TimestampSkew, Clock: d.Clock}, nonces: nonces,
		limiter: httpin.NewLimiter(rl.PerAppKey, rl.PerAppKeyBurst, d.Clock),
		ipLimit: httpin.NewLimiter(rl.PerIP*10, rl.PerIPBurst*10, d.Clock)}
}

// Subject is the citizen subject of an app's user: the app key and the
// user id the app signed.
func Subject(appKey, userID string) string { return appKey + ":" + userID }

// CitizenSubject authenticates an app's POST /v1/citizen/sessions: the
// signature covers the body, which names the user ({"user": {"id": …}});
// the nonce is spent. It returns the citizen subject for the token.
func (c *Channel) CitizenSubject(r *http.Request, body []byte) (string, error) {
	s, err := c.v.Verify(r, body)
	if err != nil {
		return "", err
	}
	var req struct {
		User *form.AppUser `json:"user"`
	}
	if err := httpin.DecodeStrict(body, &req); err != nil {
		return "", err
	}
	if err := requireUser(req.User); err != nil {
		return "", err
	}
	if err := c.spend(r.Context(), s); err != nil {
		return "", err
	}
	return Subject(s.AppKey, req.User.ID), nil
}

// StatusOwner authenticates an app's signed GET of a request's status
// (empty body): ok is false when the request is not the app's to judge.
// The owner it returns, "citizen:<app key>:*", stands for every user of
// the app.
func (c *Channel) StatusOwner(r *http.Request) (owner string, ok bool, err error) {
	if r.Header.Get("X-App-Key") == "" {
		return "", false, nil
	}
	s, err := c.v.Verify(r, nil)
	if err != nil {
		return "", true, err
	}
	if err := c.spend(r.Context(), s); err != nil {
		return "", true, err
	}
	// The app's backend reads what any of its users filed.
	return "citizen:" + Subject(s.AppKey, "*"), true, nil
}

func (c *Channel) spend(ctx context.Context, s Signed) error {
	err := c.nonces.UseNonce(ctx, "app:"+s.AppKey, s.Nonce)
	if errors.Is(err, intakelog.ErrReplay) {
		return apierr.Wrap(apierr.CodeReplay, "X-Nonce was already used", err)
	}
	return err
}

func requireUser(u *form.AppUser) error {
	if u == nil || strings.TrimSpace(u.ID) == "" {
		return apierr.Invalid("the app's user is required in the signed body: {\"user\": {\"id\": …}}",
			map[string]string{"user.id": "required"})
	}
	if strings.Contains(u.ID, "*") { // "*" in an owner means every user of the app
		return apierr.Invalid("user.id must not contain *", map[string]string{"user.id": "must not contain *"})
	}
	return nil
}

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
	body, err := httpin.ReadJSON(r, c.d.MaxBody)
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
	if err := requireUser(req.User); err != nil {
		return err
	}
	env := c.d.Stamp.New(normalize.ChannelApp, "", Subject(signed.AppKey, req.User.ID))
	if req.ClientRequestID != "" {
		// A user's ids are its own: two users reusing one never collide.
		env.IdempotencyKey = "app:" + Subject(signed.AppKey, req.User.ID) + ":" + req.ClientRequestID
	} else {
		env.IdempotencyKey = "app:" + signed.AppKey + ":" + signed.Nonce
	}
	env.Source = &normalize.Source{AppKey: signed.AppKey, NativeID: req.ClientRequestID}
	req.Apply(env)
	if env.Citizen.Phone == "" {
		env.Citizen.Phone = req.User.Phone
	}
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
		Owner: "citizen:" + Subject(signed.AppKey, req.User.ID), Events: []*normalize.Event{ev},
	})
	if errors.Is(err, intakelog.ErrReplay) {
		return apierr.New(apierr.CodeReplay, "X-Nonce was already used")
	}
	if err != nil {
		return err
	}
	return ec.JSON(http.StatusAccepted, res.Receipt)
}
