package timers_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/store"
	"github.com/hotline12345/gateway/sessions/timers"
)

// TestMigrateFirstLayout: a store written by the first layout (an index by
// due time and records keyed kind first) is converted at Load: every timer
// keeps its due time and its firing mark, an unreadable record is dropped,
// the old buckets go, and the timers fire once.
func TestMigrateFirstLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	type old struct {
		key    timers.Key
		due    time.Time
		firing bool
	}
	olds := []old{
		{timers.Key{ID: "0190a1b2-0000-7000-8000-000000000001", Kind: timers.KindFirstResponse}, epoch.Add(time.Minute), false},
		{timers.Key{ID: "0190a1b2-0000-7000-8000-000000000001", Kind: timers.WarningKind(timers.KindHandling)}, epoch.Add(2 * time.Minute), false},
		{timers.Key{ID: "0190a1b2-0000-7000-8000-000000000002", Kind: "offer"}, epoch.Add(3 * time.Minute), true},
	}
	db, err := store.Open(path, store.Options{}, effects, "timers", "timers_by_key")
	require.NoError(t, err)
	require.NoError(t, db.Update(context.Background(), func(tx *store.Tx) error {
		byDue, byKey := tx.Bucket([]byte("timers")), tx.Bucket([]byte("timers_by_key"))
		for _, o := range olds {
			n := o.due.UnixNano()
			dk := binary.BigEndian.AppendUint64(nil, uint64(n))
			dk = append(append(append(dk, o.key.Kind...), 0), o.key.ID...)
			v := binary.BigEndian.AppendUint64(nil, uint64(n))
			if o.firing {
				v = append(v, 0x01)
			}
			if err := byDue.Put(dk, nil); err != nil {
				return err
			}
			if err := byKey.Put(append(append([]byte(o.key.Kind), 0), o.key.ID...), v); err != nil {
				return err
			}
		}
		return byKey.Put([]byte("no-separator"), []byte("short"))
	}))
	require.NoError(t, db.Close())

	h := &harness{t: t, mode: txMode, clock: timers.NewFakeClock(epoch), path: path}
	h.db = openStore(t, path)
	h.svc = h.newService(timers.Options{})
	h.start()
	require.Equal(t, len(olds), h.svc.Len())
	for _, o := range olds {
		due, ok := h.svc.Due(o.key)
		require.True(t, ok, "%s", o.key)
		require.Equal(t, o.due.UTC(), due)
	}
	require.NoError(t, h.db.View(func(tx *store.Tx) error {
		require.Nil(t, tx.Bucket([]byte("timers")), "the old index is dropped")
		require.Nil(t, tx.Bucket([]byte("timers_by_key")), "the old records are dropped")
		return nil
	}))
	// A timer marked firing has started: Stop reports false, as before.
	require.False(t, h.stop(olds[2].key))
	require.True(t, h.stop(olds[0].key))

	// A restart loads the converted records and migrates nothing again.
	h.restart()
	h.stopRun = startRun(t, h.svc)
	require.Equal(t, 2, h.svc.Len())
	h.advance(time.Hour)
	eff := readEffects(t, h.db)
	require.Equal(t, map[string]int{olds[1].key.String(): 1, olds[2].key.String(): 1}, eff)
}
