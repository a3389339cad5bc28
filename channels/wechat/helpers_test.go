package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/wechat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
)

// The published vectors: the shared file beside the project, else the copy
// kept by wxcrypto (which checks that both agree).
var (
	sharedVectors = filepath.Join("..", "..", "..", "shared", "testdata", "vectors.json")
	localVectors  = filepath.Join("wxcrypto", "testdata", "vectors.json")
)

type vectors struct {
	URLVerification struct {
		Token string            `json:"token"`
		Query map[string]string `json:"query"`
	} `json:"wechat_url_verification"`
	PlaintextJSON struct {
		Token string            `json:"token"`
		Query map[string]string `json:"query"`
		Body  string            `json:"body"`
	} `json:"wechat_plaintext_push_json"`
	SafeMode struct {
		Token          string            `json:"token"`
		EncodingAESKey string            `json:"encoding_aes_key"`
		AppID          string            `json:"app_id"`
		Query          map[string]string `json:"query"`
		Encrypt        string            `json:"encrypt"`
	} `json:"wechat_safe_mode_push"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	data, err := os.ReadFile(sharedVectors)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = os.ReadFile(localVectors)
	}
	require.NoError(t, err, "published vectors")
	var v vectors
	require.NoError(t, json.Unmarshal(data, &v))
	require.NotEmpty(t, v.SafeMode.Encrypt)
	return v
}

func values(m map[string]string) url.Values {
	q := url.Values{}
	for k, v := range m {
		q.Set(k, v)
	}
	return q
}

// Credentials of the test app: those of the published safe-mode vector.
const (
	token  = "AAAAA"
	aesKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	appID  = "wx134c8103faa5a59e"
	secret = "app-secret"
	openid = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
)

// fakeConv is an in-memory channels.Conversations: one open conversation per
// (channel, user), messages de-duplicated by (channel, DedupKey), the first
// message of a conversation makes its envelope.
type fakeConv struct {
	mu         sync.Mutex
	fail       error // returned (once) by the next call when set
	seen       map[string]channels.ChatResult
	sessions   map[string]*fakeSession
	messages   []channels.InboundMessage
	opened     []channels.InboundMessage
	envelopes  int
	deliverers map[string]channels.Deliverer
	nextID     int
}

type fakeSession struct {
	id, envelopeID string
	seq            int64
}

func newFakeConv() *fakeConv {
	return &fakeConv{seen: map[string]channels.ChatResult{}, sessions: map[string]*fakeSession{},
		deliverers: map[string]channels.Deliverer{}}
}

func (f *fakeConv) session(m channels.InboundMessage) (*fakeSession, bool) {
	k := m.Channel + "|" + m.ChannelUserID
	if s, ok := f.sessions[k]; ok {
		return s, false
	}
	f.nextID++
	s := &fakeSession{id: "session-" + strconv.Itoa(f.nextID)}
	f.sessions[k] = s
	return s, true
}

func (f *fakeConv) takeFail() error {
	err := f.fail
	f.fail = nil
	return err
}

func (f *fakeConv) CitizenMessage(_ context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFail(); err != nil {
		return channels.ChatResult{}, err
	}
	key := m.Channel + "|" + m.DedupKey
	if r, ok := f.seen[key]; ok {
		r.Duplicate, r.NewSession = true, false
		return r, nil
	}
	s, isNew := f.session(m)
	if s.envelopeID == "" {
		f.envelopes++
		s.envelopeID = "envelope-" + strconv.Itoa(f.envelopes)
	}
	s.seq++
	f.messages = append(f.messages, m)
	r := channels.ChatResult{SessionID: s.id, Seq: s.seq, EnvelopeID: s.envelopeID, NewSession: isNew}
	f.seen[key] = r
	return r, nil
}

func (f *fakeConv) OpenConversation(_ context.Context, m channels.InboundMessage) (channels.ChatResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFail(); err != nil {
		return channels.ChatResult{}, err
	}
	key := m.Channel + "|" + m.DedupKey
	if r, ok := f.seen[key]; ok {
		r.Duplicate, r.NewSession = true, false
		return r, nil
	}
	s, isNew := f.session(m)
	f.opened = append(f.opened, m)
	r := channels.ChatResult{SessionID: s.id, Seq: s.seq, EnvelopeID: s.envelopeID, NewSession: isNew}
	f.seen[key] = r
	return r, nil
}

func (f *fakeConv) RegisterDeliverer(channel string, d channels.Deliverer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliverers[channel] = d
}

func (f *fakeConv) snapshot() (messages, opened []channels.InboundMessage, envelopes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]channels.InboundMessage(nil), f.messages...), append([]channels.InboundMessage(nil), f.opened...), f.envelopes
}

// fakeRecorder is a wechat.Recorder de-duplicating by dedupKey.
type fakeRecorder struct {
	mu      sync.Mutex
	records []record
	seen    map[string]bool
}

type record struct {
	Channel, OpenID, DedupKey string
	Raw                       []byte
}

func (r *fakeRecorder) Record(_ context.Context, channel, openid, dedupKey string, raw []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.seen[channel+"|"+dedupKey] {
		return nil
	}
	r.seen[channel+"|"+dedupKey] = true
	r.records = append(r.records, record{channel, openid, dedupKey, bytes.Clone(raw)})
	return nil
}

func (r *fakeRecorder) all() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]record(nil), r.records...)
}

// env is one channel under test with its fakes.
type env struct {
	ch   *wechat.Channel
	e    *echo.Echo
	conv *fakeConv
	rec  *fakeRecorder
	api  *wechatfake.Server
	now  time.Time
}

type setup struct {
	safe           bool  // configure the EncodingAESKey
	allowPlaintext bool  // Options.AllowPlaintext
	maxBody        int64 // Deps.MaxBody
	now            time.Time
}

func newEnv(t testing.TB, s setup) *env {
	t.Helper()
	api := wechatfake.New(appID, secret)
	t.Cleanup(api.Close)
	if s.now.IsZero() {
		s.now = time.Unix(1715943329, 0)
	}
	now := s.now
	cfg := configs.Wechat{AppID: appID, AppSecret: secret, Token: token, APIBase: api.URL()}
	if s.safe {
		cfg.EncodingAESKey = aesKey
	}
	conv, rec := newFakeConv(), &fakeRecorder{}
	ch, err := wechat.New(channels.Deps{MaxBody: s.maxBody, Clock: clock.NewFake(now)}, cfg, conv,
		wechat.Options{Recorder: rec, AllowPlaintext: s.allowPlaintext})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = renderError
	ch.Mount(e)
	return &env{ch: ch, e: e, conv: conv, rec: rec, api: api, now: now}
}

// renderError renders errors as the gateway does: *apierr.Error with its
// status and the contract's error JSON.
func renderError(err error, c echo.Context) {
	var he *echo.HTTPError
	ae, ok := errors.AsType[*apierr.Error](err)
	switch {
	case ok:
	case errors.As(err, &he):
		ae = &apierr.Error{Code: apierr.CodeNotFound, Message: http.StatusText(he.Code)}
		_ = c.JSON(he.Code, apierr.Body{Error: ae})
		return
	default:
		ae = apierr.From(err)
	}
	_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
}

func (v *env) do(t testing.TB, method string, q url.Values, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, wechat.Path+"?"+q.Encode(), bytes.NewReader(body))
	rr := httptest.NewRecorder()
	v.e.ServeHTTP(rr, req)
	return rr
}

// ts is the env's clock as WeChat's timestamp parameter.
func (v *env) ts() string { return strconv.FormatInt(v.now.Unix(), 10) }

// plain signs a plaintext push for the env's clock.
func (v *env) plain(body string) (url.Values, []byte) {
	return wechatfake.SignPlain(token, v.ts(), "1514711492"), []byte(body)
}

// encrypted builds a safe-mode XML push of inner for the env's clock.
func (v *env) encrypted(inner string) (url.Values, []byte) {
	return wechatfake.EncryptPush(token, aesKey, appID, []byte(inner), v.ts(), "1590219412")
}

func requireSuccess(t testing.TB, rr *httptest.ResponseRecorder) {
	t.Helper()
	require.Equal(t, http.StatusOK, rr.Code, rr.Body.String())
	require.Equal(t, "success", rr.Body.String())
}

func requireRefused(t testing.TB, rr *httptest.ResponseRecorder, status int, code apierr.Code) {
	t.Helper()
	require.Equal(t, status, rr.Code, rr.Body.String())
	var b struct {
		Error struct {
			Code    apierr.Code `json:"code"`
			Message string      `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rr.Body.Bytes(), &b), rr.Body.String())
	require.Equal(t, code, b.Error.Code)
	require.NotEmpty(t, b.Error.Message)
}
