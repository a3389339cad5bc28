package agentlogin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/internal/clock"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// loginCost is the bcrypt cost of the agents file in these tests: low for
// speed, but not bcrypt's minimum, so that a dummy of the wrong cost shows.
const loginCost = 6

// answer is one HTTP answer, as a client sees it.
type answer struct {
	status     int
	retryAfter string
	body       string
}

func call(t *testing.T, method, url, token string, v any) answer {
	t.Helper()
	var rd io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(body)}
}

// loginGateway starts a gateway on a settable clock with li (plaintext, from
// the agents key), chen (bcrypt, from agents_file) and zhou, a supervisor.
func loginGateway(t *testing.T) (*lt.Gateway, *clock.Fake) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw-chen"), loginCost)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "agents.yaml")
	require.NoError(t, os.WriteFile(file, []byte("agents:\n  - {id: chen, password_hash: '"+string(h)+"', skills: [general]}\n"+
		"  - {id: zhou, password_hash: '"+string(h)+"', roles: [supervisor]}\n"), 0o600))
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	g := lt.StartWith(t, t.TempDir(), gateway.Options{Clock: clk},
		"GATEWAY_AGENTS=li:pw-li:general", "GATEWAY_AGENTS_FILE="+file)
	return g, clk
}

func login(t *testing.T, g *lt.Gateway, id, pw string) answer {
	t.Helper()
	return call(t, http.MethodPost, g.Base+"/v1/agents/login", "", map[string]string{"id": id, "password": pw})
}

func metric(t *testing.T, g *lt.Gateway, sample string) float64 {
	t.Helper()
	v, err := gatewaytest.Metric(context.Background(), g.Base, sample)
	require.NoError(t, err)
	return v
}

// TestLoginThrottled is the finding: 300 wrong passwords from one IP
// were all answered 401 and the right password worked straight after.
func TestLoginThrottled(t *testing.T) {
	g, _ := loginGateway(t)
	counts := map[int]int{}
	for range 300 {
		a := login(t, g, "li", "guess")
		counts[a.status]++
		if a.status == http.StatusTooManyRequests {
			require.Equal(t, "1", a.retryAfter)
			require.JSONEq(t, `{"error":{"code":"rate_limited","message":"too many failed logins; retry later"}}`, a.body)
		}
	}
	require.Equal(t, map[int]int{http.StatusUnauthorized: 1, http.StatusTooManyRequests: 299}, counts,
		"one password checked, then the back-off refuses the rest")
	require.Equal(t, http.StatusTooManyRequests, login(t, g, "li", "pw-li").status, "not even the right password straight after")
	require.Equal(t, 300.0, metric(t, g, `gateway_agent_logins_total{outcome="throttled"}`))
	require.Equal(t, 1.0, metric(t, g, `gateway_agent_logins_total{outcome="wrong_password"}`))
	require.Equal(t, 1.0, metric(t, g, "gateway_agent_login_hash_checks_total"))
}

