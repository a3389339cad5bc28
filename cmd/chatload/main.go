// Command chatload puts live-chat load on a running gateway over real
// websockets and reports what citizens and agents would see, plus the
// gateway's memory and CPU.
//
// Idle capacity: open -conns citizen websockets (token, connect, hello and a
// first message: each holds a queued session with its request), hold them,
// and report the gateway's RSS growth per connection (from /proc/<pid>/status
// with -gateway-pid, else from /metrics), the set-up rate and failures. -hello=false holds bare websockets without a
// session, to tell the connection's cost from the session's.
//
//	chatload -mode idle -conns 20000 -gateway-pid $(pgrep -n gw)
//
// Chat throughput: -agents agents (configured on the gateway with
// GATEWAY_AGENTS, see -print-agents) log in, go available and accept every
// offer; -conns citizens (at most the agents' total capacity) open sessions
// and file their first message; then citizens send at -pairs-per-sec in all,
// round robin, and each agent answers each message at once. Delivery latency
// is the receiver's read minus the sender's write, both on this process's
// clock; every message is stored durably (group-committed fsync) before the
// gateway delivers it, so the figures include that.
//
//	chatload -mode chat -agents 40 -conns 2000 -pairs-per-sec 2000 -duration 30s
//
// The gateway must not rate-limit the token endpoint (GATEWAY_RATE_LIMIT_PER_IP
// and _PER_IP_BURST high) nor cap this one address's websockets
// (GATEWAY_LIVECHAT_MAX_CONNECTIONS_PER_IP=0, the default is 200), and needs
// a file limit above the connection count (ulimit -n). Loopback only: this
// harness is for the bench, not production.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	base, mode, pid, agentPrefix, agentPassword string
	// wsBases are where websockets connect, in turn (a cluster's nodes);
	// empty: base.
	wsBases                                   []string
	wsNext                                    *atomic.Uint64
	fsyncDir                                  string
	conns, agents, capacity, setupConcurrency int
	helpers                                   int
	rate                                      float64
	duration, warmup, settle, setupTimeout    time.Duration
	hello, jsonOut, printAgents, timeline     bool
	nofile                                    uint64
}

