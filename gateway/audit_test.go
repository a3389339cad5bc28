package gateway_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/logtest"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/internal/clock"
)

// newLoggedGateway is newGateway with its JSON log captured.
func newLoggedGateway(t *testing.T, mutate func(*configs.Config)) (*gateway.Gateway, *clock.Fake, *logtest.Buffer) {
	t.Helper()
	cfg := gatewaytest.Config(t)
	if mutate != nil {
		mutate(cfg)
	}
	logs := &logtest.Buffer{}
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	g := gatewaytest.New(t, cfg, gateway.Options{Clock: clk,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	return g, clk, logs
}

// A refused request (429) leaves an audit line with the route and the
// client's address; a flood of them leaves one line per second that counts
// the refusals it stands for, and none holds what the citizen wrote.
func TestRateLimitRefusalsAreLoggedSampled(t *testing.T) {
	const phone, text = "13812345678", "楼下工地夜间施工噪音扰民"
	g, clk, logs := newLoggedGateway(t, func(c *configs.Config) { c.RateLimit.PerIP, c.RateLimit.PerIPBurst = 1, 1 })
	body := `{"text":"` + text + `，电话` + phone + `","contact":{"phone":"` + phone + `"}}`
	post := func() int {
		return call(g, http.MethodPost, webPath, strings.NewReader(body), nil, "192.0.2.7:4711").Code
	}
	require.Equal(t, http.StatusAccepted, post())
	for range 5 {
		require.Equal(t, http.StatusTooManyRequests, post())
	}
	lines := logs.Lines(t, "request rate limited")
	require.Len(t, lines, 1, "one line for the first second's refusals")
	require.Equal(t, map[string]any{"level": "WARN", "path": webPath, "method": "POST", "ip": "192.0.2.7", "suppressed": 0.0},
		pick(lines[0], "level", "path", "method", "ip", "suppressed"))
	require.NotEmpty(t, lines[0]["reason"])

	clk.Advance(time.Second) // one token back, and the sampler's second is over
	require.Equal(t, http.StatusAccepted, post())
	require.Equal(t, http.StatusTooManyRequests, post())
	lines = logs.Lines(t, "request rate limited")
	require.Len(t, lines, 2)
	require.Equal(t, 4.0, lines[1]["suppressed"], "the four refusals held back in the first second")

	all := logs.String()
	require.NotContains(t, all, phone)
	require.NotContains(t, all, text)
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

// Agent logins leave audit lines with the address the request came from
// (not a forwarded one the gateway does not trust): a success, a wrong
// password, and the refusal of a login still backing off, sampled like
// every 429. No line holds the password.
func TestAgentLoginAuditLines(t *testing.T) {
	const good, bad = "pw-li-0123", "guess-9876"
	g, _, logs := newLoggedGateway(t, func(c *configs.Config) { c.Agents = "li:" + good + ":general" })
	hdr := http.Header{"X-Forwarded-For": {"203.0.113.50"}} // http.trust_proxy is off
	login := func(pw string) int {
		return call(g, http.MethodPost, "/v1/agents/login", strings.NewReader(`{"id":"li","password":"`+pw+`"}`), hdr, "192.0.2.9:5050").Code
	}
	require.Equal(t, http.StatusOK, login(good))
	require.Equal(t, http.StatusUnauthorized, login(bad))
	require.Equal(t, http.StatusTooManyRequests, login(good), "backing off after the failure (the clock stands still)")

	for _, tc := range []struct {
		msg  string
		want map[string]any
	}{
		{"agent login", map[string]any{"level": "INFO", "agent_id": "li", "ip": "192.0.2.9", "outcome": "ok"}},
		{"agent login failed", map[string]any{"level": "WARN", "agent_id": "li", "ip": "192.0.2.9", "outcome": "wrong_password"}},
		{"request rate limited", map[string]any{"level": "WARN", "path": "/v1/agents/login", "ip": "192.0.2.9"}},
	} {
		lines := logs.Lines(t, tc.msg)
		require.Len(t, lines, 1, tc.msg)
		keys := make([]string, 0, len(tc.want))
		for k := range tc.want {
			keys = append(keys, k)
		}
		require.Equal(t, tc.want, pick(lines[0], keys...), tc.msg)
	}
	all := logs.String()
	require.NotContains(t, all, good)
	require.NotContains(t, all, bad)
	require.NotContains(t, all, "203.0.113.50")
}
