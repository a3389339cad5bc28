package loginguard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hotline12345/gateway/auth/loginguard"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/clock"
)

// syncBuf is a log sink the guard may write from several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }

// lines returns the log records, decoded.
func (s *syncBuf) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		out = append(out, m)
	}
	return out
}

func limits() configs.AuthLogin {
	return configs.AuthLogin{MaxFailures: 5, Lockout: 15 * time.Minute, Backoff: time.Second, IPMaxFailures: 10, Workers: 1, Queue: 2,
		ChecksPerSecond: 1000, ChecksBurst: 1000}
}

func newGuard(t *testing.T, cfg configs.AuthLogin) (*loginguard.Guard, *clock.Fake, *syncBuf) {
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	logs := &syncBuf{}
	g := loginguard.New(cfg, loginguard.Options{Clock: clk, HashCost: bcrypt.MinCost,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return g, clk, logs
}

// attempt is one login: wait advances the clock first; ok is whether the
// password is right.
type attempt struct {
	wait  time.Duration
	id    string
	ip    string
	ok    bool
	want  error         // nil, ErrWrongPassword, ErrThrottled, ErrLocked
	retry time.Duration // the Retry-After of a refusal
}

func run(t *testing.T, g *loginguard.Guard, clk *clock.Fake, steps []attempt) {
	t.Helper()
	for i, s := range steps {
		clk.Advance(s.wait)
		verified := false
		err := g.Login(context.Background(), s.id, s.ip, func() (bool, bool) { verified = true; return s.ok, true })
		if s.want == nil {
			require.NoError(t, err, "step %d", i)
			continue
		}
		require.ErrorIs(t, err, s.want, "step %d", i)
		var d *loginguard.Denied
		if errors.As(err, &d) {
			require.False(t, verified, "step %d: a refused attempt checks no password", i)
			require.Equal(t, s.retry, d.RetryAfter, "step %d", i)
		} else {
			require.True(t, verified, "step %d", i)
		}
	}
}

func TestBackoffAndLockout(t *testing.T) {
	const ip = "192.0.2.1"
	wrong := func(wait time.Duration) attempt {
		return attempt{wait: wait, id: "li", ip: ip, want: loginguard.ErrWrongPassword}
	}
	tests := []struct {
		name  string
		steps []attempt
	}{
		{"the right password after a typo, once the back-off is over", []attempt{
			wrong(0),
			{wait: time.Second, id: "li", ip: ip, ok: true},
		}},
		{"each failure doubles the account's back-off", []attempt{
			wrong(0),
			{wait: 500 * time.Millisecond, id: "li", ip: ip, ok: true, want: loginguard.ErrThrottled, retry: 500 * time.Millisecond},
			wrong(500 * time.Millisecond),
			{id: "li", ip: ip, ok: true, want: loginguard.ErrThrottled, retry: 2 * time.Second},
			wrong(2 * time.Second),
			{id: "li", ip: ip, want: loginguard.ErrThrottled, retry: 4 * time.Second},
			wrong(4 * time.Second),
			{id: "li", ip: ip, want: loginguard.ErrThrottled, retry: 8 * time.Second},
		}},
		{"the fifth failure locks the account, even the right password waits", []attempt{
			wrong(0), wrong(time.Second), wrong(2 * time.Second), wrong(4 * time.Second), wrong(8 * time.Second),
			{wait: time.Minute, id: "li", ip: ip, ok: true, want: loginguard.ErrLocked, retry: 14 * time.Minute},
			{wait: 14 * time.Minute, id: "li", ip: ip, ok: true},
		}},
		{"the back-off is the account's, not the IP's below its limit", []attempt{
			wrong(0),
			{id: "wang", ip: ip, ok: true},
		}},
		{"a success clears the account's failures", []attempt{
			wrong(0), wrong(time.Second), wrong(2 * time.Second), wrong(4 * time.Second),
			{wait: 8 * time.Second, id: "li", ip: ip, ok: true},
			wrong(0), // the first failure again: 1 s, not a lockout
			{wait: time.Second, id: "li", ip: ip, ok: true},
		}},
		{"failures are forgotten after a quiet lockout period", []attempt{
			wrong(0), wrong(time.Second), wrong(2 * time.Second), wrong(4 * time.Second),
			wrong(15 * time.Minute), // counted as the first
			{id: "li", ip: ip, want: loginguard.ErrThrottled, retry: time.Second},
		}},
		{"an unknown id is throttled like a known one", []attempt{
			{id: "nobody", ip: ip, want: loginguard.ErrWrongPassword},
			{id: "nobody", ip: ip, want: loginguard.ErrThrottled, retry: time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, clk, _ := newGuard(t, limits())
			run(t, g, clk, tt.steps)
		})
	}
}

func TestIPBackoff(t *testing.T) {
	// Ten different ids from one IP: no account backs off, the IP does.
	var steps []attempt
	for i := range 10 {
		steps = append(steps, attempt{id: "guess" + string(rune('a'+i)), ip: "192.0.2.7", want: loginguard.ErrWrongPassword})
	}
	steps = append(steps,
		attempt{id: "guess-k", ip: "192.0.2.7", want: loginguard.ErrWrongPassword}, // the 11th: back-off starts
		attempt{id: "li", ip: "192.0.2.7", ok: true, want: loginguard.ErrThrottled, retry: time.Second},
		attempt{id: "li", ip: "198.51.100.1", ok: true}, // another IP is not affected
		attempt{wait: time.Second, id: "guess-l", ip: "192.0.2.7", want: loginguard.ErrWrongPassword},
		attempt{id: "guess-m", ip: "192.0.2.7", want: loginguard.ErrThrottled, retry: 2 * time.Second},
		// A success halves the address's count (12 → 6): an office's good
		// logins outweigh its typos, but the guesser's record stays.
		attempt{wait: 2 * time.Second, id: "li", ip: "192.0.2.7", ok: true},
	)
	for _, id := range []string{"guess-n", "guess-o", "guess-p", "guess-q", "guess-r"} { // 7 … 11
		steps = append(steps, attempt{id: id, ip: "192.0.2.7", want: loginguard.ErrWrongPassword})
	}
	steps = append(steps, attempt{id: "guess-s", ip: "192.0.2.7", want: loginguard.ErrThrottled, retry: time.Second})
	g, clk, _ := newGuard(t, limits())
	run(t, g, clk, steps)
}

// 75 agents behind one office address, 20 of whom mistype once: the good
// logins keep the address from backing off the rest.
func TestOfficeBehindOneAddress(t *testing.T) {
	g, clk, _ := newGuard(t, limits())
	for i := range 75 {
		id := "agent" + strconv.Itoa(i)
		if i%4 == 0 && i < 80 {
			require.ErrorIs(t, g.Login(context.Background(), id, "203.0.113.9", func() (bool, bool) { return false, true }),
				loginguard.ErrWrongPassword, "agent %d's typo", i)
			clk.Advance(time.Second) // the agent's own back-off
		}
		require.NoError(t, g.Login(context.Background(), id, "203.0.113.9", func() (bool, bool) { return true, true }), "agent %d", i)
	}
}

func TestLift(t *testing.T) {
	g, clk, logs := newGuard(t, limits())
	for range 5 {
		require.ErrorIs(t, g.Login(context.Background(), "li", "192.0.2.1", func() (bool, bool) { return false, true }), loginguard.ErrWrongPassword)
		clk.Advance(time.Minute)
	}
	require.ErrorIs(t, g.Login(context.Background(), "li", "192.0.2.1", func() (bool, bool) { return true, true }), loginguard.ErrLocked)

	require.True(t, g.Lift("li", "chen"))
	require.NoError(t, g.Login(context.Background(), "li", "192.0.2.1", func() (bool, bool) { return true, true }))
	require.False(t, g.Lift("li", "chen"), "nothing left to lift")

	var lifted []map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "agent login lockout lifted" {
			lifted = append(lifted, l)
		}
	}
	require.Len(t, lifted, 2)
	require.Equal(t, "li", lifted[0]["agent_id"])
	require.Equal(t, "chen", lifted[0]["by"])
	require.Equal(t, true, lifted[0]["was_locked"])
}

func TestAuditLog(t *testing.T) {
	g, clk, logs := newGuard(t, limits())
	const secret = "hunter2-secret"
	for i := range 5 {
		_ = g.Login(context.Background(), "li", "192.0.2.1", func() (bool, bool) { return g.Check("", "", secret), true })
		clk.Advance(time.Duration(1<<i) * time.Second)
	}
	_ = g.Login(context.Background(), "nobody", "192.0.2.2", func() (bool, bool) { return false, false })
	clk.Advance(time.Second)
	require.NoError(t, g.Login(context.Background(), "wang", "192.0.2.3", func() (bool, bool) { return true, true }))

	byMsg := map[string][]map[string]any{}
	for _, l := range logs.lines(t) {
		byMsg[l["msg"].(string)] = append(byMsg[l["msg"].(string)], l)
	}
	require.Len(t, byMsg["agent login failed"], 6)
	require.Equal(t, map[string]any{"agent_id": "li", "ip": "192.0.2.1", "outcome": "wrong_password"},
		pick(byMsg["agent login failed"][0], "agent_id", "ip", "outcome"))
	require.Equal(t, map[string]any{"agent_id": "nobody", "ip": "192.0.2.2", "outcome": "unknown_agent"},
		pick(byMsg["agent login failed"][5], "agent_id", "ip", "outcome"))
	require.Len(t, byMsg["agent login locked out"], 1)
	require.Equal(t, map[string]any{"agent_id": "li", "ip": "192.0.2.1"}, pick(byMsg["agent login locked out"][0], "agent_id", "ip"))
	require.Equal(t, map[string]any{"agent_id": "wang", "ip": "192.0.2.3", "outcome": "ok"}, pick(byMsg["agent login"][0], "agent_id", "ip", "outcome"))
	logs.mu.Lock()
	require.NotContains(t, logs.b.String(), secret)
	logs.mu.Unlock()
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func TestPoolBound(t *testing.T) {
	cfg := limits()
	cfg.Workers, cfg.Queue = 1, 1
	cfg.IPMaxFailures = 100
	g, _, _ := newGuard(t, cfg)
	inCheck, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	// The first attempt holds the only slot until released.
	wg.Go(func() {
		errs <- g.Login(context.Background(), "a", "192.0.2.1", func() (bool, bool) { close(inCheck); <-release; return true, true })
	})
	<-inCheck
	// The second waits in the queue (its context is cancelled below to prove it waits).
	ctx, cancel := context.WithCancel(context.Background())
	queued := make(chan error, 1)
	wg.Go(func() {
		queued <- g.Login(ctx, "b", "192.0.2.2", func() (bool, bool) { return true, true })
	})
	// The third, once the second is queued, finds slot and queue full and is
	// refused at once. (Trying it earlier would take the queue's place for a
	// moment and could refuse the second instead.)
	require.Eventually(t, func() bool { return g.Waiting() == 1 }, 5*time.Second, time.Millisecond, "the second never queued")
	err := g.Login(context.Background(), "c", "192.0.2.3", func() (bool, bool) { return true, true })
	require.ErrorIs(t, err, loginguard.ErrBusy)
	var d *loginguard.Denied
	require.ErrorAs(t, err, &d)
	require.Equal(t, time.Second, d.RetryAfter)

	cancel()
	require.ErrorIs(t, <-queued, context.Canceled)
	close(release)
	wg.Wait()
	require.NoError(t, <-errs)
	require.NoError(t, g.Login(context.Background(), "c", "192.0.2.3", func() (bool, bool) { return true, true }), "the slot is free again")
}

// The checks in all are bounded, whatever the ids and addresses: a storm
// from many of them costs at most the budget's share of the CPU.
func TestCheckBudget(t *testing.T) {
	cfg := limits()
	cfg.ChecksPerSecond, cfg.ChecksBurst = 2, 3
	g, clk, _ := newGuard(t, cfg)
	n, checked := 0, 0
	try := func() error {
		n++
		return g.Login(context.Background(), fmt.Sprintf("id-%d", n), fmt.Sprintf("192.0.2.%d", n), func() (bool, bool) { checked++; return false, false })
	}
	for range 3 {
		require.ErrorIs(t, try(), loginguard.ErrWrongPassword, "within the burst")
	}
	err := try()
	require.ErrorIs(t, err, loginguard.ErrBusy)
	var d *loginguard.Denied
	require.ErrorAs(t, err, &d)
	require.Equal(t, time.Second, d.RetryAfter)
	clk.Advance(500 * time.Millisecond) // one check back at 2/s
	require.ErrorIs(t, try(), loginguard.ErrWrongPassword)
	require.ErrorIs(t, try(), loginguard.ErrBusy)
	require.Equal(t, 4, checked)
}

func TestCheckSameWork(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-li"), bcrypt.MinCost)
	require.NoError(t, err)
	tests := []struct {
		name               string
		hash, plain, given string
		want               bool
	}{
		{"hashed agent, right", string(hash), "", "pw-li", true},
		{"hashed agent, wrong", string(hash), "", "nope", false},
		{"plaintext agent, right", "", "pw-wang", "pw-wang", true},
		{"plaintext agent, wrong", "", "pw-wang", "pw-wan", false},
		{"unknown id", "", "", "anything", false},
		{"unknown id, empty password", "", "", "", false},
	}
	g, _, _ := newGuard(t, limits())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.HashChecks()
			require.Equal(t, tt.want, g.Check(tt.hash, tt.plain, tt.given))
			require.Equal(t, before+1, g.HashChecks(), "one bcrypt comparison, whoever asks")
		})
	}
}

func TestCostOf(t *testing.T) {
	h4, err := bcrypt.GenerateFromPassword([]byte("x"), 4)
	require.NoError(t, err)
	h5, err := bcrypt.GenerateFromPassword([]byte("x"), 5)
	require.NoError(t, err)
	for _, tt := range []struct {
		name   string
		hashes []string
		want   int
	}{
		{"none", nil, 0},
		{"plaintext agents only", []string{"", ""}, 0},
		{"the highest", []string{string(h4), "", string(h5)}, 5},
	} {
		t.Run(tt.name, func(t *testing.T) { require.Equal(t, tt.want, loginguard.CostOf(tt.hashes...)) })
	}
}
