// Command ticketsim is a small reference ticket system for demos and
// end-to-end tests. It consumes the gateway's envelopes (intake.envelopes)
// and answers each on ticket.events with a Ticket event v1 sequence:
// accepted, then dispatched with a reply for the citizen, then optionally
// resolved, each after a configurable delay.
//
//	ticketsim -brokers 127.0.0.1:9092 -accept-delay 1s -dispatch-delay 5s -resolve-delay 1m
//
// It logs JSON (log/slog) to stderr and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2) // the problem and the usage are printed
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("ticketsim failed", "err", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags reads the command line into a config.
func parseFlags(args []string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("ticketsim", flag.ContinueOnError)
	fs.SetOutput(out)
	var cfg config
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	fs.StringVar(&cfg.Group, "group", "ticketsim", "consumer group")
	fs.StringVar(&cfg.InTopic, "in-topic", "intake.envelopes", "topic of the gateway's envelopes")
	fs.StringVar(&cfg.OutTopic, "out-topic", "ticket.events", "topic for ticket events")
	fs.DurationVar(&cfg.AcceptDelay, "accept-delay", time.Second, "delay from reading an envelope to \"accepted\"")
	fs.DurationVar(&cfg.DispatchDelay, "dispatch-delay", 5*time.Second, "delay from \"accepted\" to \"dispatched\" (with the reply)")
	fs.DurationVar(&cfg.ResolveDelay, "resolve-delay", 0, "delay from \"dispatched\" to \"resolved\"; 0: never resolved")
	fs.StringVar(&cfg.Reply, "reply", "您的诉求已转交相关部门处理。", "reply text sent with \"dispatched\"; empty: none")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 10000, "most tickets whose sequence runs at once")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %q", fs.Args())
		fmt.Fprintln(out, err)
		return config{}, err
	}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(out, err)
		return config{}, err
	}
	return cfg, nil
}
