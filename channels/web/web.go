// Package web is the website's intake channel: the anonymous form
// (POST /v1/channels/web/requests) and the citizen tokens the chat widget
// uses (POST /v1/citizen/sessions). Requests are rate-limited per client IP
// and may pass an optional captcha hook.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/form"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

// CookieName holds the citizen token for browsers.
const CookieName = "citizen_token"

// Channel is the web channel.
type Channel struct {
	d       channels.Deps
	cfg     configs.Web
	limiter *httpin.Limiter
	captcha *http.Client
	appAuth AppAuth
}

// AppAuth authenticates a signed app's POST /v1/citizen/sessions and returns
// the citizen subject (app.Channel.CitizenSubject).
type AppAuth func(r *http.Request, body []byte) (sub string, err error)

var _ channels.Channel = (*Channel)(nil)

// New returns the web channel. appAuth, when not nil, lets a signed app
// obtain citizen tokens too.
func New(d channels.Deps, cfg configs.Web, rl configs.RateLimit, appAuth AppAuth) *Channel {
	return &Channel{d: d, cfg: cfg, limiter: httpin.NewLimiter(rl.PerIP, rl.PerIPBurst, d.Clock),
		captcha: &http.Client{Timeout: 2 * time.Second}, appAuth: appAuth}
}

// Name is the channel value.
func (c *Channel) Name() string { return normalize.ChannelWeb }

// Mount registers the routes.
func (c *Channel) Mount(e *echo.Echo) {
	e.POST("/v1/channels/web/requests", c.submit)
	e.POST("/v1/citizen/sessions", c.citizenSession)
}

// Accepted is the 202 body: the receipt, plus the citizen token when the
// gateway minted one (so that the citizen can follow the request).
type Accepted struct {
	normalize.Receipt
	CitizenToken string `json:"citizen_token,omitempty"`
}

func (c *Channel) rateLimit(r *http.Request) error {
	if ok, wait := c.limiter.Allow(c.d.ClientIP(r)); !ok {
		return apierr.RateLimited(wait)
	}
	return nil
}

func (c *Channel) submit(ec echo.Context) error {
	r := ec.Request()
	if err := c.rateLimit(r); err != nil {
		return err
	}
	body, err := httpin.ReadJSON(r, c.d.MaxBody)
	if err != nil {
		return err
	}
	req, err := form.Decode(body)
	if err != nil {
		return err
	}
	if req.User != nil {
		return apierr.Invalid("the web form is anonymous: user is for signed apps",
			map[string]string{"user": "not allowed on the web channel"})
	}
	if err := c.checkCaptcha(r); err != nil {
		return err
	}
	sub, minted := c.citizen(r)
	env := c.d.Stamp.New(normalize.ChannelWeb, "", sub)
	switch {
	case req.ClientRequestID != "" && minted == "":
		// A known caller's ids are its own: nobody else can collide with
		// them or learn what they filed.
		env.IdempotencyKey = "web:" + sub + ":" + req.ClientRequestID
	case req.ClientRequestID != "":
		env.IdempotencyKey = "web:" + req.ClientRequestID
	default:
		env.IdempotencyKey = "web:" + env.ID
	}
	req.Apply(env)
	if err := env.Validate(); err != nil {
		var ve *normalize.ValidationError
		if errors.As(err, &ve) {
			return apierr.Invalid("the request is not valid", ve.Fields)
		}
		return err
	}
	res, err := c.d.Intake.Accept(r.Context(), env, intakelog.AcceptOptions{
		Fingerprint: intakelog.Fingerprint(body), Owner: "citizen:" + sub,
		Events: []*normalize.Event{acceptedEvent(env)},
	})
	if err != nil {
		return err
	}
	out := Accepted{Receipt: res.Receipt, CitizenToken: minted}
	if res.Duplicate {
		// A retry gets the earlier receipt and never a token: whoever sends
		// the same body again is not thereby the citizen who filed it (the
		// token would open that citizen's chats and requests). The owner
		// already holds theirs.
		out.CitizenToken = ""
	}
	return ec.JSON(http.StatusAccepted, out)
}

