package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/pgtest"
)

// BenchmarkEngines measures Update throughput of both engines under 64
// concurrent callers per CPU, durable as in production: bbolt with fsync,
// PostgreSQL with fsync and synchronous_commit on, alone and with a
// synchronous standby. Two functions: one Put of a 1 KiB value, and an
// accept-like function of 9 reads and writes (an intake's idempotency key,
// the request, the citizen's index, the outbox's sequence and record, a
// timer); accept-lone is the latter from one caller at a time (ns/op is a
// lone Update's latency). Figures are reported, not asserted
// (docs/benchmarks.md).
func BenchmarkEngines(b *testing.B) {
	buckets := []string{"requests", "idem", "citizens", "outbox", "timers"}
	engines := []struct {
		name string
		open func(b *testing.B) *store.DB
	}{
		{"bbolt", func(b *testing.B) *store.DB {
			db, err := store.Open(filepath.Join(b.TempDir(), "s.db"), store.Options{}, buckets...)
			require.NoError(b, err)
			return db
		}},
		{"postgres", func(b *testing.B) *store.DB {
			c := pgtest.Start(b, pgtest.Options{})
			db, err := store.OpenPostgres(context.Background(), c.DSN(), store.PostgresOptions{}, buckets...)
			require.NoError(b, err)
			return db
		}},
		{"postgres+standby", func(b *testing.B) *store.DB {
			c := pgtest.Start(b, pgtest.Options{Standby: true})
			db, err := store.OpenPostgres(context.Background(), c.DSN(), store.PostgresOptions{}, buckets...)
			require.NoError(b, err)
			return db
		}},
	}
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			db := e.open(b)
			defer db.Close()
			b.Run("put", func(b *testing.B) { benchUpdates(b, db, 64, putOne) })
			b.Run("accept", func(b *testing.B) { benchUpdates(b, db, 64, accept) })
			b.Run("accept-lone", func(b *testing.B) { benchUpdates(b, db, 0, accept) })
		})
	}
}

var benchSeq atomic.Uint64

// benchUpdates runs b.N Updates of fn from parallelism callers per CPU, or
// one after another (parallelism 0: a lone caller's latency).
func benchUpdates(b *testing.B, db *store.DB, parallelism int, fn func(n uint64) func(*store.Tx) error) {
	st0 := db.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	if parallelism == 0 {
		for range b.N {
			if err := db.Update(context.Background(), fn(benchSeq.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.Update(context.Background(), fn(benchSeq.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	st := db.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(st.Writes-st0.Writes)/float64(max(1, st.Commits-st0.Commits)), "updates/commit")
}

var value1K = make([]byte, 1024)

func putOne(n uint64) func(*store.Tx) error {
	key := binary.BigEndian.AppendUint64(nil, n)
	return func(tx *store.Tx) error { return tx.Bucket([]byte("requests")).Put(key, value1K) }
}

// accept is shaped like the intake's: is the idempotency key known, store the
// request and the key, add the request to its citizen's index, append it to
// the outbox, arm its timer.
func accept(n uint64) func(*store.Tx) error {
	id := fmt.Appendf(nil, "req-%016d", n)
	idem := fmt.Appendf(nil, "app/%016d", n)
	citizen := fmt.Appendf(nil, "citizen-%d", n%1000)
	record := fmt.Appendf(nil, `{"id":%q,"channel":"web","text":"%0900d"}`, id, n)
	return func(tx *store.Tx) error {
		if tx.Bucket([]byte("idem")).Get(idem) != nil {
			return nil
		}
		if tx.Bucket([]byte("requests")).Get(id) != nil {
			return nil
		}
		if err := tx.Bucket([]byte("requests")).Put(id, record); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("idem")).Put(idem, id); err != nil {
			return err
		}
		citizens := tx.Bucket([]byte("citizens"))
		list := append(citizens.Get(citizen), id...)
		if err := citizens.Put(citizen, list[max(0, len(list)-200):]); err != nil {
			return err
		}
		outbox := tx.Bucket([]byte("outbox"))
		seq, err := outbox.NextSequence()
		if err != nil {
			return err
		}
		if err := outbox.Put(binary.BigEndian.AppendUint64(nil, seq), record); err != nil {
			return err
		}
		return tx.Bucket([]byte("timers")).Put(append(binary.BigEndian.AppendUint64(nil, n), id...), id)
	}
}
