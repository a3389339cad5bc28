package partner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// The published Standard Webhooks secret, and a second one for rotation.
const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24="
)

// defaultBody is the contract's default partner body.
const defaultBody = `{
  "request_id": "SSB-20250301-0001",
  "user": {"id": "u-778", "name": "张三", "phone": "138 0013 8000", "verified": true},
  "category": "complaint",
  "title": "噪音扰民", "content": "楼下工地夜间施工",
  "address": "幸福路 12 号", "district": "福田区",
  "occurred_at": "2025-03-01T07:30:00+08:00", "submitted_at": "2025-03-01T07:59:00+08:00",
  "attachments": [{"type": "image", "url": "https://partner.example/a.jpg", "mime": "image/jpeg", "size": 12345}]
}`

// wait bounds every wait for something the test set in motion.
const wait = 10 * time.Second

func newClock() *clock.Fake { return clock.NewFake(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) }

func mustSecret(t testing.TB, s string) stdwebhook.Secret {
	t.Helper()
	sec, err := stdwebhook.ParseSecret(s)
	require.NoError(t, err)
	return sec
}

// fixture is a gateway slice: a store, the intake log, the webhook queue
// and partner channels mounted on echo.
type fixture struct {
	clk *clock.Fake
	db  *store.DB
	log *intakelog.Log
	q   *delivery.Queue
	e   *echo.Echo
	d   channels.Deps
	ch  map[string]*partner.Channel
}

func (f *fixture) deps() channels.Deps { return f.d }

func newFixture(t *testing.T, cfgs map[string]configs.Partner) *fixture {
	t.Helper()
	return newFixtureAt(t, newClock(), cfgs)
}

func newFixtureAt(t *testing.T, clk *clock.Fake, cfgs map[string]configs.Partner) *fixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "gw.db"), store.Options{},
		append(append([]string{}, intakelog.Buckets...), delivery.Buckets...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	log := intakelog.New(db, intakelog.Topics{Envelopes: "e", Events: "v"}, clk)
	q := delivery.New(db, delivery.Options{AllowHosts: []string{"127.0.0.1"}, Clock: clk,
		Rand: func() float64 { return 0.5 }, Logger: slog.New(slog.DiscardHandler)})
	d := channels.Deps{Intake: log, Clock: clk, MaxBody: 64 << 10, Logger: slog.New(slog.DiscardHandler),
		Stamp: normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("salt")}, FirstResponse: 3 * time.Minute,
			Handling: 24 * time.Hour, Clock: clk}}
	f := &fixture{clk: clk, db: db, log: log, q: q, e: newEcho(), d: d, ch: map[string]*partner.Channel{}}
	for name, cfg := range cfgs {
		ch, err := partner.New(name, d, cfg, q, log, partner.Options{})
		require.NoError(t, err)
		log.OnAccept(ch.OnAccept) // as the gateway wires it
		log.AfterAccept(ch.AfterAccept)
		ch.Mount(f.e)
		f.ch[name] = ch
	}
	return f
}

// newEcho renders errors as the gateway does (apierr code → status).
func newEcho() *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			_ = c.JSON(he.Code, map[string]any{"error": map[string]any{"code": "http"}})
			return
		}
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	return e
}

// post sends a signed partner request.
func (f *fixture) post(t *testing.T, name, webhookID string, ts time.Time, body string, secret stdwebhook.Secret) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/channels/"+name+"/requests", bytes.NewReader([]byte(body)))
	for k, v := range stdwebhook.Headers(secret, webhookID, ts, []byte(body)) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	return serve(t, f.e, req)
}

func serve(t *testing.T, e *echo.Echo, req *http.Request) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec.Code, out
}

// envelopes returns the envelopes waiting in the outbox.
func (f *fixture) envelopes(t *testing.T) []normalize.Envelope {
	t.Helper()
	recs, err := f.log.Pending(1000)
	require.NoError(t, err)
	var out []normalize.Envelope
	for _, r := range recs {
		if r.Topic == "e" {
			var env normalize.Envelope
			require.NoError(t, json.Unmarshal(r.Value, &env))
			out = append(out, env)
		}
	}
	return out
}

func (f *fixture) depth(t *testing.T) int {
	t.Helper()
	n, err := f.log.Depth()
	require.NoError(t, err)
	return n
}

// run starts the queue until the test ends.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.q.Run(ctx, lease.Fence{}); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// callback is a partner's status endpoint that verifies every webhook.
type callback struct {
	*httptest.Server
	mu   sync.Mutex
	got  []json.RawMessage
	errs []error
	ids  []string
}

func newCallback(t *testing.T, clk *clock.Fake, secrets ...stdwebhook.Secret) *callback {
	t.Helper()
	cb := &callback{}
	v := &stdwebhook.Verifier{Secrets: secrets, Clock: clk}
	cb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cb.mu.Lock()
		cb.got = append(cb.got, body)
		cb.errs = append(cb.errs, v.Verify(r.Header, body))
		cb.ids = append(cb.ids, r.Header.Get("webhook-id"))
		cb.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)
	return cb
}

func (cb *callback) bodies() ([]json.RawMessage, []error) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return append([]json.RawMessage(nil), cb.got...), append([]error(nil), cb.errs...)
}
