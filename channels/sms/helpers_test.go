package sms_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/logtest"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/sessions"
)

const (
	phone = "+8613800138000"
	wait  = 5 * time.Second
)

var (
	t0        = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	providers = []string{smsformat.ProviderGeneric, smsformat.ProviderAliyun, smsformat.ProviderTencent}
)

// creds are a provider's credentials as configured (token = key id).
type creds struct{ token, secret, sdkAppID string }

func providerCreds(provider string) creds {
	switch provider {
	case smsformat.ProviderAliyun:
		return creds{token: "LTAI-test-key", secret: "aliyun-secret"}
	case smsformat.ProviderTencent:
		return creds{token: "AKID-test", secret: "tencent-key", sdkAppID: "1400000001"}
	default:
		return creds{token: "generic-token", secret: "generic-secret"}
	}
}

// fakeProvider is what every smsfake send-API server offers.
type fakeProvider interface {
	URL() string
	Sent() []smsfake.Sent
	FailNext(status int, code string)
	Calls() int
}

func newFake(t testing.TB, provider string, clk clock.Clock) fakeProvider {
	c := providerCreds(provider)
	switch provider {
	case smsformat.ProviderAliyun:
		return smsfake.NewAliyun(t, c.token, c.secret, smsfake.WithClock(clk))
	case smsformat.ProviderTencent:
		return smsfake.NewTencent(t, c.token, c.secret, smsfake.WithClock(clk))
	default:
		return smsfake.NewGeneric(t, c.secret, c.token, smsfake.WithClock(clk))
	}
}

func smsConfig(provider, apiBase string) configs.SMS {
	cfg := configs.Default().Channels.SMS
	c := providerCreds(provider)
	cfg.Provider, cfg.Token, cfg.Secret, cfg.SDKAppID = provider, c.token, c.secret, c.sdkAppID
	cfg.APIBase, cfg.SignName = apiBase, smsfake.SignatureName
	return cfg
}

// chanHarness is a channel served by its own test server, with Run going.
type chanHarness struct {
	Ch       *sms.Channel
	URL      string
	Logs     *logtest.Buffer
	Fake     fakeProvider
	provider string
	cfg      configs.SMS
	clock    clock.Clock
	stop     func()
}

