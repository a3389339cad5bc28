// Package agentlogin is the agents' way in (contract §4): POST
// /v1/agents/login behind the login guard, and DELETE /v1/agents/{id}/lockout
// for supervisors. It issues agent tokens; the live-chat hub only checks them.
package agentlogin

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/loginguard"
	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/apierr"
)

// Agents tells who the agents are (the live-chat hub's roster).
type Agents interface {
	Agent(id string) (configs.AgentSpec, bool)
}

// Handler serves the agent login and the lockout lift.
type Handler struct {
	guard  *loginguard.Guard
	agents Agents
	tokens *tokens.Signer
	ttl    time.Duration
}

// New returns the handler; ttl is the lifetime of the agent tokens it issues.
func New(guard *loginguard.Guard, agents Agents, signer *tokens.Signer, ttl time.Duration) *Handler {
	return &Handler{guard: guard, agents: agents, tokens: signer, ttl: ttl}
}

// Mount registers POST /v1/agents/login and DELETE /v1/agents/{id}/lockout.
func (h *Handler) Mount(e *echo.Echo) {
	e.POST("/v1/agents/login", h.login)
	e.DELETE("/v1/agents/:id/lockout", h.liftLockout)
}

// login is POST /v1/agents/login (contract §4), behind the login guard:
// back-off and lockout per account and IP, bounded bcrypt work, and the same
// work and answer for an unknown id as for a wrong password.
func (h *Handler) login(c echo.Context) error {
	body, err := httpin.ReadJSON(c.Request(), 4096)
	if err != nil {
		return err
	}
	var req struct {
		ID       string `json:"id"`
		Password string `json:"password"`
	}
	if err := httpin.DecodeStrict(body, &req); err != nil {
		return err
	}
	if req.ID == "" || req.Password == "" {
		return apierr.Invalid("id and password are required", map[string]string{"id": "required", "password": "required"})
	}
	var spec configs.AgentSpec
	// c.RealIP goes through the gateway's IPExtractor: the client IP of the
	// web channel's per-IP limit, from X-Forwarded-For only with http.trust_proxy.
	err = h.guard.Login(c.Request().Context(), req.ID, c.RealIP(), func() (ok, known bool) {
		s, known := h.agents.Agent(req.ID)
		if !known {
			return h.guard.Check("", "", req.Password), false
		}
		spec = s
		return h.guard.Check(spec.PasswordHash, spec.Password, req.Password), true
	})
	if err != nil {
		return loginError(err)
	}
	tok := h.tokens.Issue(tokens.Claims{Sub: spec.ID, Role: tokens.RoleAgent}, h.ttl)
	return c.JSON(http.StatusOK, map[string]any{"token": tok, "agent": map[string]any{
		"id": spec.ID, "skills": spec.Skills, "max_concurrent": spec.MaxConcurrent}})
}

// loginError turns the guard's verdict into the client's error. A back-off,
// a lockout and a full bcrypt queue are all 429 with Retry-After (contract
// §3's rate-limit answer); the message says which.
func loginError(err error) error {
	var d *loginguard.Denied
	switch {
	case errors.Is(err, loginguard.ErrWrongPassword):
		return apierr.New(apierr.CodeUnauthorized, "unknown agent or wrong password")
	case errors.As(err, &d) && errors.Is(err, loginguard.ErrBusy):
		// 429, not 503: the gateway logs every 5xx as an error, and a storm
		// would flood the log with them.
		e := apierr.RateLimited(d.RetryAfter)
		e.Message, e.Err = "too many logins at once; retry", err
		return e
	case errors.As(err, &d) && errors.Is(err, loginguard.ErrLocked):
		e := apierr.RateLimited(d.RetryAfter)
		e.Message, e.Err = "too many failed logins: this agent is locked out; retry later or ask a supervisor", err
		return e
	case errors.As(err, &d):
		e := apierr.RateLimited(d.RetryAfter)
		e.Message, e.Err = "too many failed logins; retry later", err
		return e
	}
	// The request ended while it waited for a slot: the client has gone, or
	// gave up. Answered as busy, not 503: a storm of abandoned logins must
	// not fill the error log.
	e := apierr.RateLimited(time.Second)
	e.Message, e.Err = "too many logins at once; retry", err
	return e
}

// liftLockout is DELETE /v1/agents/{id}/lockout: a supervisor (an agent
// token whose agent has the supervisor role) ends an agent's lockout or
// back-off. The answer says whether there was one.
func (h *Handler) liftLockout(c echo.Context) error {
	r := c.Request()
	tok := tokens.FromRequest(r.Header.Get("Authorization"), "", "")
	claims, err := h.tokens.Verify(tok, tokens.RoleAgent)
	if tok == "" || err != nil {
		return apierr.Wrap(apierr.CodeUnauthorized, "a supervisor's agent token is required: Authorization: Bearer …", err)
	}
	id := c.Param("id")
	sup, isAgent := h.agents.Agent(claims.Sub)
	if !isAgent || !sup.Supervisor() {
		return apierr.New(apierr.CodeForbidden, "only a supervisor may lift a lockout")
	}
	if _, ok := h.agents.Agent(id); !ok {
		return apierr.New(apierr.CodeNotFound, "no such agent")
	}
	lifted := h.guard.Lift(id, claims.Sub)
	return c.JSON(http.StatusOK, map[string]any{"agent_id": id, "lifted": lifted})
}

// HashCost is the bcrypt cost of the agents' password hashes (the highest),
// which the login guard's dummy hash must match; 0 when none is hashed.
func HashCost(specs []configs.AgentSpec) int {
	hashes := make([]string, 0, len(specs))
	for _, s := range specs {
		hashes = append(hashes, s.PasswordHash)
	}
	return loginguard.CostOf(hashes...)
}
