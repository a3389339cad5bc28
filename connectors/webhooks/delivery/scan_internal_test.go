package delivery

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

// BenchmarkScanBacklog is the scheduler's pass over a partner outage's
// backlog: 5000 requests waiting for their next attempt, none due. The scan
// reads each group head's 8-byte due time and decodes nothing.
func BenchmarkScanBacklog(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "q.db"), store.Options{NoSync: true}, Buckets...)
	require.NoError(b, err)
	defer db.Close()
	sec, err := stdwebhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(b, err)
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	q := New(db, Options{Secrets: map[string][]stdwebhook.Secret{"suishenban": {sec}}, Clock: clock.NewFake(now)})
	ctx := context.Background()
	for i := range 5000 {
		require.NoError(b, q.Enqueue(ctx, Message{Endpoint: "suishenban", URL: "https://p.example/cb",
			RequestKey: "req-" + strconv.Itoa(i), Type: TypeStatus, Payload: []byte(`{"data":{"status":"dispatched"}}`)}))
	}
	later := now.Add(-time.Hour) // every head is due an hour after this instant
	b.ReportAllocs()
	for b.Loop() {
		due, next, err := q.scan(later, map[string]bool{}, 4)
		if err != nil || len(due) != 0 || next.IsZero() {
			b.Fatal(err, len(due), next)
		}
	}
}
