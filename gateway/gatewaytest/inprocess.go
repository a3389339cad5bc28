package gatewaytest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/internal/clock"
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
// middleware, the relay does not run. A nil Clock means a clock.Fake at a
// fixed instant; a nil Logger discards logs. Shutdown runs at cleanup.
func New(t testing.TB, cfg *configs.Config, opts gateway.Options) *gateway.Gateway {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("gatewaytest: config: %v", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.NewFake(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
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
