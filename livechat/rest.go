package livechat

// What the agents' REST endpoints (replies, media, chats) share: the agent a
// request's token names.

import (
	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/apierr"
)

// restAgent returns the configured agent whose token the request carries
// (Authorization: Bearer …; never in a URL, where proxies log it).
func (h *Hub) restAgent(c echo.Context) (configs.AgentSpec, error) {
	r := c.Request()
	tok := tokens.FromRequest(r.Header.Get("Authorization"), "", "")
	if tok == "" {
		return configs.AgentSpec{}, apierr.New(apierr.CodeUnauthorized, "an agent token is required: Authorization: Bearer …")
	}
	claims, err := h.d.Tokens.Verify(tok, tokens.RoleAgent)
	if err != nil {
		return configs.AgentSpec{}, apierr.Wrap(apierr.CodeUnauthorized, "authentication failed: log in again", err)
	}
	spec, ok := h.Agent(claims.Sub)
	if !ok {
		return configs.AgentSpec{}, apierr.New(apierr.CodeUnauthorized, "authentication failed: log in again")
	}
	return spec, nil
}
