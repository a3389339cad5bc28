package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// errRateLimited means the gateway answered 429: start it with
// GATEWAY_RATE_LIMIT_PER_IP and _PER_IP_BURST high enough for the run.
var errRateLimited = errors.New("rate limited (429): raise GATEWAY_RATE_LIMIT_PER_IP and GATEWAY_RATE_LIMIT_PER_IP_BURST on the gateway")

// errWSCapped means a websocket was refused with 429: the gateway caps one
// address's websockets; start it with GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0.
var errWSCapped = errors.New("websocket refused (429): set GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0 on the gateway")

// api is the gateway's HTTP side: citizen tokens and agent logins. It has no
// cookie jar, so every citizen token is a new anonymous citizen.
type api struct {
	base string
	http *http.Client
}

func newAPI(base string, concurrency int) *api {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = concurrency*2, concurrency*2
	return &api{base: strings.TrimSuffix(base, "/"), http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (a *api) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return errRateLimited
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("POST %s: status %d: %.200s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("POST %s: bad answer: %w", path, err)
	}
	return nil
}

// citizenToken obtains a new anonymous web citizen (POST /v1/citizen/sessions).
func (a *api) citizenToken(ctx context.Context) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := a.post(ctx, "/v1/citizen/sessions", nil, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", errors.New("POST /v1/citizen/sessions: no token")
	}
	return out.Token, nil
}

// login logs an agent in and returns its token and capacity.
func (a *api) login(ctx context.Context, id, password string) (token string, maxConcurrent int, err error) {
	body, _ := json.Marshal(map[string]string{"id": id, "password": password})
	var out struct {
		Token string `json:"token"`
		Agent struct {
			MaxConcurrent int `json:"max_concurrent"`
		} `json:"agent"`
	}
	if err := a.post(ctx, "/v1/agents/login", body, &out); err != nil {
		return "", 0, fmt.Errorf("agent %s: %w", id, err)
	}
	return out.Token, out.Agent.MaxConcurrent, nil
}

// dial opens a websocket (path /v1/ws/citizen or /v1/ws/agent). Small
// buffers keep the harness's own memory per connection low.
func dial(ctx context.Context, base, path, token string, bufSize int) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(strings.TrimSuffix(base, "/"), "http") + path + "?token=" + url.QueryEscape(token)
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: bufSize, WriteBufferSize: bufSize}
	ws, resp, err := d.DialContext(ctx, u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil && resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		return nil, fmt.Errorf("%w: %w", errWSCapped, err)
	}
	return ws, err
}

// frameType reads the type of a frame the gateway marshalled (type is the
// first field) from its first bytes.
func frameType(b []byte) string {
	const p = `{"type":"`
	if !bytes.HasPrefix(b, []byte(p)) {
		return ""
	}
	b = b[len(p):]
	end := bytes.IndexByte(b, '"')
	if end < 0 {
		return ""
	}
	return string(b[:end])
}

// inFrame is what the harness reads of a server frame.
type inFrame struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	SessionID string `json:"session_id"`
	Data      struct {
		From    string `json:"from"`
		State   string `json:"state"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"data"`
}

// Message ids carry their send times, in nanoseconds on the harness's
// monotonic clock since the run started, so that a receiver measures the
// delivery latency without shared state: a citizen message is "c<sent>",
// an agent reply "a<citizen sent>.<agent sent>".

func citizenMsgID(sent int64) string { return "c" + strconv.FormatInt(sent, 10) }

func agentMsgID(citizenSent, sent int64) string {
	return "a" + strconv.FormatInt(citizenSent, 10) + "." + strconv.FormatInt(sent, 10)
}

// parseMsgID returns the send times in id: for "c<n>" (n, 0), for
// "a<c>.<a>" (c, a).
func parseMsgID(id string) (citizenSent, agentSent int64, err error) {
	bad := fmt.Errorf("chatload: message id %q is not one of ours", id)
	switch {
	case strings.HasPrefix(id, "c"):
		n, err := strconv.ParseInt(id[1:], 10, 64)
		if err != nil || n < 0 {
			return 0, 0, bad
		}
		return n, 0, nil
	case strings.HasPrefix(id, "a"):
		c, a, ok := strings.Cut(id[1:], ".")
		if !ok {
			return 0, 0, bad
		}
		cn, err1 := strconv.ParseInt(c, 10, 64)
		an, err2 := strconv.ParseInt(a, 10, 64)
		if err1 != nil || err2 != nil || cn < 0 || an < 0 {
			return 0, 0, bad
		}
		return cn, an, nil
	}
	return 0, 0, bad
}

// messageFrame is a chat message frame.
func messageFrame(sid, id, text string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "message", "session_id": sid, "id": id, "data": map[string]string{"text": text}})
	return b
}

// controlFrame is a frame with a session id and no data (accept, close).
func controlFrame(typ, sid string) []byte {
	b, _ := json.Marshal(map[string]string{"type": typ, "session_id": sid})
	return b
}
