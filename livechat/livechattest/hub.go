package livechattest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/logtest"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// Hub is a hub served by an httptest server, without Kafka.
type Hub struct {
	*livechat.Hub
	Base   string
	Tokens *tokens.Signer
	DB     *store.DB
	Intake *intakelog.Log
	Dir    string
	// Log holds the hub's JSON log lines (audit tests read it).
	Log  *logtest.Buffer
	stop func()
}

// StartHub builds a hub with the agents spec and clock on dir ("" = temp).
func StartHub(t testing.TB, agents string, clk clock.Clock, dir string, tune ...func(*livechat.Config)) *Hub {
	t.Helper()
	return startHub(t, agents, clk, dir, store.Options{}, tune...)
}

// StartHubNoSync is StartHub with a store that does not fsync: for tests
// that compare latencies of the hub itself, which the disk's stalls would
// swamp.
func StartHubNoSync(t testing.TB, agents string, clk clock.Clock, dir string, tune ...func(*livechat.Config)) *Hub {
	t.Helper()
	return startHub(t, agents, clk, dir, store.Options{NoSync: true}, tune...)
}

func startHub(t testing.TB, agents string, clk clock.Clock, dir string, opts store.Options, tune ...func(*livechat.Config)) *Hub {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := store.Open(filepath.Join(dir, "g.db"), opts, append(intakelog.Buckets, sessions.Buckets...)...)
	require.NoError(t, err)
	log := intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, clk)
	specs, err := configs.ParseAgents(agents)
	require.NoError(t, err)
	signer := tokens.NewSigner("test-secret-0123456789", clk)
	cfg := livechat.Config{LiveChat: configs.Default().LiveChat, AgentTokenTTL: time.Hour, ResponseWindow: 3 * time.Minute}
	for _, f := range tune {
		f(&cfg)
	}
	logs := &logtest.Buffer{}
	h, err := livechat.New(cfg, livechat.Deps{DB: db, Intake: log, Tokens: signer, Clock: clk,
		Logger: logs.Logger(), Agents: specs,
		Stamp: normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: 3 * time.Minute, Handling: 24 * time.Hour, Clock: clk}})
	require.NoError(t, err)
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	h.Mount(e)
	srv := httptest.NewServer(e)
	out := &Hub{Hub: h, Base: srv.URL, Tokens: signer, DB: db, Intake: log, Dir: dir, Log: logs}
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

// TriageWith makes the hub's intake log flag the envelope a chat's first
// message makes, as the gateway's triage does (contract §10), with rule
// standing in for triage's emergency rules; the hub looks at later messages
// itself (livechat.Config.Emergency, which tests set to the same rule).
func (h *Hub) TriageWith(rule func(text string) (normalize.Emergency, bool)) {
	h.Intake.OnPrepare(func(env *normalize.Envelope) intakelog.Prep {
		if em, ok := rule(env.Content.Text); ok {
			env.Triage = &normalize.Triage{Priority: normalize.PriorityEmergency, Emergency: &em}
		}
		return intakelog.Prep{}
	})
}
