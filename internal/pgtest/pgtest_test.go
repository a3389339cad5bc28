package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/pgtest"
)

// connect opens a connection that the test's cleanup closes.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	require.NoError(t, err, dsn)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// eventually calls fn until it returns nil, failing the test with fn's last
// error after timeout.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not after %v: %v", timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// serverAddr is the host:port of the server conn is connected to.
func serverAddr(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var port int
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT inet_server_port()").Scan(&port))
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func inRecovery(t *testing.T, conn *pgx.Conn) bool {
	t.Helper()
	var r bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT pg_is_in_recovery()").Scan(&r))
	return r
}

func show(t *testing.T, conn *pgx.Conn, setting string) string {
	t.Helper()
	var v string
	require.NoError(t, conn.QueryRow(t.Context(), "SHOW "+setting).Scan(&v))
	return v
}

// hasNote reports whether the note is in the table notes on the server of dsn.
func hasNote(ctx context.Context, dsn, note string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM notes WHERE body = $1", note).Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%d rows with %q, want 1", n, note)
	}
	return nil
}

func createNote(t *testing.T, conn *pgx.Conn, note string) {
	t.Helper()
	_, err := conn.Exec(t.Context(), "CREATE TABLE IF NOT EXISTS notes (id bigserial PRIMARY KEY, body text NOT NULL)")
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), "INSERT INTO notes (body) VALUES ($1)", note)
	require.NoError(t, err)
}

func TestSynchronousStandby(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Standby: true})
	require.Equal(t, "postgres://postgres@"+c.PrimaryAddr()+","+c.StandbyAddr()+
		"/gateway?target_session_attrs=read-write&connect_timeout=2", c.DSN())

	conn := connect(t, c.DSN())
	require.Equal(t, c.PrimaryAddr(), serverAddr(t, conn), "DSN reaches the primary")
	require.Equal(t, "on", show(t, conn, "fsync"))
	require.Equal(t, "on", show(t, conn, "synchronous_commit"))
	createNote(t, conn, "sync")

	var names []string
	var states []string
	rows, err := conn.Query(t.Context(), "SELECT application_name, sync_state FROM pg_stat_replication")
	require.NoError(t, err)
	for rows.Next() {
		var name, state string
		require.NoError(t, rows.Scan(&name, &state))
		names, states = append(names, name), append(states, state)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"sync"}, states, "standbys %v", names)
	require.Equal(t, names[0], show(t, conn, "synchronous_standby_names"))

	standby := connect(t, c.StandbyDSN())
	require.Equal(t, c.StandbyAddr(), serverAddr(t, standby))
	require.True(t, inRecovery(t, standby))
	// synchronous_commit=on: the standby has flushed the commit's WAL when
	// the primary answers, and applies it a moment later.
	eventually(t, 5*time.Second, func() error { return hasNote(t.Context(), c.StandbyDSN(), "sync") })
}

func TestFailover(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{Standby: true})
	conn := connect(t, c.DSN())
	createNote(t, conn, "before the crash")
	require.NoError(t, conn.Close(t.Context()))

	c.KillPrimary()
	_, err := pgx.Connect(t.Context(), c.PrimaryDSN())
	require.Error(t, err, "the primary is down")
	c.Promote()

	conn = connect(t, c.DSN())
	require.Equal(t, c.StandbyAddr(), serverAddr(t, conn), "DSN reaches the promoted standby")
	require.False(t, inRecovery(t, conn))
	require.NoError(t, hasNote(t.Context(), c.DSN(), "before the crash"))
	createNote(t, conn, "after the failover")
	require.NoError(t, hasNote(t.Context(), c.StandbyDSN(), "after the failover"))
}

func TestPrimaryOnly(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	require.Equal(t, "postgres://postgres@"+c.PrimaryAddr()+
		"/gateway?target_session_attrs=read-write&connect_timeout=2", c.DSN())

	conn := connect(t, c.DSN())
	require.Equal(t, c.PrimaryAddr(), serverAddr(t, conn))
	require.False(t, inRecovery(t, conn))
	require.Equal(t, "on", show(t, conn, "fsync"))
	require.Empty(t, show(t, conn, "synchronous_standby_names"))
	createNote(t, conn, "alone")
	require.NoError(t, hasNote(t.Context(), c.PrimaryDSN(), "alone"))
	require.NoError(t, conn.Close(t.Context()))

	c.Stop()
	c.Stop() // idempotent
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, c.PrimaryDSN())
	require.Error(t, err, "stopped")
	require.False(t, errors.Is(err, context.DeadlineExceeded), "refused, not hanging: %v", err)
}
