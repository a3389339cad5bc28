package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/internal/clock"
)

const appSecret = "secret"

// newGateway builds an in-process gateway with the web and app channels
// (app key k1) and a settable clock.
func newGateway(t *testing.T, mutate func(*configs.Config)) (*gateway.Gateway, *clock.Fake) {
	t.Helper()
	cfg := gatewaytest.Config(t)
	cfg.Channels.App.Keys = map[string]string{"k1": appSecret}
	if mutate != nil {
		mutate(cfg)
	}
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	return gatewaytest.New(t, cfg, gateway.Options{Clock: clk}), clk
}

// call serves one request through the gateway's router and middleware.
func call(g *gateway.Gateway, method, path string, body io.Reader, hdr http.Header, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, body)
	if remote != "" {
		r.RemoteAddr = remote
	}
	for k, v := range hdr {
		r.Header[k] = v
	}
	if r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	g.Echo().ServeHTTP(w, r)
	return w
}

// signed returns the app channel's headers for body at the clock's time.
func signed(clk *clock.Fake, path, nonce string, body []byte) http.Header {
	ts := strconv.FormatInt(clk.Now().Unix(), 10)
	return http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {nonce},
		"X-Signature": {app.Sign(appSecret, http.MethodPost, path, ts, nonce, body)}}
}

// requireError checks the contract's error body: {"error":{"code","message","fields"?}}.
func requireError(t *testing.T, w *httptest.ResponseRecorder, status int, code string, fields map[string]string) {
	t.Helper()
	require.Equal(t, status, w.Code, "%s", w.Body)
	require.Contains(t, w.Header().Get("Content-Type"), "application/json")
	var raw map[string]map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &raw), "%s", w.Body)
	require.Len(t, raw, 1, "only the error member: %s", w.Body)
	for k := range raw["error"] {
		require.Contains(t, []string{"code", "message", "fields"}, k, "unexpected member error.%s", k)
	}
	var body gatewaytest.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.NotNil(t, body.Error)
	require.Equal(t, code, body.Error.Code, "%s", w.Body)
	require.NotEmpty(t, body.Error.Message)
	if fields != nil {
		require.Equal(t, fields, body.Error.Fields)
	}
}

const webPath, appPath = "/v1/channels/web/requests", "/v1/channels/app/requests"

