// Package gatewaytest runs the real gateway binary for integration tests: it
// builds ./cmd/gateway once per test binary, starts it on free ports with a
// temporary data directory, waits for /readyz, stops it with SIGTERM or
// SIGKILL and restarts it on the same directory and ports. It also holds the
// independent observers the acceptance tests rely on: a kcat consumer, the
// contract's JSON Schemas and a polling helper.
//
// Every process started here is killed by t.Cleanup; a failed test prints the
// tail of the gateway's log.
package gatewaytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long Start waits for /readyz.
const ReadyTimeout = 30 * time.Second

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Binary returns the path of the gateway binary, building it on first use
// (once per test binary). Set GATEWAYTEST_RACE=1 to build it with -race.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "gatewaytest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(buildDir, "gateway")
		args := []string{"build", "-o", buildBin}
		if os.Getenv("GATEWAYTEST_RACE") == "1" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/gateway")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/gateway: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("gatewaytest: %v", buildErr)
	}
	return buildBin
}

// Main runs the package's tests and removes the built binary afterwards:
//
//	func TestMain(m *testing.M) { os.Exit(gatewaytest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	return code
}

// ModuleRoot is the directory holding go.mod, found from the working directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("gatewaytest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gatewaytest: no free port: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// Options configure a gateway process.
type Options struct {
	// Env holds extra NAME=value entries (GATEWAY_*); they override the
	// harness's own settings.
	Env []string
	// DataDir defaults to a fresh t.TempDir().
	DataDir string
	// KafkaBrokers, if set, configures an external cluster
	// (GATEWAY_KAFKA_BROKERS) and no embedded broker is started.
	KafkaBrokers string
}

// Process is one gateway process; Restart starts a new one on the same data
// directory, ports and environment.
type Process struct {
	t        testing.TB
	bin      string
	DataDir  string
	HTTPAddr string
	// KafkaAddr is the embedded broker's address, or the external brokers.
	KafkaAddr string
	env       []string
	logPath   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	state  *os.ProcessState
	runs   int
}

// Start builds (once) and starts the gateway and waits until /readyz answers 200.
func Start(t testing.TB, o Options) *Process {
	t.Helper()
	p := &Process{t: t, bin: Binary(t), DataDir: o.DataDir, HTTPAddr: FreeAddr(t)}
	if p.DataDir == "" {
		p.DataDir = t.TempDir()
	}
	logDir := t.TempDir()
	p.logPath = filepath.Join(logDir, "gateway.log")
	env := map[string]string{
		"GATEWAY_DATA_DIR":          p.DataDir,
		"GATEWAY_HTTP_ADDR":         p.HTTPAddr,
		"GATEWAY_AUTH_TOKEN_SECRET": "gatewaytest-token-secret-0123456789",
	}
	if o.KafkaBrokers != "" {
		env["GATEWAY_KAFKA_BROKERS"] = o.KafkaBrokers
		p.KafkaAddr = o.KafkaBrokers
	} else {
		p.KafkaAddr = FreeAddr(t)
		env["GATEWAY_KAFKA_EMBEDDED_ADDR"] = p.KafkaAddr
	}
	for _, kv := range o.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, kv := range os.Environ() { // the harness decides every GATEWAY_ setting
		if !strings.HasPrefix(kv, "GATEWAY_") {
			p.env = append(p.env, kv)
		}
	}
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("gateway log (tail):\n%s", tail(p.Log(), 60))
		}
	})
	p.launch()
	return p
}

func (p *Process) launch() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatalf("gatewaytest: %v", err)
	}
	p.mu.Lock()
	p.runs++
	fmt.Fprintf(logf, "----- gatewaytest: start #%d -----\n", p.runs)
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		logf.Close()
		p.t.Fatalf("gatewaytest: cannot start the gateway: %v", err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.state = cmd, exited, nil
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.mu.Unlock()
		close(exited)
	}()
	p.WaitReady(ReadyTimeout)
}

// WaitReady waits until /readyz answers 200; it fails the test if the process
// exits first or the timeout passes.
func (p *Process) WaitReady(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	delay := 5 * time.Millisecond
	for {
		select {
		case <-p.exitedChan():
			p.t.Fatalf("gatewaytest: the gateway exited before it was ready (%v); log:\n%s", p.ExitState(), tail(p.Log(), 40))
		default:
		}
		resp, err := client.Get(p.URL("/readyz"))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("gatewaytest: /readyz not 200 after %s (last error %v); log:\n%s", timeout, err, tail(p.Log(), 40))
		}
		time.Sleep(delay)
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func (p *Process) exitedChan() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// URL returns the gateway's base URL joined with path.
func (p *Process) URL(path string) string { return "http://" + p.HTTPAddr + path }

// Pid is the running process's id.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Running reports whether the current process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.exitedChan():
		return false
	default:
		return true
	}
}

// ExitState is the last process's exit state (nil while it runs).
func (p *Process) ExitState() *os.ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Signal sends sig to the running process.
func (p *Process) Signal(sig os.Signal) {
	p.t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("gatewaytest: signal %v: %v", sig, err)
	}
}

// Wait waits up to timeout for the process to exit and reports whether it did.
func (p *Process) Wait(timeout time.Duration) bool {
	select {
	case <-p.exitedChan():
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop sends SIGTERM and waits up to timeout for a graceful exit, then sends
// SIGKILL. It returns how long the graceful part took and whether the process
// exited by itself.
func (p *Process) Stop(timeout time.Duration) (time.Duration, bool) {
	p.t.Helper()
	if !p.Running() {
		return 0, true
	}
	start := time.Now()
	p.Signal(syscall.SIGTERM)
	if p.Wait(timeout) {
		return time.Since(start), true
	}
	p.Kill()
	return time.Since(start), false
}

// Kill sends SIGKILL (a crash) and waits for the process to be gone.
// Idempotent.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts a new process on the same data directory, ports and
// environment (the previous one must have exited) and waits until it is ready.
func (p *Process) Restart() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatal("gatewaytest: Restart while the gateway is still running")
	}
	p.launch()
}

// Log returns everything the gateway wrote to stdout and stderr so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Metric returns the value of a Prometheus sample from /metrics, e.g.
// `gateway_store_fsyncs_total` or `gateway_requests_total{channel="web",outcome="accepted"}`
// (labels as the exposition prints them). A missing sample is an error.
func Metric(ctx context.Context, baseURL, sample string) (float64, error) {
	body, err := getText(ctx, baseURL+"/metrics")
	if err != nil {
		return 0, err
	}
	return ParseMetric(body, sample)
}

// ParseMetric finds sample in a Prometheus text exposition.
func ParseMetric(exposition, sample string) (float64, error) {
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, sample+" ")
		if !ok {
			continue
		}
		return strconv.ParseFloat(strings.TrimSpace(rest), 64)
	}
	return 0, fmt.Errorf("gatewaytest: no sample %s in /metrics", sample)
}

func getText(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, resp.Body)
	return buf.String(), err
}
