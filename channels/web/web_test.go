package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/web"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// fakeIntake records what the channel hands over and answers like the log:
// a repeated idempotency key returns the first receipt and owner.
type fakeIntake struct {
	mu    sync.Mutex
	envs  []*normalize.Envelope
	opts  []intakelog.AcceptOptions
	byKey map[string]intakelog.Result
}

func (f *fakeIntake) Accept(_ context.Context, env *normalize.Envelope, o intakelog.AcceptOptions) (intakelog.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.byKey[env.IdempotencyKey]; ok {
		r.Duplicate = true
		return r, nil
	}
	f.envs, f.opts = append(f.envs, env), append(f.opts, o)
	r := intakelog.Result{Receipt: normalize.ReceiptFor(env), Owner: o.Owner}
	f.byKey[env.IdempotencyKey] = r
	return r, nil
}

var now = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

type fixture struct {
	e      *echo.Echo
	intake *fakeIntake
	tokens *tokens.Signer
}

func newFixture(t *testing.T, cfg configs.Web) *fixture {
	t.Helper()
	clk := clock.NewFake(now)
	f := &fixture{e: echo.New(), intake: &fakeIntake{byKey: map[string]intakelog.Result{}},
		tokens: tokens.NewSigner("test-secret", clk)}
	f.e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	d := channels.Deps{Intake: f.intake, Tokens: f.tokens, Clock: clk, MaxBody: 1 << 16, CitizenTTL: time.Hour,
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		ClientIP: func(r *http.Request) string { return r.RemoteAddr },
		Stamp: normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: 3 * time.Minute,
			Handling: 24 * time.Hour, Clock: clk}}
	web.New(d, cfg, configs.RateLimit{PerIP: 100, PerIPBurst: 100}, nil).Mount(f.e)
	return f
}

func (f *fixture) post(path, body string, hdr http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.e.ServeHTTP(w, r)
	return w
}

func accepted(t *testing.T, w *httptest.ResponseRecorder) web.Accepted {
	t.Helper()
	require.Equal(t, http.StatusAccepted, w.Code, "%s", w.Body)
	var a web.Accepted
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &a))
	return a
}

func TestSubmitBuildsTheEnvelope(t *testing.T) {
	f := newFixture(t, configs.Web{Enabled: true})
	a := accepted(t, f.post("/v1/channels/web/requests",
		`{"client_request_id":"c1","kind":"help","text":"lost wallet","contact":{"phone":"+8613800138000"}}`, nil))
	require.NotEmpty(t, a.CitizenToken, "an anonymous caller gets a token")
	cl, err := f.tokens.Verify(a.CitizenToken, tokens.RoleCitizen)
	require.NoError(t, err)

	require.Len(t, f.intake.envs, 1)
	env, o := f.intake.envs[0], f.intake.opts[0]
	require.Equal(t, a.ID, env.ID)
	require.Equal(t, "web:c1", env.IdempotencyKey)
	require.Equal(t, normalize.ChannelWeb, env.Channel)
	require.Equal(t, cl.Sub, env.Citizen.ChannelUserID)
	require.Equal(t, "+8613800138000", env.Citizen.Phone)
	require.Equal(t, "citizen:"+cl.Sub, o.Owner)
	require.Equal(t, intakelog.Fingerprint([]byte(`{"client_request_id":"c1","kind":"help","text":"lost wallet","contact":{"phone":"+8613800138000"}}`)), o.Fingerprint)
	require.Len(t, o.Events, 1)
	require.Equal(t, normalize.EventRequestAccepted, o.Events[0].Type)
	require.Equal(t, env.ID, o.Events[0].EnvelopeID)
	require.NoError(t, env.Validate())

	// A caller with a token files under it and gets no new one.
	b := accepted(t, f.post("/v1/channels/web/requests", `{"text":"second"}`,
		http.Header{"Authorization": {"Bearer " + a.CitizenToken}}))
	require.Empty(t, b.CitizenToken)
	require.Equal(t, cl.Sub, f.intake.envs[1].Citizen.ChannelUserID)
	require.Equal(t, f.intake.envs[0].CitizenKey, f.intake.envs[1].CitizenKey, "one citizen, one key")
	require.Equal(t, "web:"+b.ID, f.intake.envs[1].IdempotencyKey, "no client_request_id: the id is the key")
}

// A retry of a client_request_id gets the earlier receipt but never the
// filer's token: re-posting a body someone else sent must not open their
// chats and requests (it did: the retry answered with the owner's token).
func TestRetryGetsTheReceiptButNoToken(t *testing.T) {
	f := newFixture(t, configs.Web{Enabled: true})
	body := `{"client_request_id":"c1","text":"x"}`
	first := accepted(t, f.post("/v1/channels/web/requests", body, nil))
	require.NotEmpty(t, first.CitizenToken)
	again := accepted(t, f.post("/v1/channels/web/requests", body, nil))
	require.Equal(t, first.Receipt, again.Receipt)
	require.Empty(t, again.CitizenToken, "a retry is not a proof of being the filer")
	require.Len(t, f.intake.envs, 1)
}