func TestBadInputIsAnsweredWithTheContractsErrorBody(t *testing.T) {
	g, clk := newGateway(t, func(c *configs.Config) { c.HTTP.MaxBodyBytes = 4096 })
	big := `{"text":"` + strings.Repeat("x", 5000) + `"}`
	tests := []struct {
		name   string
		path   string
		body   string
		hdr    func(body []byte) http.Header
		chunk  bool // hide the length (chunked upload)
		status int
		code   string
		fields map[string]string
	}{
		{name: "malformed JSON", path: webPath, body: `{"text":`, status: 400, code: "bad_request"},
		{name: "not an object", path: webPath, body: `[1,2]`, status: 400, code: "bad_request"},
		{name: "empty body", path: webPath, body: ``, status: 400, code: "bad_request"},
		{name: "trailing data", path: webPath, body: `{"text":"a"} {"text":"b"}`, status: 400, code: "bad_request"},
		{name: "wrong type text", path: webPath, body: `{"text":5}`, status: 400, code: "bad_request",
			fields: map[string]string{"text": "must be a string"}},
		{name: "wrong type nested", path: webPath, body: `{"text":"a","contact":{"confidential":"yes"}}`, status: 400,
			code: "bad_request", fields: map[string]string{"contact.confidential": "must be a boolean"}},
		{name: "unknown field", path: webPath, body: `{"text":"a","urgent":true}`, status: 400, code: "bad_request",
			fields: map[string]string{"urgent": "unknown field"}},
		{name: "missing text", path: webPath, body: `{"kind":"help"}`, status: 400, code: "invalid_request",
			fields: map[string]string{"text": "required"}},
		{name: "blank text", path: webPath, body: `{"text":"  \n "}`, status: 400, code: "invalid_request",
			fields: map[string]string{"text": "required"}},
		{name: "unknown kind", path: webPath, body: `{"text":"a","kind":"praise"}`, status: 400, code: "invalid_request",
			fields: map[string]string{"kind": "must be one of: consultation help complaint suggestion other"}},
		{name: "bad phone", path: webPath, body: `{"text":"a","contact":{"phone":"call me"}}`, status: 400,
			code: "invalid_request", fields: map[string]string{"contact.phone": "must be a phone number (digits, optional leading +)"}},
		{name: "bad occurred_at", path: webPath, body: `{"text":"a","occurred_at":"yesterday"}`, status: 400,
			code: "invalid_request", fields: map[string]string{"occurred_at": "must be an RFC 3339 date-time"}},
		{name: "bad attachment url", path: webPath, body: `{"text":"a","attachments":[{"type":"image","url":"ftp://x"}]}`,
			status: 400, code: "invalid_request", fields: map[string]string{"attachments[0].url": "must be an https URL"}},
		{name: "invalid UTF-8", path: webPath, body: "{\"text\":\"caf\xe9\"}", status: 400, code: "bad_request"},
		{name: "oversize body", path: webPath, body: big, status: 413, code: "too_large"},
		{name: "oversize chunked body", path: webPath, body: big, chunk: true, status: 413, code: "too_large"},
		{name: "app: no signature", path: appPath, body: `{"text":"a"}`, status: 401, code: "unauthorized"},
		{name: "app: bad signature", path: appPath, body: `{"text":"a"}`, status: 401, code: "unauthorized",
			hdr: func(b []byte) http.Header {
				h := signed(clk, appPath, "n-bad", b)
				h.Set("X-Signature", strings.Repeat("0", 64))
				return h
			}},
		{name: "app: signature over another body", path: appPath, body: `{"text":"a"}`, status: 401, code: "unauthorized",
			hdr: func([]byte) http.Header { return signed(clk, appPath, "n-other", []byte(`{"text":"b"}`)) }},
		{name: "app: unknown key", path: appPath, body: `{"text":"a"}`, status: 401, code: "unauthorized",
			hdr: func(b []byte) http.Header { h := signed(clk, appPath, "n-key", b); h.Set("X-App-Key", "k2"); return h }},
		{name: "app: stale timestamp", path: appPath, body: `{"text":"a"}`, status: 401, code: "stale_timestamp",
			hdr: func(b []byte) http.Header {
				ts := strconv.FormatInt(clk.Now().Add(-301*time.Second).Unix(), 10)
				return http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {"n-stale"},
					"X-Signature": {app.Sign(appSecret, http.MethodPost, appPath, ts, "n-stale", b)}}
			}},
		{name: "app: timestamp from the future", path: appPath, body: `{"text":"a"}`, status: 401, code: "stale_timestamp",
			hdr: func(b []byte) http.Header {
				ts := strconv.FormatInt(clk.Now().Add(301*time.Second).Unix(), 10)
				return http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {"n-future"},
					"X-Signature": {app.Sign(appSecret, http.MethodPost, appPath, ts, "n-future", b)}}
			}},
		{name: "app: signed but malformed", path: appPath, body: `{"text":`, status: 400, code: "bad_request",
			hdr: func(b []byte) http.Header { return signed(clk, appPath, "n-malformed", b) }},
		{name: "app: signed but missing text", path: appPath, body: `{"kind":"help","user":{"id":"u1"}}`, status: 400, code: "invalid_request",
			fields: map[string]string{"text": "required"},
			hdr:    func(b []byte) http.Header { return signed(clk, appPath, "n-missing", b) }},
		// Without a signed user every user of one app would be one citizen.
		{name: "app: signed but no user", path: appPath, body: `{"text":"a"}`, status: 400, code: "invalid_request",
			fields: map[string]string{"user.id": "required"},
			hdr:    func(b []byte) http.Header { return signed(clk, appPath, "n-nouser", b) }},
		{name: "app: signed but blank user id", path: appPath, body: `{"text":"a","user":{"id":"  "}}`, status: 400, code: "invalid_request",
			fields: map[string]string{"user.id": "required"},
			hdr:    func(b []byte) http.Header { return signed(clk, appPath, "n-blankuser", b) }},
		{name: "app citizen session: signed but no user", path: "/v1/citizen/sessions", body: `{}`, status: 400, code: "invalid_request",
			fields: map[string]string{"user.id": "required"},
			hdr:    func(b []byte) http.Header { return signed(clk, "/v1/citizen/sessions", "n-session", b) }},
		{name: "web: a user is for signed apps", path: webPath, body: `{"text":"a","user":{"id":"u1"}}`, status: 400, code: "invalid_request",
			fields: map[string]string{"user": "not allowed on the web channel"}},
		{name: "web: text/plain (a cross-origin simple POST)", path: webPath, body: `{"text":"a"}`, status: 415, code: "unsupported_media_type",
			hdr: func([]byte) http.Header { return http.Header{"Content-Type": {"text/plain"}} }},
		{name: "web: duplicate key", path: webPath, body: `{"text":"a","text":"b"}`, status: 400, code: "bad_request",
			fields: map[string]string{"text": "duplicate key"}},
		{name: "web: case-variant key", path: webPath, body: `{"Text":"a"}`, status: 400, code: "bad_request",
			fields: map[string]string{"Text": "unknown field"}},
		{name: "web: NUL", path: webPath, body: `{"text":"a\u0000b"}`, status: 400, code: "bad_request",
			fields: map[string]string{"text": "NUL characters are not allowed"}},
		{name: "web: lone surrogate", path: webPath, body: `{"text":"a\ud800b"}`, status: 400, code: "bad_request"},
		{name: "unknown endpoint", path: "/v1/channels/fax/requests", body: `{}`, status: 404, code: "not_found"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr http.Header
			if tc.hdr != nil {
				hdr = tc.hdr([]byte(tc.body))
			}
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunk {
				body = io.MultiReader(body) // no length known in advance
			}
			// Each case comes from its own address: the per-IP limit is tested below.
			w := call(g, http.MethodPost, tc.path, body, hdr, "192.0.2."+strconv.Itoa(i+1)+":4000")
			requireError(t, w, tc.status, tc.code, tc.fields)
		})
	}
	depth, err := g.Intake().Depth()
	require.NoError(t, err)
	require.Zero(t, depth, "no bad request may produce a record")
}

