// Package pgtest starts real PostgreSQL servers for tests: a primary and,
// when asked, a streaming-replication standby that the primary commits to
// synchronously (synchronous_standby_names names it, synchronous_commit=on),
// so that a commit the primary acknowledged survives KillPrimary and Promote.
//
// The servers are Debian's postgresql package (the newest
// /usr/lib/postgresql/NN/bin, else the programs on PATH), each on a free TCP
// port of 127.0.0.1 with its data directory, log file and unix socket in a
// temporary directory. They run with fsync on, trust authentication (tests
// only), a database named gateway and the superuser postgres. initdb refuses
// to run as root: as root every program runs as the postgres user through
// runuser, and the temporary directory (under os.TempDir(), which that user
// must be able to enter) belongs to that user.
//
// Everything started is stopped and removed by t.Cleanup; a failed test logs
// the tail of each server's log.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Database is the database Start creates on the primary (and the standby
// copies).
const Database = "gateway"

// standbyName is the standby's application_name, the name
// synchronous_standby_names gives on the primary.
const standbyName = "pgtest_standby"

// startTimeout bounds Start, Promote and Stop each.
const startTimeout = 90 * time.Second

// Options says what Start starts.
type Options struct {
	// Standby adds a streaming-replication standby that the primary waits
	// for on every commit (synchronous replication).
	Standby bool
}

// Cluster is a primary and, with Options.Standby, its synchronous standby.
// Its methods fail the test on error and, like t.Fatal, must be called from
// the test's goroutine; the addresses and DSNs may be read from any.
type Cluster struct {
	t   testing.TB
	bin binaries
	dir string

	mu      sync.Mutex // the servers' running state; held by KillPrimary, Promote, Stop
	primary *server
	standby *server // nil without Options.Standby
}

// Start starts a primary and, with o.Standby, a synchronous standby, and
// returns once the primary accepts writes on the gateway database and the
// standby streams as the primary's synchronous standby. It skips the test
// (fails it under CI) when PostgreSQL is not installed; see Need.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	Need(t)
	bin, _ := findBinaries() // Need returned: no error
	dir, err := os.MkdirTemp(os.TempDir(), "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("pgtest: remove %s: %v", dir, err)
		}
	})
	c := &Cluster{t: t, bin: bin, dir: dir}
	// Cleanups run last first: stop the servers, then log (on failure) what
	// they wrote until they stopped, then remove the directory.
	t.Cleanup(c.logTails)
	t.Cleanup(c.Stop)
	if err := bin.own(dir); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.start(ctx, o); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return c
}