func main() {
	var o options
	var wsBases string
	flag.StringVar(&o.base, "base", "http://127.0.0.1:8080", "gateway base URL")
	flag.StringVar(&o.mode, "mode", "idle", "idle | chat")
	flag.IntVar(&o.conns, "conns", 20000, "citizen websockets (chat: at most the agents' total capacity)")
	flag.IntVar(&o.agents, "agents", 40, "chat: agents to log in (<prefix>1 … <prefix>N)")
	flag.Float64Var(&o.rate, "pairs-per-sec", 2000, "chat: citizen messages per second in all, each answered by its agent")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "idle: how long to hold after settling; chat: the measured window")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "chat: send at the rate for this long first, not measured")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "idle: wait this long after set-up before reading memory")
	flag.DurationVar(&o.setupTimeout, "setup-timeout", 5*time.Minute, "give up setting up connections after this long")
	flag.IntVar(&o.setupConcurrency, "setup-concurrency", 64, "connections set up at once")
	flag.StringVar(&o.pid, "gateway-pid", "", "the gateway's pid, or a cluster's nodes' pids comma-separated, to read their VmRSS (summed) from /proc (else process_resident_memory_bytes of -base)")
	flag.StringVar(&wsBases, "ws-bases", "", "base URLs the websockets connect to in turn, comma-separated (a cluster's nodes); default -base")
	flag.StringVar(&o.agentPrefix, "agent-prefix", "load", "chat: agent ids are this prefix and 1…N")
	flag.StringVar(&o.agentPassword, "agent-password", "load-pw", "chat: the agents' password")
	flag.IntVar(&o.capacity, "capacity", 50, "with -print-agents: max_concurrent of each agent")
	flag.IntVar(&o.helpers, "helpers", 0, "idle: also start this many chatload processes, each holding an equal share of -conns (a process opens at most its file limit of sockets)")
	flag.BoolVar(&o.hello, "hello", true, "idle: send hello and a first message so that each connection holds a queued session")
	flag.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	flag.BoolVar(&o.timeline, "timeline", false, "chat: also report latency percentiles for each second")
	flag.StringVar(&o.fsyncDir, "fsync-probe", "", "chat: also time a 4 KiB write+fdatasync every 5 ms in this directory (put it on the gateway's disk)")
	flag.BoolVar(&o.printAgents, "print-agents", false, "print a GATEWAY_AGENTS value for -agents, -agent-prefix, -agent-password, -capacity and exit")
	flag.Parse()
	if wsBases != "" {
		o.wsBases = strings.Split(wsBases, ",")
	}
	o.wsNext = new(atomic.Uint64)
	if o.printAgents {
		fmt.Println(agentsSpec(o.agentPrefix, o.agentPassword, o.agents, o.capacity))
		return
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "chatload:", err)
		os.Exit(2)
	}
	own := o.conns / (o.helpers + 1) // each helper holds as many
	own += o.conns - own*(o.helpers+1)
	o.nofile = raiseNoFile(uint64(own + o.agents + 1024))
	if o.nofile < uint64(own+o.agents+64) {
		fmt.Fprintf(os.Stderr, "chatload: RLIMIT_NOFILE is %d, too low for %d connections: expect failures (raise the hard limit, or use -helpers)\n",
			o.nofile, own+o.agents)
	}
	fmt.Fprintln(os.Stderr, "chatload: the gateway needs a file limit above the connection count: start it after `ulimit -n <n>`")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep interface{ print(io.Writer) }
	var err error
	switch o.mode {
	case "idle":
		rep, err = runIdle(ctx, o)
	case "chat":
		rep, err = runChat(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatload:", err)
		if rep == nil || isNil(rep) {
			os.Exit(1)
		}
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if err != nil {
		os.Exit(1)
	}
}

func isNil(r any) bool {
	switch v := r.(type) {
	case *idleReport:
		return v == nil
	case *chatReport:
		return v == nil
	}
	return r == nil
}

func (o options) check() error {
	var errs []error
	if o.mode != "idle" && o.mode != "chat" {
		errs = append(errs, fmt.Errorf("-mode %q: want idle or chat", o.mode))
	}
	for _, b := range append([]string{o.base}, o.wsBases...) {
		if !strings.HasPrefix(b, "http://") && !strings.HasPrefix(b, "https://") {
			errs = append(errs, fmt.Errorf("-base or -ws-bases %q: want http://host:port", b))
		}
	}
	for _, p := range strings.Split(o.pid, ",") {
		if _, err := strconv.Atoi(p); o.pid != "" && err != nil {
			errs = append(errs, fmt.Errorf("-gateway-pid %q: want a pid or a comma-separated list of pids", o.pid))
			break
		}
	}
	if o.helpers < 0 || (o.helpers > 0 && o.mode != "idle") {
		errs = append(errs, errors.New("-helpers: idle mode only, not negative"))
	}
	if o.conns < 1 || o.setupConcurrency < 1 {
		errs = append(errs, errors.New("-conns and -setup-concurrency must be positive"))
	}
	if o.mode == "chat" && (o.agents < 1 || o.rate <= 0) {
		errs = append(errs, errors.New("chat: -agents and -pairs-per-sec must be positive"))
	}
	if o.duration <= 0 || o.warmup < 0 || o.settle < 0 || o.setupTimeout <= 0 {
		errs = append(errs, errors.New("-duration and -setup-timeout must be positive, -warmup and -settle not negative"))
	}
	return errors.Join(errs...)
}

// agentsSpec is a GATEWAY_AGENTS value: id:password:skill:max_concurrent, comma-separated.
func agentsSpec(prefix, password string, n, capacity int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%s%d:%s:general:%d", prefix, i+1, password, capacity)
	}
	return strings.Join(parts, ",")
}

// wsBase is where the next websocket connects.
func (o options) wsBase() string {
	if len(o.wsBases) == 0 {
		return o.base
	}
	return o.wsBases[(o.wsNext.Add(1)-1)%uint64(len(o.wsBases))]
}
