package store_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/pgtest"
)

// withDatabase is dsn with its database replaced by name, creating that
// database on the cluster's primary if it does not exist yet: one store per
// name, as storetest.Open wants.
func withDatabase(t testing.TB, c *pgtest.Cluster, dsn, name string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.PrimaryDSN())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	if !exists {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		require.NoError(t, err)
	}
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

// openPostgres opens a store on dsn that the test's cleanup closes.
func openPostgres(t testing.TB, dsn string, opts store.PostgresOptions, buckets ...string) *store.DB {
	t.Helper()
	db, err := store.OpenPostgres(context.Background(), dsn, opts, buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// dbName is a database name for the n-th store of a test.
func dbName(prefix string, n int) string { return fmt.Sprintf("%s_%d", prefix, n) }
