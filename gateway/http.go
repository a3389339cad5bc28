package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/logsample"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/normalize/schemas"
)

func (g *Gateway) buildHTTP() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	if g.cfg.HTTP.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	} else {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	e.HTTPErrorHandler = g.handleError
	e.Use(g.drainGate, g.observe)
	e.GET("/", func(c echo.Context) error { return c.HTML(http.StatusOK, indexPage) })
	healthz := func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) }
	e.GET("/healthz", healthz)
	e.HEAD("/healthz", healthz) // load balancers' and orchestrators' probes often send HEAD
	e.GET("/readyz", g.readyz)
	e.HEAD("/readyz", g.readyz)
	e.GET("/metrics", echo.WrapHandler(g.metrics.handler()))
	e.GET("/v1/schemas/:name", func(c echo.Context) error {
		b, ok := schemas.Get(c.Param("name"))
		if !ok {
			return apierr.New(apierr.CodeNotFound, "no schema named "+c.Param("name")+"; have "+strings.Join(schemas.Names(), ", "))
		}
		return c.Blob(http.StatusOK, "application/schema+json", b)
	})
	e.GET("/v1/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/json", openAPI) })
	e.GET("/v1/requests/:id", g.requestStatus)
	e.GET("/v1/requests", g.requestByNumber)
	g.echo = e
	g.refusals = logsample.New(time.Second, g.clock)
	g.srv = &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	g.statusAuth = append(g.statusAuth, g.citizenOwner)
}

// handleError is the one place where errors become HTTP answers.
func (g *Gateway) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	var ae *apierr.Error
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &he):
		ae = fromEcho(he)
	case errors.Is(err, intakelog.ErrConflict):
		ae = apierr.Wrap(apierr.CodeConflict, "this idempotency key (client_request_id) was used before with a different request", err)
	case errors.Is(err, intakelog.ErrReplay):
		ae = apierr.Wrap(apierr.CodeReplay, "the nonce was already used", err)
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		ae = apierr.Wrap(apierr.CodeUnavailable, "the gateway is shutting down or busy; retry", err)
		ae.RetryAfter = time.Second
	default:
		ae = apierr.From(err)
	}
	status := apierr.Status(ae.Code)
	if status >= 500 {
		g.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", status, "err", err)
	}
	if status == http.StatusTooManyRequests {
		g.logRefusal(c, ae)
	}
	if ae.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, apierr.Body{Error: ae})
}

// logRefusal writes the audit line of a 429, sampled: a client can cause
// refusals at any rate, so at most one line per route per second gets
// through, saying how many were held back since the previous one. The reason
// is the answer's message, which for a refusal is the gateway's own wording,
// never the request's content.
func (g *Gateway) logRefusal(c echo.Context, ae *apierr.Error) {
	route := c.Path()
	suppressed, ok := g.refusals.Allow(route)
	if !ok {
		return
	}
	g.log.Warn("request rate limited", "method", c.Request().Method, "path", route, "ip", c.RealIP(),
		"reason", ae.Message, "retry_after_s", ae.RetryAfter.Seconds(), "suppressed", suppressed)
}

func fromEcho(he *echo.HTTPError) *apierr.Error {
	msg := http.StatusText(he.Code)
	if s, ok := he.Message.(string); ok {
		msg = s
	}
	switch he.Code {
	case http.StatusNotFound:
		return apierr.New(apierr.CodeNotFound, "no such endpoint")
	case http.StatusMethodNotAllowed:
		return apierr.New(apierr.CodeMethodNotAllow, "method not allowed")
	case http.StatusRequestEntityTooLarge:
		return apierr.New(apierr.CodeTooLarge, msg)
	case http.StatusUnauthorized:
		return apierr.New(apierr.CodeUnauthorized, msg)
	case http.StatusForbidden:
		return apierr.New(apierr.CodeForbidden, msg)
	case http.StatusTooManyRequests:
		return apierr.New(apierr.CodeRateLimited, msg)
	case http.StatusServiceUnavailable:
		return apierr.New(apierr.CodeUnavailable, msg)
	}
	if he.Code >= 400 && he.Code < 500 {
		return apierr.New(apierr.CodeBadRequest, msg)
	}
	return apierr.Wrap(apierr.CodeInternal, "internal error", he)
}

// drainGate answers 503 to new requests once shutdown began (connections
// kept alive would otherwise slip new work in while we drain).
func (g *Gateway) drainGate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if g.draining.Load() && c.Path() != "/healthz" {
			c.Response().Header().Set("Connection", "close")
			e := apierr.New(apierr.CodeUnavailable, "the gateway is shutting down; retry")
			e.RetryAfter = time.Second
			return e
		}
		return next(c)
	}
}