func (c *Cluster) start(ctx context.Context, o Options) error {
	c.primary = &server{name: "primary", dir: filepath.Join(c.dir, "primary")}
	p := c.primary
	if err := c.bin.mkdir(p.dir); err != nil {
		return err
	}
	// --no-sync only skips initdb's final flush of the files it wrote, which
	// a process crash cannot lose (the servers themselves run with fsync on).
	if err := c.bin.run(ctx, p.dir, "initdb", "-D", p.data(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return err
	}
	hba := "# pgtest: trust, for tests only\n" +
		"local all all trust\nhost all all 127.0.0.1/32 trust\n" +
		"local replication all trust\nhost replication all 127.0.0.1/32 trust\n"
	if err := os.WriteFile(filepath.Join(p.data(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return err
	}
	syncNames := "''"
	if o.Standby {
		// Set before the standby exists, so that the primary starts with
		// it: a reload would reach the backends at different moments.
		syncNames = quote(standbyName)
	}
	if err := p.setConf(
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = "+quote(p.dir),
		"fsync = on",
		"synchronous_commit = on",
		"full_page_writes = on",
		"shared_buffers = 128MB",
		"max_connections = 50",
		// The gateway's setting (docs/cluster.md): a group commit reads
		// many keys, and past 32 pages of one table (the default's half)
		// PostgreSQL locks the whole table for SERIALIZABLE's checks, so
		// that any other node's write conflicts with it.
		"max_pred_locks_per_transaction = 1024",
		// A new database creates each 16 MB WAL segment as it needs it, and
		// zero-fills it in the committing backend: under load that doubles
		// what goes to the disk and stalls commits (perf: XLogFileInit from
		// XLogFlush), from a dozen seconds of 2,000 requests/s on. A database
		// that has run a while recycles its segments instead. Tests start
		// fresh databases, and the benchmarks measure the steady state.
		"wal_init_zero = off",
		"wal_level = replica",
		"max_wal_senders = 5",
		"max_replication_slots = 5",
		"hot_standby = on",
		"synchronous_standby_names = "+syncNames,
		"log_line_prefix = '%m [%p] %q%a '",
	); err != nil {
		return err
	}
	if err := p.start(ctx, c.bin); err != nil {
		return err
	}
	if err := withConn(ctx, "postgres://postgres@"+p.addr()+"/postgres?connect_timeout=2", func(conn *pgx.Conn) error {
		// CREATE DATABASE would wait for a standby that is not there yet.
		if _, err := conn.Exec(ctx, "SET synchronous_commit = local"); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, "CREATE DATABASE "+Database)
		return err
	}); err != nil {
		return fmt.Errorf("create database %s: %w", Database, err)
	}
	if !o.Standby {
		return nil
	}

	c.standby = &server{name: "standby", dir: filepath.Join(c.dir, "standby")}
	s := c.standby
	if err := c.bin.mkdir(s.dir); err != nil {
		return err
	}
	// A fast checkpoint (the default spreads it over minutes), the WAL
	// streamed alongside, and a replication slot so that the primary keeps
	// the WAL until the standby has it.
	if err := c.bin.run(ctx, s.dir, "pg_basebackup", "-D", s.data(), "-h", "127.0.0.1", "-p", fmt.Sprint(p.port),
		"-U", "postgres", "-X", "stream", "-c", "fast", "-C", "-S", standbyName, "--no-sync"); err != nil {
		return err
	}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=%s", p.port, standbyName)
	if err := s.setConf(
		"unix_socket_directories = "+quote(s.dir),
		// Promoted, it has no standby to wait for.
		"synchronous_standby_names = ''",
		"primary_conninfo = "+quote(conninfo),
		"primary_slot_name = "+quote(standbyName),
	); err != nil {
		return err
	}
	signal := filepath.Join(s.data(), "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return err
	}
	if err := c.bin.own(signal); err != nil {
		return err
	}
	if err := s.start(ctx, c.bin); err != nil {
		return err
	}
	return poll(ctx, func() error {
		return withConn(ctx, p.dsn(), func(conn *pgx.Conn) error {
			var state, syncState string
			err := conn.QueryRow(ctx, "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1",
				standbyName).Scan(&state, &syncState)
			if err != nil {
				return fmt.Errorf("standby not in pg_stat_replication: %w", err)
			}
			if state != "streaming" || syncState != "sync" {
				return fmt.Errorf("standby %s, %s; want streaming, sync", state, syncState)
			}
			return nil
		})
	})
}

// DSN is a libpq URL of the gateway database that lists the primary and the
// standby and asks for the one that accepts writes
// (target_session_attrs=read-write): after KillPrimary and Promote it
// reaches the promoted standby.
func (c *Cluster) DSN() string {
	hosts := c.primary.addr()
	if c.standby != nil {
		hosts += "," + c.standby.addr()
	}
	return "postgres://postgres@" + hosts + "/" + Database + "?target_session_attrs=read-write&connect_timeout=2"
}

// PrimaryDSN is a libpq URL of the gateway database on the server Start
// made the primary.
func (c *Cluster) PrimaryDSN() string { return c.primary.dsn() }

// PrimaryAddr is the host:port of the server Start made the primary.
func (c *Cluster) PrimaryAddr() string { return c.primary.addr() }

// StandbyDSN is a libpq URL of the gateway database on the server Start made
// the standby. It fails the test without Options.Standby.
func (c *Cluster) StandbyDSN() string {
	c.t.Helper()
	return c.needStandby("StandbyDSN").dsn()
}

// StandbyAddr is the host:port of the server Start made the standby. It
// fails the test without Options.Standby.
func (c *Cluster) StandbyAddr() string {
	c.t.Helper()
	return c.needStandby("StandbyAddr").addr()
}

func (c *Cluster) needStandby(method string) *server {
	c.t.Helper()
	if c.standby == nil {
		c.t.Fatalf("pgtest: %s without a standby (Options.Standby)", method)
	}
	return c.standby
}

// KillPrimary crashes the primary: pg_ctl stop -m immediate, which ends
// every server process without a checkpoint, so that its next start would
// run crash recovery. It fails the test if the primary is not running.
func (c *Cluster) KillPrimary() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.primary.running {
		c.t.Fatalf("pgtest: KillPrimary: the primary is not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.primary.stop(ctx, c.bin, "immediate"); err != nil {
		c.t.Fatalf("pgtest: KillPrimary: %v", err)
	}
}

// Promote promotes the standby (pg_ctl promote) and returns once it accepts
// writes (pg_is_in_recovery() is false). Its synchronous_standby_names is
// empty: promoted, it commits without waiting for anyone.
func (c *Cluster) Promote() {
	c.t.Helper()
	s := c.needStandby("Promote")
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.running {
		c.t.Fatalf("pgtest: Promote: the standby is not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.bin.run(ctx, s.dir, "pg_ctl", "promote", "-w", "-t", "60", "-D", s.data()); err != nil {
		c.t.Fatalf("pgtest: Promote: %v", err)
	}
	err := poll(ctx, func() error {
		return withConn(ctx, s.dsn(), func(conn *pgx.Conn) error {
			var recovering bool
			if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering); err != nil {
				return err
			}
			if recovering {
				return errors.New("still in recovery")
			}
			return nil
		})
	})
	if err != nil {
		c.t.Fatalf("pgtest: Promote: %v", err)
	}
}

// Stop stops the servers still running (pg_ctl stop -m fast, the standby
// first). Stop is idempotent; t.Cleanup calls it too. A server that does not
// stop is logged, not failed: Stop runs in cleanups.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, s := range []*server{c.standby, c.primary} {
		if s == nil {
			continue
		}
		if err := s.stop(ctx, c.bin, "fast"); err != nil {
			c.t.Logf("pgtest: %v", err)
		}
	}
}

// logTails logs the end of each server's log when the test failed.
func (c *Cluster) logTails() {
	if !c.t.Failed() {
		return
	}
	for _, s := range []*server{c.primary, c.standby} {
		if s == nil {
			continue
		}
		c.t.Logf("pgtest: %s log %s (tail):\n%s", s.name, s.logPath(), tail(s.logPath(), 60))
	}
}

// withConn runs fn on a new connection to dsn and closes it.
func withConn(ctx context.Context, dsn string, fn func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// poll calls fn until it returns nil or ctx ends; then it returns fn's last
// error.
func poll(ctx context.Context, fn func() error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %v)", err, ctx.Err())
		case <-tick.C:
		}
	}
}
