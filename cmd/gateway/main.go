// Command gateway runs the 12345 hotline's multi-channel intake gateway.
// With no configuration it listens on :8080, keeps its state in ./data and
// starts an embedded Kafka-wire broker on 127.0.0.1:9092.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hotline12345/gateway/auth/loginguard"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
)

func main() {
	// The same binary compares agents' passwords in a child process of the
	// lowest priority (auth/loginguard.Worker).
	if len(os.Args) == 2 && os.Args[1] == loginguard.WorkerArg {
		if err := loginguard.ServeWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "gateway: bcrypt worker:", err)
			os.Exit(1)
		}
		return
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
