package gatewaytest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
)

// Config returns the default configuration with a temporary data directory,
// port-0 listeners (HTTP and embedded broker) and a fixed token secret.
func Config(t testing.TB) *configs.Config {
	cfg := configs.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Kafka.Embedded.Addr = "127.0.0.1:0"
	cfg.Auth.TokenSecret = "gatewaytest-token-secret-0123456789"
	return cfg
}

// New builds a gateway in the test process from cfg (see Config) without
// starting it: its router (g.Echo()) serves requests through every
// middleware, the relay does not run. A nil Now means a Clock at a fixed
// instant; a nil Logger discards logs. Shutdown runs at cleanup.
func New(t testing.TB, cfg *configs.Config, opts gateway.Options) *gateway.Gateway {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("gatewaytest: config: %v", err)
	}
	if opts.Now == nil {
		opts.Now = NewClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)).Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	g, err := gateway.New(cfg, opts)
	if err != nil {
		t.Fatalf("gatewaytest: gateway.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	return g
}

// Clock is a settable clock for gateway.Options.Now. Safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
