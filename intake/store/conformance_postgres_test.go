package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/intake/store/storetest"
	"github.com/hotline12345/gateway/internal/pgtest"
)

// TestConformancePostgres runs the store's contract against the PostgreSQL
// engine: one server, one database per store the suite opens. Its sequences
// are a column updated in the transaction, so they are gap-free like bbolt's.
func TestConformancePostgres(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	names := map[string]string{} // the suite's store name → its database
	storetest.Run(t, func(t *testing.T, name string) *store.DB {
		db, ok := names[name]
		if !ok {
			db = dbName("conformance", len(names))
			names[name] = db
		}
		s, err := store.OpenPostgres(context.Background(), withDatabase(t, c, c.DSN(), db), store.PostgresOptions{})
		require.NoError(t, err)
		return s
	}, storetest.Features{GapFreeSequences: true})
}