// A known caller's client_request_ids are scoped to it: another citizen using
// the same id files their own request and learns nothing of the first.
func TestKnownCallersIdempotencyKeysAreTheirOwn(t *testing.T) {
	f := newFixture(t, configs.Web{Enabled: true})
	as := func(sub string) http.Header {
		tok := f.tokens.Issue(tokens.Claims{Sub: sub, Role: tokens.RoleCitizen, Channel: normalize.ChannelWeb}, time.Hour)
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
	body := `{"client_request_id":"c1","text":"x"}`
	first := accepted(t, f.post("/v1/channels/web/requests", body, as("web-a")))
	require.Equal(t, "web:web-a:c1", f.intake.envs[0].IdempotencyKey)
	other := accepted(t, f.post("/v1/channels/web/requests", body, as("web-b")))
	require.NotEqual(t, first.ID, other.ID, "another citizen's c1 is another request")
	require.Len(t, f.intake.envs, 2)
	again := accepted(t, f.post("/v1/channels/web/requests", body, as("web-a")))
	require.Equal(t, first.Receipt, again.Receipt, "the filer's retry is still de-duplicated")
	require.Empty(t, again.CitizenToken)
	require.Len(t, f.intake.envs, 2)
}

// Any web page can make its visitors' browsers POST text/plain across
// origins without a preflight; such a body must not become a request.
func TestSimpleCrossOriginPostIsRefused(t *testing.T) {
	f := newFixture(t, configs.Web{Enabled: true})
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		r := httptest.NewRequest(http.MethodPost, "/v1/channels/web/requests", strings.NewReader(`{"text":"x"}`))
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		f.e.ServeHTTP(w, r)
		require.Equal(t, http.StatusUnsupportedMediaType, w.Code, ct)
		require.Contains(t, w.Body.String(), `"code":"unsupported_media_type"`)
	}
	require.Empty(t, f.intake.envs)
}

func TestCaptchaHook(t *testing.T) {
	var got map[string]string
	captcha := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		_, _ = w.Write([]byte(`{"success":` + map[bool]string{true: "true", false: "false"}[got["token"] == "good"] + `}`))
	}))
	defer captcha.Close()
	f := newFixture(t, configs.Web{Enabled: true, CaptchaURL: captcha.URL})
	w := f.post("/v1/channels/web/requests", `{"text":"x"}`, nil)
	require.Equal(t, http.StatusUnauthorized, w.Code)
	w = f.post("/v1/channels/web/requests", `{"text":"x"}`, http.Header{"X-Captcha-Token": {"bad"}})
	require.Equal(t, http.StatusUnauthorized, w.Code)
	accepted(t, f.post("/v1/channels/web/requests", `{"text":"x"}`, http.Header{"X-Captcha-Token": {"good"}}))
	require.Equal(t, "good", got["token"])
	require.Len(t, f.intake.envs, 1)

	captcha.Close() // the service is down: 503, never a silent accept
	w = f.post("/v1/channels/web/requests", `{"text":"x"}`, http.Header{"X-Captcha-Token": {"good"}})
	require.Equal(t, http.StatusServiceUnavailable, w.Code, "%s", w.Body)
}

func TestCitizenSessionSetsAndKeepsTheCookie(t *testing.T) {
	f := newFixture(t, configs.Web{Enabled: true})
	w := f.post("/v1/citizen/sessions", ``, nil)
	require.Equal(t, http.StatusOK, w.Code, "%s", w.Body)
	var out map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out))
	_, err := f.tokens.Verify(out["token"], tokens.RoleCitizen)
	require.NoError(t, err)
	ck := w.Result().Cookies()
	require.Len(t, ck, 1)
	require.Equal(t, web.CookieName, ck[0].Name)
	require.Equal(t, out["token"], ck[0].Value)
	require.True(t, ck[0].HttpOnly)

	// A reload with the cookie rejoins the same citizen.
	w = f.post("/v1/citizen/sessions", ``, http.Header{"Cookie": {web.CookieName + "=" + out["token"]}})
	var again map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &again))
	require.Equal(t, out["token"], again["token"])
	// A forged cookie is replaced.
	w = f.post("/v1/citizen/sessions", ``, http.Header{"Cookie": {web.CookieName + "=forged.token"}})
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &again))
	require.NotEqual(t, "forged.token", again["token"])
}