// storeReachable opens a read transaction, giving up after wait: a shared
// store that does not answer (cluster mode) makes the node unready at once,
// well within its leases, rather than when the store's retries give up.
func (g *Gateway) storeReachable(wait time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- g.db.View(func(*store.Tx) error { return nil }) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errors.New("store: no answer")
	}
}

func (g *Gateway) readyz(c echo.Context) error {
	out := map[string]any{"store": "ok"}
	status := http.StatusOK
	reachable := g.storeReachable(2*time.Second) == nil
	if !reachable || g.draining.Load() {
		out["store"] = "unavailable"
		status = http.StatusServiceUnavailable
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
	defer cancel()
	if err := kafka.Ping(ctx, g.brokers); err != nil {
		out["kafka"] = "unreachable: buffering in the intake log"
	} else {
		out["kafka"] = "ok"
	}
	if reachable { // reading it would wait out the store's retry budget
		depth, _ := g.intake.Depth()
		out["intake_log_depth"] = depth
	}
	chs := map[string]string{}
	for _, st := range g.chState {
		if st.Enabled {
			chs[st.Name] = "enabled"
		} else {
			chs[st.Name] = "disabled: " + st.Reason
		}
	}
	out["channels"] = chs
	if g.cfg.Clustered() {
		out["node"] = g.nodeID()
		if reachable {
			peers, _ := g.peers()                       // the store answered just now; an error shows as no peers
			out["peers"] = append([]string{}, peers...) // [] rather than null when alone
			out["chat_home"] = "none: moving to another node"
			if rec, err := g.chatHome.current(); err == nil {
				out["chat_home"] = rec.Node
			}
		}
	}
	if g.draining.Load() {
		out["status"] = "draining"
	}
	return c.JSON(status, out)
}

// citizenOwner recognises a citizen token.
func (g *Gateway) citizenOwner(r *http.Request) (string, bool, error) {
	var cookie string
	if ck, err := r.Cookie("citizen_token"); err == nil {
		cookie = ck.Value
	}
	t := tokens.FromRequest(r.Header.Get("Authorization"), "", cookie)
	if t == "" {
		return "", false, nil
	}
	cl, err := g.tokens.Verify(t, tokens.RoleCitizen)
	if err != nil {
		return "", true, apierr.Wrap(apierr.CodeUnauthorized, "invalid citizen token", err)
	}
	return "citizen:" + cl.Sub, true, nil
}

// statusOwner returns the owner the request presents (see StatusAuthorizer),
// or an error when it presents none.
func (g *Gateway) statusOwner(r *http.Request) (string, error) {
	for _, a := range g.statusAuth {
		o, ok, err := a(r)
		if err != nil {
			return "", err
		}
		if ok {
			return o, nil
		}
	}
	return "", apierr.New(apierr.CodeUnauthorized, "a citizen token, an app signature or a partner signature is required")
}

// requestStatus answers GET /v1/requests/{id} to whoever filed it.
func (g *Gateway) requestStatus(c echo.Context) error {
	owner, err := g.statusOwner(c.Request())
	if err != nil {
		return err
	}
	req, err := g.intake.Request(c.Param("id"))
	if errors.Is(err, intakelog.ErrNotFound) || (err == nil && !owns(owner, req.Owner)) {
		// The same answer for "not yours" as for "not there": ids are not probed.
		return apierr.New(apierr.CodeNotFound, "no such request")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, g.statusView(req, true))
}

// agentReader tells whether the request carries the bearer token of a
// configured agent, who may look up any request by its number (an agent
// takes calls about requests from every channel). ok is false when the
// bearer token is not an agent's, so that the owners' checks apply.
func (g *Gateway) agentReader(r *http.Request) (agentID string, ok bool) {
	tok := tokens.FromRequest(r.Header.Get("Authorization"), "", "")
	if tok == "" {
		return "", false
	}
	cl, err := g.tokens.Verify(tok, tokens.RoleAgent)
	if err != nil {
		return "", false
	}
	if _, known := g.agents.Agent(cl.Sub); !known {
		return "", false
	}
	return cl.Sub, true
}

// requestByNumber answers GET /v1/requests?number=… (contract §11): to an
// agent any request, to a citizen, app or partner only their own (as
// GET /v1/requests/{id}); 404 for "not yours" as for "not there", 400 for
// what is not a request number (a mistyped digit fails the check digit).
func (g *Gateway) requestByNumber(c echo.Context) error {
	r := c.Request()
	number := strings.TrimSpace(c.QueryParam("number"))
	agentID, agent := g.agentReader(r)
	owner := ""
	if !agent {
		var err error
		if owner, err = g.statusOwner(r); err != nil {
			return err
		}
	}
	if number == "" {
		return apierr.Invalid("the query parameter number is required: GET /v1/requests?number=…", map[string]string{"number": "required"})
	}
	req, err := g.intake.RequestByNumber(number)
	if errors.Is(err, normalize.ErrBadNumber) {
		return apierr.Invalid("number is not a request number: "+strings.TrimPrefix(err.Error(), normalize.ErrBadNumber.Error()+": "),
			map[string]string{"number": "must be a request number (12 to 14 digits with a valid check digit)"})
	}
	if errors.Is(err, intakelog.ErrNotFound) || (err == nil && !agent && !owns(owner, req.Owner)) {
		return apierr.New(apierr.CodeNotFound, "no such request")
	}
	if err != nil {
		return err
	}
	if agent { // who read which request: agents see every channel's
		g.log.Info("request looked up by number", "agent_id", agentID, "envelope_id", req.ID, "number", req.Number)
	}
	// The survey link is the citizen's to answer, not an agent's.
	return c.JSON(http.StatusOK, g.statusView(req, !agent))
}

// StatusView is the body of GET /v1/requests/{id} and GET /v1/requests?number=….
type StatusView struct {
	ID string `json:"id"`
	// Number is the request number (contract §11); absent only for requests
	// accepted before numbers existed.
	Number     string     `json:"number,omitempty"`
	Channel    string     `json:"channel"`
	Status     string     `json:"status"`
	ReceivedAt time.Time  `json:"received_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Reply      string     `json:"reply,omitempty"`
	Notice     string     `json:"notice,omitempty"`
	Timeliness Timeliness `json:"timeliness"`
	// Survey is the follow-up survey of a finished request (contract §9),
	// shown to whoever filed it.
	Survey *SurveyView `json:"survey,omitempty"`
}

// SurveyView is where the citizen rates the handling of their request.
type SurveyView struct {
	URL       string    `json:"url"`
	Code      string    `json:"code"` // for apps: POST /v1/surveys/{code}
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Timeliness is the state of a request's two clocks.
type Timeliness struct {
	FirstResponse Clock `json:"first_response"`
	Handling      Clock `json:"handling"`
}

// Clock is one timeliness clock: open, met or breached.
type Clock struct {
	Due     time.Time  `json:"due"`
	State   string     `json:"state"`
	Stopped *time.Time `json:"stopped_at,omitempty"`
}

func clockOf(due time.Time, stopped *time.Time, now time.Time) Clock {
	c := Clock{Due: due, Stopped: stopped}
	switch {
	case stopped != nil && !stopped.After(due):
		c.State = "met"
	case stopped != nil, now.After(due):
		c.State = "breached"
	default:
		c.State = "open"
	}
	return c
}

// statusView is the status answer of r; withSurvey adds its survey, if any.
func (g *Gateway) statusView(r *intakelog.Request, withSurvey bool) StatusView {
	v := statusView(r, g.now())
	if f, ok := g.followup.ForRequest(r.ID); ok && withSurvey && f.Code != "" {
		v.Survey = &SurveyView{URL: g.followup.URL(f.Code), Code: f.Code, State: f.StateAt(g.now()), ExpiresAt: f.ExpiresAt}
	}
	return v
}

func statusView(r *intakelog.Request, now time.Time) StatusView {
	return StatusView{ID: r.ID, Number: r.Number, Channel: r.Channel, Status: r.Status, ReceivedAt: r.ReceivedAt, UpdatedAt: r.UpdatedAt,
		Reply: r.Reply, Notice: r.Notice, Timeliness: Timeliness{
			FirstResponse: clockOf(r.FirstResponseDue, r.FirstResponseAt, now),
			Handling:      clockOf(r.HandlingDue, r.HandledAt, now)}}
}

// indexPage is GET /: where a newcomer finds the pages and the API.
const indexPage = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>12345 热线接入网关 · intake gateway</title></head>
<body>
<h1>12345 热线接入网关 <small>intake gateway</small></h1>
<ul>
<li><a href="/console/">坐席工作台 · agent console</a></li>
<li><a href="/widget/">市民在线咨询 · citizen chat widget</a> (websites embed <code>&lt;script src="/widget/embed.js"&gt;&lt;/script&gt;</code>)</li>
<li><a href="/v1/openapi.json">REST API (OpenAPI 3.1)</a> · <a href="/v1/schemas/envelope">envelope schema</a></li>
<li><a href="/readyz">/readyz</a> · <a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a></li>
</ul>
</body></html>
`