func TestLoginLockout(t *testing.T) {
	const locked = `{"error":{"code":"rate_limited","message":"too many failed logins: this agent is locked out; retry later or ask a supervisor"}}`
	// lockOut makes five failures, each once the previous back-off is over.
	lockOut := func(t *testing.T, g *lt.Gateway, clk *clock.Fake, id string) {
		for i := range 5 {
			require.Equal(t, http.StatusUnauthorized, login(t, g, id, "guess").status, "failure %d", i+1)
			clk.Advance(time.Duration(1<<i) * time.Second)
		}
		a := login(t, g, id, "pw-"+id)
		require.Equal(t, http.StatusTooManyRequests, a.status)
		require.Equal(t, "884", a.retryAfter, "15 min from the fifth failure, 16 s ago")
		require.JSONEq(t, locked, a.body)
	}
	supervisor := func(t *testing.T, g *lt.Gateway) string {
		a := login(t, g, "zhou", "pw-chen")
		require.Equal(t, http.StatusOK, a.status, a.body)
		var out struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(a.body), &out))
		return out.Token
	}
	lift := func(g *lt.Gateway, id, token string) answer {
		return call(t, http.MethodDelete, g.Base+"/v1/agents/"+id+"/lockout", token, nil)
	}

	t.Run("ends by itself after auth.login.lockout", func(t *testing.T) {
		g, clk := loginGateway(t)
		lockOut(t, g, clk, "chen")
		clk.Advance(884 * time.Second)
		require.Equal(t, http.StatusOK, login(t, g, "chen", "pw-chen").status)
		require.Equal(t, 1.0, metric(t, g, "gateway_agent_lockouts_total"))
		require.Equal(t, 1.0, metric(t, g, `gateway_agent_logins_total{outcome="locked"}`))
	})
	t.Run("a supervisor lifts it", func(t *testing.T) {
		g, clk := loginGateway(t)
		lockOut(t, g, clk, "li")
		sup := supervisor(t, g)
		a := lift(g, "li", sup)
		require.Equal(t, http.StatusOK, a.status, a.body)
		require.JSONEq(t, `{"agent_id":"li","lifted":true}`, a.body)
		require.Equal(t, http.StatusOK, login(t, g, "li", "pw-li").status)
		require.JSONEq(t, `{"agent_id":"li","lifted":false}`, lift(g, "li", sup).body)
	})
	t.Run("only a supervisor", func(t *testing.T) {
		g, clk := loginGateway(t)
		lockOut(t, g, clk, "li")
		clk.Advance(time.Second)
		a := login(t, g, "chen", "pw-chen")
		require.Equal(t, http.StatusOK, a.status, a.body)
		var agent struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(a.body), &agent))
		sup := supervisor(t, g)

		for _, tt := range []struct {
			name, id, token string
			status          int
		}{
			{"no token", "li", "", http.StatusUnauthorized},
			{"a bad token", "li", "x.y", http.StatusUnauthorized},
			{"an agent without the role", "li", agent.Token, http.StatusForbidden},
			{"an unknown agent", "nobody", sup, http.StatusNotFound},
		} {
			t.Run(tt.name, func(t *testing.T) {
				require.Equal(t, tt.status, lift(g, tt.id, tt.token).status)
			})
		}
		require.Equal(t, http.StatusTooManyRequests, login(t, g, "li", "pw-li").status, "still locked")
	})
}

// TestLoginEnumeration: a wrong password for a known id and any password for
// an unknown one get the same answer after the same work (one bcrypt
// comparison of the agents' cost; the cost is TestDummyHashHasTheAgentsCost's).
// Before, an unknown id or a plaintext agent answered without any.
func TestLoginEnumeration(t *testing.T) {
	g, clk := loginGateway(t)
	var bodies []string
	for _, tt := range []struct{ name, id string }{
		{"hashed agent, wrong password", "chen"},
		{"plaintext agent, wrong password", "li"},
		{"unknown id", "nobody"},
		{"unknown id that looks like an agent's", "chen2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := metric(t, g, "gateway_agent_login_hash_checks_total")
			a := login(t, g, tt.id, "wrong-password")
			require.Equal(t, http.StatusUnauthorized, a.status)
			require.Empty(t, a.retryAfter)
			bodies = append(bodies, a.body)
			require.Equal(t, before+1, metric(t, g, "gateway_agent_login_hash_checks_total"), "one bcrypt comparison")
			// The second attempt meets the same back-off whether the id exists or not.
			b := login(t, g, tt.id, "wrong-password")
			require.Equal(t, http.StatusTooManyRequests, b.status)
			require.Equal(t, "1", b.retryAfter)
		})
		clk.Advance(time.Second) // past the IP's share of the back-off, if any
	}
	require.Len(t, bodies, 4)
	for _, b := range bodies[1:] {
		require.Equal(t, bodies[0], b)
	}
	require.JSONEq(t, `{"error":{"code":"unauthorized","message":"unknown agent or wrong password"}}`, bodies[0])
}

// A login must be JSON: a page elsewhere cannot make a visitor's browser try
// passwords with a text/plain form post.
func TestLoginWantsJSON(t *testing.T) {
	g, _ := loginGateway(t)
	resp, err := http.Post(g.Base+"/v1/agents/login", "text/plain", bytes.NewReader([]byte(`{"id":"li","password":"pw-li"}`)))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `"code":"unsupported_media_type"`)
	require.Equal(t, http.StatusOK, login(t, g, "li", "pw-li").status)
}
