// Package livechattest starts an in-process gateway for live-chat tests and
// speaks the websocket protocol as a client would.
package livechattest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/livechat"
)

// Gateway is a running in-process gateway.
type Gateway struct {
	*gateway.Gateway
	Base string
	Dir  string
	Env  []string
}

// Start starts a gateway with env (GATEWAY_* pairs) on free ports in a temp dir.
func Start(t testing.TB, env ...string) *Gateway {
	t.Helper()
	dir := t.TempDir()
	return StartIn(t, dir, env...)
}

// StartIn starts a gateway on dir (a restart when dir was used before).
func StartIn(t testing.TB, dir string, env ...string) *Gateway {
	t.Helper()
	return StartWith(t, dir, gateway.Options{}, env...)
}

// StartWith is StartIn with options (e.g. a fake timers clock).
func StartWith(t testing.TB, dir string, opts gateway.Options, env ...string) *Gateway {
	t.Helper()
	base := []string{"GATEWAY_DATA_DIR=" + dir, "GATEWAY_HTTP_ADDR=127.0.0.1:0", "GATEWAY_KAFKA_EMBEDDED_ADDR=127.0.0.1:0",
		"GATEWAY_AUTH_TOKEN_SECRET=test-secret-0123456789"}
	cfg, err := configs.Load("", append(base, env...))
	require.NoError(t, err)
	cfg.LiveChat.PingInterval = 500 * time.Millisecond
	level := slog.LevelWarn
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts.Logger = logger
	g, err := gateway.New(cfg, opts)
	require.NoError(t, err)
	require.NoError(t, g.Start(context.Background()))
	gw := &Gateway{Gateway: g, Base: "http://" + g.Addr(), Dir: dir, Env: env}
	t.Cleanup(func() { gw.Stop(t) })
	return gw
}

// Stop shuts the gateway down (idempotent).
func (g *Gateway) Stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = g.Shutdown(ctx)
}

// PostJSON posts v and decodes the answer into out (if not nil); returns the status.
func (g *Gateway) PostJSON(t testing.TB, path string, v any, out any, header ...string) int {
	t.Helper()
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, g.Base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if out != nil {
		require.NoError(t, json.Unmarshal(body, out), string(body))
	}
	return resp.StatusCode
}

// CitizenToken obtains a web citizen token.
func (g *Gateway) CitizenToken(t testing.TB) string {
	var out struct{ Token string }
	require.Equal(t, 200, g.PostJSON(t, "/v1/citizen/sessions", map[string]any{}, &out))
	return out.Token
}

// AgentToken logs an agent in.
func (g *Gateway) AgentToken(t testing.TB, id, password string) string {
	var out struct{ Token string }
	require.Equal(t, 200, g.PostJSON(t, "/v1/agents/login", map[string]string{"id": id, "password": password}, &out))
	return out.Token
}

// Client is a websocket client.
type Client struct {
	wmu  sync.Mutex // writes may come from several goroutines (pion callbacks)
	t    testing.TB
	WS   *websocket.Conn
	in   chan livechat.Frame
	Done chan struct{}
	Err  error
}

// Dial connects to path (/v1/ws/citizen or /v1/ws/agent) with token.
func (g *Gateway) Dial(t testing.TB, path, token string, header http.Header) (*Client, *http.Response, error) {
	return Dial(t, g.Base, path, token, header)
}

// Dial connects to base+path with token.
func Dial(t testing.TB, base, path, token string, header http.Header) (*Client, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + path
	if token != "" {
		u += "?token=" + url.QueryEscape(token)
	}
	ws, resp, err := websocket.DefaultDialer.Dial(u, header)
	if err != nil {
		return nil, resp, err
	}
	c := &Client{t: t, WS: ws, in: make(chan livechat.Frame, 100000), Done: make(chan struct{})}
	go func() {
		defer close(c.Done)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				c.Err = err
				return
			}
			var f livechat.Frame
			if json.Unmarshal(data, &f) == nil {
				c.in <- f
			}
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return c, resp, nil
}

// MustDial is Dial that fails the test on error.
func (g *Gateway) MustDial(t testing.TB, path, token string) *Client {
	t.Helper()
	return MustDial(t, g.Base, path, token)
}

// MustDial is Dial that fails the test on error.
func MustDial(t testing.TB, base, path, token string) *Client {
	t.Helper()
	c, _, err := Dial(t, base, path, token, nil)
	require.NoError(t, err)
	return c
}

// Send writes a frame.
func (c *Client) Send(f livechat.Frame) {
	c.t.Helper()
	f.At = time.Now().UTC()
	require.NoError(c.t, c.WriteFrame(f))
}

// WriteFrame writes a frame as is; safe from any goroutine (pion callbacks),
// where Send's failing of the test is not.
func (c *Client) WriteFrame(f livechat.Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.WS.WriteJSON(f)
}

// SendData writes a frame with data.
func (c *Client) SendData(typ, sid, id string, data any) {
	c.t.Helper()
	b, _ := json.Marshal(data)
	c.Send(livechat.Frame{Type: typ, SessionID: sid, ID: id, Data: b})
}

// Expect returns the next frame of type typ within timeout, skipping others.
func (c *Client) Expect(typ string, timeout time.Duration) livechat.Frame {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f := <-c.in:
			if f.Type == typ {
				return f
			}
		case <-deadline:
			c.t.Fatalf("no %q frame within %v (conn err: %v)", typ, timeout, c.Err)
		}
	}
}

// Next returns the next frame of any type.
func (c *Client) Next(timeout time.Duration) (livechat.Frame, bool) {
	select {
	case f := <-c.in:
		return f, true
	case <-time.After(timeout):
		return livechat.Frame{}, false
	}
}

// Data decodes a frame's data.
func Data(t testing.TB, f livechat.Frame) map[string]any {
	var m map[string]any
	require.NoError(t, json.Unmarshal(f.Data, &m))
	return m
}

// DataDir is the data directory for restart tests.
func (g *Gateway) DataDir() string { return filepath.Clean(g.Dir) }

// ExpectChat returns the next message frame from a person (skipping system
// messages such as the automatic receipt).
func (c *Client) ExpectChat(timeout time.Duration) livechat.Frame {
	c.t.Helper()
	for {
		f := c.Expect(livechat.TypeMessage, timeout)
		if Data(c.t, f)["from"] != "system" {
			return f
		}
	}
}

// ExpectFrom returns the next message frame from "citizen", "agent" or "system".
func (c *Client) ExpectFrom(from string, timeout time.Duration) livechat.Frame {
	c.t.Helper()
	for {
		f := c.Expect(livechat.TypeMessage, timeout)
		if Data(c.t, f)["from"] == from {
			return f
		}
	}
}