func acceptedEvent(env *normalize.Envelope) *normalize.Event {
	ev := normalize.NewEvent(normalize.EventRequestAccepted, env.ReceivedAt)
	ev.Channel, ev.EnvelopeID, ev.SessionID = env.Channel, env.ID, env.SessionID
	return ev
}

// citizen returns the citizen subject from the request's token, or a new
// anonymous subject and a token for it.
func (c *Channel) citizen(r *http.Request) (sub, minted string) {
	var cookie string
	if ck, err := r.Cookie(CookieName); err == nil {
		cookie = ck.Value
	}
	if t := tokens.FromRequest(r.Header.Get("Authorization"), "", cookie); t != "" {
		if cl, err := c.d.Tokens.Verify(t, tokens.RoleCitizen); err == nil {
			return cl.Sub, ""
		}
	}
	sub = "web-" + normalize.NewID()
	return sub, c.d.Tokens.Issue(tokens.Claims{Sub: sub, Role: tokens.RoleCitizen, Channel: normalize.ChannelWeb}, c.d.CitizenTTL)
}

func (c *Channel) citizenSession(ec echo.Context) error {
	r := ec.Request()
	if err := c.rateLimit(r); err != nil {
		return err
	}
	body, err := httpin.ReadJSON(r, 64<<10)
	if err != nil {
		return err
	}
	if r.Header.Get("X-App-Key") != "" && c.appAuth != nil {
		sub, err := c.appAuth(r, body)
		if err != nil {
			return err
		}
		tok := c.d.Tokens.Issue(tokens.Claims{Sub: sub, Role: tokens.RoleCitizen, Channel: normalize.ChannelApp}, c.d.CitizenTTL)
		return ec.JSON(http.StatusOK, map[string]string{"token": tok})
	}
	// Web: anonymous, bound to a cookie. A valid existing cookie is kept so
	// that a reload rejoins the same conversation.
	var cookie string
	if ck, err := r.Cookie(CookieName); err == nil {
		cookie = ck.Value
	}
	if cookie != "" {
		if _, err := c.d.Tokens.Verify(cookie, tokens.RoleCitizen); err == nil {
			return ec.JSON(http.StatusOK, map[string]string{"token": cookie})
		}
	}
	sub := "web-" + normalize.NewID()
	tok := c.d.Tokens.Issue(tokens.Claims{Sub: sub, Role: tokens.RoleCitizen, Channel: normalize.ChannelWeb}, c.d.CitizenTTL)
	ec.SetCookie(&http.Cookie{Name: CookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		MaxAge: int(c.d.CitizenTTL.Seconds()), Secure: r.TLS != nil})
	return ec.JSON(http.StatusOK, map[string]string{"token": tok})
}

// checkCaptcha asks the configured captcha service about X-Captcha-Token.
func (c *Channel) checkCaptcha(r *http.Request) error {
	if c.cfg.CaptchaURL == "" {
		return nil
	}
	tok := r.Header.Get("X-Captcha-Token")
	if tok == "" {
		return apierr.New(apierr.CodeUnauthorized, "captcha required: send X-Captcha-Token")
	}
	body, _ := json.Marshal(map[string]string{"token": tok, "ip": c.d.ClientIP(r)})
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.CaptchaURL, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.captcha.Do(hr)
	if err != nil {
		return apierr.Wrap(apierr.CodeUnavailable, "captcha service unavailable", err)
	}
	defer resp.Body.Close()
	var out struct {
		Success bool `json:"success"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 4096)).Decode(&out) != nil || !out.Success {
		return apierr.New(apierr.CodeUnauthorized, "captcha not accepted (status "+strconv.Itoa(resp.StatusCode)+")")
	}
	return nil
}