func TestAppReplayedNonceIsRefused(t *testing.T) {
	g, clk := newGateway(t, nil)
	body := []byte(`{"text":"pothole","client_request_id":"r1","user":{"id":"u1"}}`)
	hdr := signed(clk, appPath, "nonce-1", body)
	w := call(g, http.MethodPost, appPath, bytes.NewReader(body), hdr, "")
	require.Equal(t, http.StatusAccepted, w.Code, "%s", w.Body)

	// The very same signed request again (a captured replay).
	w = call(g, http.MethodPost, appPath, bytes.NewReader(body), hdr, "")
	requireError(t, w, http.StatusUnauthorized, "replayed_nonce", nil)

	// A fresh nonce with the same client_request_id is an idempotent retry.
	w2 := call(g, http.MethodPost, appPath, bytes.NewReader(body), signed(clk, appPath, "nonce-2", body), "")
	require.Equal(t, http.StatusAccepted, w2.Code, "%s", w2.Body)
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	g, clk := newGateway(t, func(c *configs.Config) { c.RateLimit.PerIP, c.RateLimit.PerIPBurst = 1, 3 })
	const ip = "198.51.100.7:5000"
	for i := range 3 {
		w := call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"burst `+strconv.Itoa(i)+`"}`), nil, ip)
		require.Equal(t, http.StatusAccepted, w.Code, "%s", w.Body)
	}
	w := call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"one too many"}`), nil, ip)
	requireError(t, w, http.StatusTooManyRequests, "rate_limited", nil)
	ra, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After must be whole seconds")
	require.GreaterOrEqual(t, ra, 1)

	// Another address is not affected; the same one is served after waiting.
	w = call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"other ip"}`), nil, "198.51.100.8:5000")
	require.Equal(t, http.StatusAccepted, w.Code)
	clk.Advance(time.Duration(ra) * time.Second)
	w = call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"later"}`), nil, ip)
	require.Equal(t, http.StatusAccepted, w.Code, "%s", w.Body)
}

// The app channel is limited per app key, whichever address the requests
// come from.
func TestAppRateLimitPerKey(t *testing.T) {
	g, clk := newGateway(t, func(c *configs.Config) {
		c.RateLimit.PerAppKey, c.RateLimit.PerAppKeyBurst = 1, 2
		c.Channels.App.Keys["k2"] = appSecret
	})
	post := func(key string, i int, ip string) *httptest.ResponseRecorder {
		body := []byte(`{"text":"app ` + strconv.Itoa(i) + `","user":{"id":"u1"}}`)
		h := signed(clk, appPath, key+"-nonce-"+strconv.Itoa(i), body)
		h.Set("X-App-Key", key)
		return call(g, http.MethodPost, appPath, bytes.NewReader(body), h, ip)
	}
	for i := range 2 {
		require.Equal(t, http.StatusAccepted, post("k1", i, "198.51.100."+strconv.Itoa(10+i)+":1").Code)
	}
	w := post("k1", 2, "198.51.100.20:1")
	requireError(t, w, http.StatusTooManyRequests, "rate_limited", nil)
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.Equal(t, http.StatusAccepted, post("k2", 3, "198.51.100.20:1").Code, "another app key is not affected")
}

