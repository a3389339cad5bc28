package delivery_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

// A queue running under a lease records a delivery's outcome only while the
// lease is held with its fence's token: once another node took the lease,
// the delivery it just made stays pending, unrecorded (the new holder sends
// it again; partners de-duplicate by webhook-id), and Run returns
// ErrLost.
func TestRunStopsWhenItsFenceFails(t *testing.T) {
	const ttl = 15 * time.Second
	for _, tc := range []struct {
		name string
		lost bool
	}{
		{"lease held", false},
		{"lease taken by another node", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(filepath.Join(t.TempDir(), "q.db"), store.Options{NoSync: true}, slices.Concat(delivery.Buckets, lease.Buckets)...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			clk := newClock(false)
			q := newQueue(t, db, clk)
			partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)})
			require.NoError(t, q.Enqueue(context.Background(), msg(partner.URL, "env-1", `{"n":1}`)))

			leaseClk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			mine := lease.New(db, "webhooks", "node-a", ttl, leaseClk)
			_, _, ok, err := mine.Acquire(context.Background())
			require.NoError(t, err)
			require.True(t, ok)
			if tc.lost { // this node stalled past its lease; another took it
				leaseClk.Advance(ttl + time.Second)
				_, _, ok, err = lease.New(db, "webhooks", "node-b", ttl, leaseClk).Acquire(context.Background())
				require.NoError(t, err)
				require.True(t, ok)
			}

			ctx, cancel := context.WithCancel(context.Background())
			errs := make(chan error, 1)
			go func() { errs <- q.Run(ctx, mine.Fence()) }()
			t.Cleanup(cancel)

			if !tc.lost {
				require.Eventually(t, func() bool { return pendingCount(t, q) == 0 }, wait, time.Millisecond)
				require.Len(t, partner.Hits(), 1)
				cancel()
				require.NoError(t, <-errs)
				return
			}
			select {
			case err := <-errs:
				require.ErrorIs(t, err, lease.ErrLost)
			case <-time.After(wait):
				t.Fatal("Run did not return after its fence failed")
			}
			require.Len(t, partner.Hits(), 1, "sent once, before the outcome's transaction")
			p, err := q.Pending("", 10)
			require.NoError(t, err)
			require.Len(t, p, 1, "still pending: the next holder sends it again")
			require.Zero(t, p[0].Attempts, "the attempt is not recorded")
			require.Zero(t, deadCount(t, q))
		})
	}
}
