// Package loginguard protects the agent login (contract §4) from password
// guessing: exponential back-off per account and per source IP, a lockout
// after repeated failures that a supervisor can lift, a bound on the bcrypt
// work that may run at once, and the same work and the same answer whether an
// agent id exists or not. It writes the audit log lines and counts outcomes.
package loginguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/clock"
)

// Outcome labels gateway_agent_logins_total.
type Outcome string

// Outcomes of one login attempt.
const (
	OK            Outcome = "ok"
	WrongPassword Outcome = "wrong_password"
	UnknownAgent  Outcome = "unknown_agent" // counted apart, answered like WrongPassword
	Throttled     Outcome = "throttled"     // back-off of the account or the IP not over
	Locked        Outcome = "locked"        // the account is locked out
	Busy          Outcome = "busy"          // every bcrypt slot taken and the queue full
)

// Sentinels the caller maps to an HTTP answer.
var (
	// ErrWrongPassword: unknown agent or wrong password, never said which.
	ErrWrongPassword = errors.New("loginguard: unknown agent or wrong password")
	// ErrThrottled: retry after Denied.RetryAfter.
	ErrThrottled = errors.New("loginguard: too many failed logins; retry later")
	// ErrLocked: the account is locked until Denied.RetryAfter has passed or a
	// supervisor lifts the lockout.
	ErrLocked = errors.New("loginguard: account locked after too many failed logins")
	// ErrBusy: too many logins are being checked; retry after
	// Denied.RetryAfter.
	ErrBusy = errors.New("loginguard: too many logins at once")
)

// Denied is an attempt refused before any password was checked. It wraps
// ErrThrottled, ErrLocked or ErrBusy.
type Denied struct {
	Err        error
	RetryAfter time.Duration
}

func (d *Denied) Error() string { return fmt.Sprintf("%v (retry after %s)", d.Err, d.RetryAfter) }
func (d *Denied) Unwrap() error { return d.Err }

// maxTracked bounds each failure table: past it, new keys are not tracked
// (the bcrypt pool still bounds the work) rather than growing memory without
// limit under a distributed attack.
const maxTracked = 1 << 16

// Options are the guard's dependencies.
type Options struct {
	// Clock is the time source; nil means clock.System.
	Clock  clock.Clock
	Logger *slog.Logger
	// HashCost is the bcrypt cost of the dummy hash checked for unknown ids
	// and plaintext agents: the highest cost among the configured hashes
	// (CostOf). Zero (no hashed agent) means bcrypt's minimum.
	HashCost int
	// Compare compares a password with a bcrypt hash: Worker.Compare, so
	// that the work runs outside the gateway's process; nil compares in
	// the calling goroutine.
	Compare func(hash, password []byte) bool
}

// Guard decides whether a login attempt may check a password and records its
// outcome. Safe for concurrent use; it starts no goroutine.
type Guard struct {
	cfg  configs.AuthLogin
	now  func() time.Time
	log  *slog.Logger
	pool pool
	pw   passwords

	mu       sync.Mutex
	accounts map[string]*failures
	ips      map[string]*failures
	swept    time.Time

	logins   *prometheus.CounterVec
	lockouts prometheus.Counter
	checks   prometheus.Counter
	nChecks  atomic.Int64
}

// failures is one account's or IP's recent failed logins.
type failures struct {
	n     int       // consecutive failures, forgotten cfg.Lockout after the last
	last  time.Time // of the last failure
	until time.Time // no attempt before this
	lock  bool      // until is a lockout, not a back-off
}

// New returns a guard with cfg (already validated; see configs.AuthLogin).
func New(cfg configs.AuthLogin, o Options) *Guard {
	if o.Clock == nil {
		o.Clock = clock.System
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	g := &Guard{cfg: cfg, now: o.Clock.Now, log: o.Logger, accounts: map[string]*failures{}, ips: map[string]*failures{},
		pool: newPool(cfg.Workers, cfg.Queue, cfg.ChecksPerSecond, cfg.ChecksBurst, o.Clock),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_agent_logins_total",
			Help: "Agent login attempts by outcome (ok, wrong_password, unknown_agent, throttled, locked, busy)."}, []string{"outcome"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_agent_lockouts_total",
			Help: "Agent accounts locked out after too many failed logins."}),
		checks: prometheus.NewCounter(prometheus.CounterOpts{Name: "gateway_agent_login_hash_checks_total",
			Help: "bcrypt comparisons run for agent logins: one per checked attempt, known agent or not."}),
	}
	g.pw = newPasswords(o.HashCost, g.countCheck, o.Compare)
	return g
}

// Collectors are the guard's metrics, for the gateway's registry.
func (g *Guard) Collectors() []prometheus.Collector {
	return []prometheus.Collector{g.logins, g.lockouts, g.checks}
}

// HashChecks is the number of bcrypt comparisons run so far.
func (g *Guard) HashChecks() int64 { return g.nChecks.Load() }

func (g *Guard) countCheck() { g.checks.Inc(); g.nChecks.Add(1) }

// Check says whether given matches an agent's credentials with the same
// bcrypt work in every case: hash (bcrypt) when set, otherwise the dummy hash
// of the configured cost followed by a comparison with plain. An unknown id
// passes both empty and never matches.
func (g *Guard) Check(hash, plain, given string) bool { return g.pw.check(hash, plain, given) }

