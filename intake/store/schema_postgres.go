package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL engine's schema. Two tables, the same for every feature:
// a bucket of the bbolt engine is the rows of gateway_kv with that bucket
// name. OpenPostgres creates what is missing, so a new database needs
// nothing but CREATE permission on its schema.
//
// For an operator: values are JSON almost everywhere (keys are strings or
// big-endian numbers), so a bucket reads as
//
//	SELECT convert_from(key, 'UTF8') AS key, convert_from(value, 'UTF8')::jsonb AS value
//	  FROM gateway_kv WHERE bucket = 'requests' ORDER BY key LIMIT 20;
//
// (a key that is a number: SELECT ('x' || encode(key, 'hex'))::bit(64)::bigint).
// The buckets and their sizes:
//
//	SELECT b.name, b.seq, count(kv.key) AS keys, sum(length(kv.value)) AS bytes
//	  FROM gateway_buckets b LEFT JOIN gateway_kv kv ON kv.bucket = b.name GROUP BY b.name, b.seq;
//
// Rows are written only by the gateways, in SERIALIZABLE transactions; a
// hand-made change is seen by them at once (there is no cache of values),
// but must keep each value the JSON its feature expects.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS gateway_buckets (
	name text PRIMARY KEY,
	seq bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS gateway_kv (
	bucket text,
	key bytea,
	value bytea NOT NULL,
	PRIMARY KEY (bucket, key)
);
COMMENT ON TABLE gateway_buckets IS
	'The gateway store''s buckets (intake/store, ADR 0001): a bucket exists when it has a row here. seq is its sequence (Bucket.NextSequence).';
COMMENT ON TABLE gateway_kv IS
	'The gateway store''s keys and values, by bucket, in bytewise key order. Values are JSON almost everywhere: SELECT convert_from(key, ''UTF8''), convert_from(value, ''UTF8'')::jsonb FROM gateway_kv WHERE bucket = ''requests''';
COMMENT ON COLUMN gateway_kv.key IS
	'A string or a big-endian number, as the bucket''s feature writes it';
COMMENT ON COLUMN gateway_kv.value IS
	'Usually UTF-8 JSON: convert_from(value, ''UTF8'')::jsonb';
`

// schemaLock is the key of the advisory lock that serialises the schema's
// creation: CREATE TABLE IF NOT EXISTS run by two nodes at once can fail
// with a unique violation in the catalog.
const schemaLock = 0x12345_0001

// createSchema creates the tables if they are missing and the named buckets,
// in one transaction, holding schemaLock, so that nodes starting at once
// neither collide nor see half a schema. It returns the names of all the
// buckets, which the engine then need not look up.
func createSchema(ctx context.Context, pool *pgxpool.Pool, buckets []string) ([]string, error) {
	var names []string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schemaSQL); err != nil {
			return err
		}
		if buckets == nil {
			buckets = []string{}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO gateway_buckets (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`,
			buckets); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name FROM gateway_buckets`)
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return names, err
}