// What reaches the router is answered with the contract's error body, a
// failed websocket handshake included (it was the upgrader's plain text).
// What net/http answers before any handler runs (a malformed request line,
// 431, 501, 505) it answers itself: docs/contract-deviations.md says so.
func TestProtocolErrorsUseTheContractsErrorBody(t *testing.T) {
	g, _ := newGateway(t, nil)
	tests := []struct {
		name, method, path string
		hdr                http.Header
		status             int
		code               string
	}{
		{"websocket endpoint without an upgrade", http.MethodGet, "/v1/ws/citizen", nil, 400, "bad_request"},
		{"websocket handshake with a wrong version", http.MethodGet, "/v1/ws/agent", http.Header{
			"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"8"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}},
			400, "bad_request"},
		{"method not allowed", http.MethodDelete, webPath, nil, 405, "method_not_allowed"},
		{"no such endpoint", http.MethodGet, "/v2/anything", nil, 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireError(t, call(g, tc.method, tc.path, nil, tc.hdr, ""), tc.status, tc.code, nil)
		})
	}
}

// Two users of one app are two citizens: each reads only what they filed
// (with the citizen token their app obtained for them), their
// client_request_ids never collide, and the app's backend, signing its GET,
// reads both.
func TestAppUsersAreApart(t *testing.T) {
	g, clk := newGateway(t, nil)
	file := func(user, nonce string) (id, token string) {
		body := []byte(`{"client_request_id":"r1","text":"pothole","user":{"id":"` + user + `"}}`)
		w := call(g, http.MethodPost, appPath, bytes.NewReader(body), signed(clk, appPath, nonce, body), "")
		require.Equal(t, http.StatusAccepted, w.Code, "%s", w.Body)
		var r gatewaytest.Receipt
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &r))
		sess := []byte(`{"user":{"id":"` + user + `"}}`)
		w = call(g, http.MethodPost, "/v1/citizen/sessions", bytes.NewReader(sess), signed(clk, "/v1/citizen/sessions", nonce+"-s", sess), "")
		require.Equal(t, http.StatusOK, w.Code, "%s", w.Body)
		var tok struct{ Token string }
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &tok))
		return r.ID, tok.Token
	}
	idA, tokA := file("alice", "n-a")
	idB, tokB := file("bob", "n-b")
	require.NotEqual(t, idA, idB, "the same client_request_id from two users is two requests")
	read := func(id string, hdr http.Header) int {
		return call(g, http.MethodGet, "/v1/requests/"+id, nil, hdr, "").Code
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	require.Equal(t, http.StatusOK, read(idA, bearer(tokA)))
	require.Equal(t, http.StatusNotFound, read(idA, bearer(tokB)), "bob cannot read alice's")
	require.Equal(t, http.StatusOK, read(idB, bearer(tokB)))
	for i, id := range []string{idA, idB} {
		path, nonce, ts := "/v1/requests/"+id, "n-get-"+strconv.Itoa(i), strconv.FormatInt(clk.Now().Unix(), 10)
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header = http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {nonce},
			"X-Signature": {app.Sign(appSecret, http.MethodGet, path, ts, nonce, nil)}}
		w := httptest.NewRecorder()
		g.Echo().ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, "the app reads its users' requests: %s", w.Body)
	}
	// "*" would stand for every user of the app: no user is called that.
	body := []byte(`{"text":"x","user":{"id":"*"}}`)
	requireError(t, call(g, http.MethodPost, appPath, bytes.NewReader(body), signed(clk, appPath, "n-star", body), ""),
		http.StatusBadRequest, "invalid_request", map[string]string{"user.id": "must not contain *"})
}

// Probes that send HEAD (load balancers, orchestrators) get the GET's status.
func TestHealthAnswersHead(t *testing.T) {
	g, _ := newGateway(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		require.Equal(t, http.StatusOK, call(g, http.MethodHead, path, nil, nil, "").Code, path)
	}
}

// GET / tells a newcomer where the pages and the API are.
func TestIndexPage(t *testing.T) {
	g, _ := newGateway(t, nil)
	w := call(g, http.MethodGet, "/", nil, nil, "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Header().Get("Content-Type"), "text/html")
	for _, link := range []string{`href="/console/"`, `href="/widget/"`, `/widget/embed.js`, `href="/v1/openapi.json"`, `href="/metrics"`} {
		require.Contains(t, w.Body.String(), link)
	}
}
