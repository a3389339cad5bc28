package livechattest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/intakelog"
	"github.com/hotline12345/gateway/connectors/store"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/normalize/apierr"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/sessions/tokens"
)

// FakeClock runs AfterFunc callbacks when Advance passes their time.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

// NewFakeClock starts at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now is the fake time.
func (c *FakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// AfterFunc schedules f.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, ft)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !ft.stopped
		ft.stopped = true
		return was
	}
}

// Advance moves time and runs due callbacks in order (outside the lock).
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	rest := c.timers[:0]
	for _, ft := range c.timers {
		if !ft.stopped && !ft.at.After(c.now) {
			ft.stopped = true
			due = append(due, ft)
		} else if !ft.stopped {
			rest = append(rest, ft)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, ft := range due {
		ft.f()
	}
}

// Hub is a hub served by an httptest server, without Kafka.
type Hub struct {
	*livechat.Hub
	Base   string
	Tokens *tokens.Signer
	DB     *store.DB
	Intake *intakelog.Log
	Dir    string
	stop   func()
}

// StartHub builds a hub with the agents spec and clock on dir ("" = temp).
func StartHub(t testing.TB, agents string, clock livechat.Clock, dir string, tune ...func(*livechat.Config)) *Hub {
	t.Helper()
	return startHub(t, agents, clock, dir, store.Options{}, tune...)
}

// StartHubNoSync is StartHub with a store that does not fsync: for tests
// that compare latencies of the hub itself, which the disk's stalls would
// swamp.
func StartHubNoSync(t testing.TB, agents string, clock livechat.Clock, dir string, tune ...func(*livechat.Config)) *Hub {
	t.Helper()
	return startHub(t, agents, clock, dir, store.Options{NoSync: true}, tune...)
}

func startHub(t testing.TB, agents string, clock livechat.Clock, dir string, opts store.Options, tune ...func(*livechat.Config)) *Hub {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := store.Open(filepath.Join(dir, "g.db"), opts, append(intakelog.Buckets, sessions.Buckets...)...)
	require.NoError(t, err)
	now := func() time.Time { return clock.Now() }
	log := intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, now)
	specs, err := configs.ParseAgents(agents)
	require.NoError(t, err)
	signer := tokens.NewSigner("test-secret-0123456789", now)
	cfg := livechat.Config{LiveChat: configs.Default().LiveChat, AgentTokenTTL: time.Hour, ResponseWindow: 3 * time.Minute}
	for _, f := range tune {
		f(&cfg)
	}
	h, err := livechat.New(cfg, livechat.Deps{DB: db, Intake: log, Tokens: signer, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Agents: specs,
		Stamp: normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: 3 * time.Minute, Handling: 24 * time.Hour, Now: now}})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	h.Mount(e)
	srv := httptest.NewServer(e)
	out := &Hub{Hub: h, Base: srv.URL, Tokens: signer, DB: db, Intake: log, Dir: dir}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = h.Close(ctx)
			srv.CloseClientConnections()
			srv.Close()
			_ = db.Close()
		})
	}
	t.Cleanup(stop)
	out.stop = stop
	return out
}

// Stop closes the hub, its server and its store.
func (h *Hub) Stop() { h.stop() }

// AgentToken and CitizenToken mint tokens directly.
func (h *Hub) AgentToken(id string) string {
	return h.Tokens.Issue(tokens.Claims{Sub: id, Role: tokens.RoleAgent}, time.Hour)
}

// CitizenToken mints a web citizen token for sub.
func (h *Hub) CitizenToken(sub string) string {
	return h.Tokens.Issue(tokens.Claims{Sub: sub, Role: tokens.RoleCitizen, Channel: "web"}, time.Hour)
}