func startChannel(t testing.TB, conv channels.Conversations, db *store.DB, em sms.Emitter, cfg configs.SMS, opts sms.Options, clk clock.Clock) *chanHarness {
	t.Helper()
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	require.NoError(t, db.CreateBuckets(t.Context(), sms.Buckets...))
	ch, err := sms.New(channels.Deps{Logger: logger, Clock: clk}, cfg, conv, db, em, opts)
	require.NoError(t, err)
	if r, ok := conv.(interface {
		RegisterDeliverer(string, channels.Deliverer)
	}); ok {
		r.RegisterDeliverer(ch.Name(), ch) // as the gateway does
	}
	e := echo.New()
	ch.Mount(e)
	srv := httptest.NewServer(e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ch.Run(ctx); close(done) }()
	var once sync.Once
	h := &chanHarness{Ch: ch, URL: srv.URL, Logs: logs, provider: cfg.Provider, cfg: cfg, clock: clk}
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			srv.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

// Stop stops Run and the server (idempotent).
func (h *chanHarness) Stop() { h.stop() }

func (h *chanHarness) auth() smsfake.CallbackAuth {
	return smsfake.CallbackAuth{Secret: h.cfg.Secret, Token: h.cfg.Token, Now: h.clock.Now()}
}

// post sends a built callback and returns the status and body.
func (h *chanHarness) post(t testing.TB, path string, cb smsfake.Callback) (int, string) {
	t.Helper()
	req, err := cb.Request(context.Background(), h.URL+path)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// postRaw sends body with the given authentication (signed when
// auth.Secret is set; token as header for generic, else as query).
func (h *chanHarness) postRaw(t testing.TB, path string, body []byte, auth smsfake.CallbackAuth) (int, string) {
	t.Helper()
	cb := smsfake.Callback{Body: body, Header: http.Header{}, Query: url.Values{}}
	cb.Header.Set("Content-Type", "application/json")
	if auth.Secret != "" {
		ts := strconv.FormatInt(auth.Now.Unix(), 10)
		cb.Header.Set(smsformat.HeaderTimestamp, ts)
		cb.Header.Set(smsformat.HeaderSignature, smsformat.SignBody(auth.Secret, ts, body))
	}
	if auth.Token != "" {
		if h.provider == smsformat.ProviderGeneric {
			cb.Header.Set(smsformat.HeaderToken, auth.Token)
		} else {
			cb.Query.Set(smsformat.QueryToken, auth.Token)
		}
	}
	return h.post(t, path, cb)
}

// uplink sends msgs as the provider's uplink callback.
func (h *chanHarness) uplink(t testing.TB, msgs ...smsformat.Inbound) (int, string) {
	t.Helper()
	cb, err := smsfake.Uplink(h.provider, h.auth(), msgs...)
	require.NoError(t, err)
	return h.post(t, sms.PathInbound, cb)
}

// report sends the provider's delivery-report callback.
func (h *chanHarness) report(t testing.TB, reps ...smsformat.Report) (int, string) {
	t.Helper()
	cb, err := smsfake.Reports(h.provider, h.auth(), reps...)
	require.NoError(t, err)
	return h.post(t, sms.PathReports, cb)
}

func ackBody(provider string) string {
	_, b := smsformat.Ack(provider)
	return string(b)
}

// hubEnv is a live-chat hub on a fake clock (no Kafka) with the channel.
type hubEnv struct {
	*chanHarness
	Hub   *lt.Hub
	Clock *clock.Fake
}

func startHubEnv(t testing.TB, provider, dir string, start time.Time, tune func(*configs.SMS, *sms.Options)) *hubEnv {
	t.Helper()
	clk := clock.NewFake(start)
	hub := lt.StartHub(t, "a1:pw:general:5", clk, dir)
	fake := newFake(t, provider, clk)
	cfg := smsConfig(provider, fake.URL())
	opts := sms.Options{}
	if tune != nil {
		tune(&cfg, &opts)
	}
	h := startChannel(t, hub.Hub, hub.DB, hub.Intake, cfg, opts, clk)
	h.Fake = fake
	return &hubEnv{chanHarness: h, Hub: hub, Clock: clk}
}

// stopAll stops the channel, then the hub and its store: a process exit.
func (e *hubEnv) stopAll() {
	e.Stop()
	e.Hub.Stop()
}

// session returns the open conversation of a number, or nil.
func openSession(t testing.TB, db *store.DB, number string) *sessions.Session {
	t.Helper()
	var s *sessions.Session
	require.NoError(t, db.View(func(tx *store.Tx) error {
		var err error
		s, err = sessions.OpenFor(tx, "sms", number)
		return err
	}))
	return s
}

func transcript(t testing.TB, db *store.DB, sid string) []sessions.Message {
	t.Helper()
	var out []sessions.Message
	require.NoError(t, db.View(func(tx *store.Tx) error {
		var err error
		out, err = sessions.Transcript(tx, sid, 0, 0)
		return err
	}))
	return out
}

// citizenTexts returns the texts of the number's open conversation.
func citizenTexts(t testing.TB, db *store.DB, number string) []string {
	t.Helper()
	s := openSession(t, db, number)
	if s == nil {
		return nil
	}
	var out []string
	for _, m := range transcript(t, db, s.ID) {
		if m.From == "citizen" {
			out = append(out, m.Text)
		}
	}
	return out
}

// outbox returns the records waiting for Kafka, by topic.
func outbox(t testing.TB, log *intakelog.Log) (envelopes, events []map[string]any) {
	t.Helper()
	recs, err := log.Pending(100000)
	require.NoError(t, err)
	for _, r := range recs {
		var v map[string]any
		require.NoError(t, json.Unmarshal(r.Value, &v))
		switch r.Topic {
		case "intake.envelopes":
			envelopes = append(envelopes, v)
		case "intake.events":
			events = append(events, v)
		}
	}
	return envelopes, events
}

func eventsOfType(evs []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e["type"] == typ {
			out = append(out, e)
		}
	}
	return out
}

func part(id, text string, ref string, total, seq int) smsformat.Inbound {
	return smsformat.Inbound{ProviderID: id, Phone: phone, Text: text, SentAt: t0.Add(time.Duration(seq) * time.Second),
		DestCode: "12345", Part: &smsformat.Part{Ref: ref, Total: total, Seq: seq}}
}
