// Command gateway runs the 12345 hotline's multi-channel intake gateway.
// With no configuration it listens on :8080, keeps its state in ./data and
// starts an embedded Kafka-wire broker on 127.0.0.1:9092.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hotline12345/gateway/internal/buildinfo"

	"github.com/hotline12345/gateway/auth/loginguard"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
)

func main() {
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case "version":
			fmt.Println(buildinfo.Read())
			return
		case "healthcheck": // for a container's HEALTHCHECK: distroless has no curl
			if err := healthcheck(); err != nil {
				fmt.Fprintln(os.Stderr, "gateway: healthcheck:", err)
				os.Exit(1)
			}
			return
		case loginguard.WorkerArg:
			// The same binary compares agents' passwords in a child process
			// of the lowest priority (auth/loginguard.Worker).
			if err := loginguard.ServeWorker(os.Stdin, os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "gateway: bcrypt worker:", err)
				os.Exit(1)
			}
			return
		}
	}
	// The runtime's own defaults and GOMAXPROCS, GOMEMLIMIT and GOGC from
	// the environment apply (README, "Running it").
	cfgPath := flag.String("config", "", "YAML configuration file (optional; every key also as GATEWAY_<KEY>)")
	flag.Parse()
	if err := run(*cfgPath); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// healthcheck asks the gateway configured by the environment (and
// GATEWAY_CONFIG's file, if any) for /healthz on loopback.
func healthcheck() error {
	cfg, err := configs.Load(os.Getenv("GATEWAY_CONFIG"), os.Environ())
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(cfg.HTTP.Addr)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	return nil
}

func run(cfgPath string) error {
	cfg, err := configs.Load(cfgPath, os.Environ())
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}))
	for _, name := range configs.UnknownEnv(os.Environ()) {
		logger.Warn("unknown GATEWAY_ environment variable ignored", "name", name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the gateway's own binary: %w", err)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: logger, BcryptWorker: []string{exe, loginguard.WorkerArg}})
	if err != nil {
		return err
	}
	if err := g.Start(ctx); err != nil {
		_ = g.Shutdown(context.Background())
		return err
	}
	<-ctx.Done()
	stop() // a second signal kills the process at once
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	return g.Shutdown(sctx)
}