// Login runs one attempt for id from ip. verify checks the password (with
// Check) and says whether id is a known agent; it runs on a bounded pool
// slot, and only when neither the account nor the IP is backing off or
// locked out.
// Login returns nil on success, ErrWrongPassword, a *Denied, or ctx's error
// if ctx ends while the attempt waits for a slot.
func (g *Guard) Login(ctx context.Context, id, ip string, verify func() (ok, known bool)) error {
	if d := g.admit(id, ip); d != nil {
		outcome := Throttled
		if errors.Is(d, ErrLocked) {
			outcome = Locked
		}
		g.logins.WithLabelValues(string(outcome)).Inc()
		// Debug only: refusals are cheap and a storm would flood the log.
		g.log.Debug("agent login refused", "agent_id", clip(id), "ip", ip, "outcome", outcome, "retry_after_s", d.RetryAfter.Seconds())
		return d
	}
	release, err := g.pool.acquire(ctx)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			g.logins.WithLabelValues(string(Busy)).Inc()
			return &Denied{Err: ErrBusy, RetryAfter: g.pool.retryAfter()}
		}
		return fmt.Errorf("loginguard: waiting for a slot: %w", err)
	}
	ok, known := verify()
	release()
	if ok {
		g.succeeded(id, ip)
		g.logins.WithLabelValues(string(OK)).Inc()
		g.log.Info("agent login", "agent_id", id, "ip", ip, "outcome", OK)
		return nil
	}
	outcome := WrongPassword
	if !known {
		outcome = UnknownAgent
	}
	g.logins.WithLabelValues(string(outcome)).Inc()
	g.log.Warn("agent login failed", "agent_id", clip(id), "ip", ip, "outcome", outcome)
	g.failed(id, ip)
	return ErrWrongPassword
}

// admit refuses an attempt while its account or IP is backing off or locked.
func (g *Guard) admit(id, ip string) *Denied {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.accounts[id]; f != nil && now.Before(f.until) {
		if f.lock {
			return &Denied{Err: ErrLocked, RetryAfter: f.until.Sub(now)}
		}
		return &Denied{Err: ErrThrottled, RetryAfter: f.until.Sub(now)}
	}
	if f := g.ips[ip]; f != nil && now.Before(f.until) {
		return &Denied{Err: ErrThrottled, RetryAfter: f.until.Sub(now)}
	}
	return nil
}

// failed counts a wrong password against the account and the IP. The account
// backs off Backoff·2^(n-1) after its n-th failure and is locked for Lockout
// at the MaxFailures-th; the IP backs off the same way once it has more than
// IPMaxFailures failures, whatever ids they were for.
func (g *Guard) failed(id, ip string) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	if a := g.record(g.accounts, id, now); a != nil {
		if a.n >= g.cfg.MaxFailures {
			if !a.lock {
				g.lockouts.Inc()
				g.log.Warn("agent login locked out", "agent_id", clip(id), "ip", ip, "failures", a.n, "until", now.Add(g.cfg.Lockout).UTC())
			}
			a.lock, a.until = true, now.Add(g.cfg.Lockout)
		} else {
			a.until = now.Add(g.backoff(a.n))
		}
	}
	if f := g.record(g.ips, ip, now); f != nil && f.n > g.cfg.IPMaxFailures {
		f.until = now.Add(g.backoff(f.n - g.cfg.IPMaxFailures))
	}
}

// record adds a failure to key's entry, starting afresh after a quiet Lockout.
func (g *Guard) record(m map[string]*failures, key string, now time.Time) *failures {
	f := m[key]
	if f == nil {
		if len(m) >= maxTracked {
			return nil
		}
		f = &failures{}
		m[key] = f
	}
	if now.Sub(f.last) >= g.cfg.Lockout {
		*f = failures{}
	}
	f.n++
	f.last = now
	return f
}

// backoff is Backoff·2^(n-1), at most Lockout.
func (g *Guard) backoff(n int) time.Duration {
	d := g.cfg.Backoff
	for i := 1; i < n && d < g.cfg.Lockout; i++ {
		d *= 2
	}
	return min(d, g.cfg.Lockout)
}

// sweep forgets entries that can no longer refuse anything. Caller holds mu.
func (g *Guard) sweep(now time.Time) {
	if now.Sub(g.swept) < time.Minute {
		return
	}
	g.swept = now
	for _, m := range []map[string]*failures{g.accounts, g.ips} {
		for k, f := range m {
			if !now.Before(f.until) && now.Sub(f.last) >= g.cfg.Lockout {
				delete(m, k)
			}
		}
	}
}

// succeeded clears the account's failures and halves the address's: an
// office's good logins outweigh its typos (its agents share one address
// behind NAT), while one stolen password cannot wipe a guesser's record.
func (g *Guard) succeeded(id, ip string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.accounts, id)
	if f := g.ips[ip]; f != nil {
		f.n /= 2
		if f.n <= g.cfg.IPMaxFailures {
			f.until = time.Time{}
		}
	}
}

// Lift ends id's lockout or back-off at once (a supervisor's decision) and
// says whether there was one. by names who lifted it, for the audit log.
func (g *Guard) Lift(id, by string) bool {
	now := g.now()
	g.mu.Lock()
	f := g.accounts[id]
	delete(g.accounts, id)
	g.mu.Unlock()
	active := f != nil && now.Before(f.until)
	g.log.Warn("agent login lockout lifted", "agent_id", id, "by", by, "was_locked", f != nil && f.lock && active, "failures", failuresOf(f))
	return active
}

func failuresOf(f *failures) int {
	if f == nil {
		return 0
	}
	return f.n
}

// clip bounds an id taken from a request before it is logged.
func clip(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}
