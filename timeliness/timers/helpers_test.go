package timers_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/timeliness/timers"
)

// effects is the test bucket where firings count themselves: key → number of firings (uint32), so a double firing shows.
const effects = "effects"

func openStore(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{}, append([]string{effects}, timers.Buckets...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// countEffect is a FireTx that records the firing in the effects bucket.
func countEffect(tx *store.Tx, k timers.Key, _ time.Time) error {
	b := tx.Bucket([]byte(effects))
	var n uint32
	if v := b.Get([]byte(k.String())); v != nil {
		n = binary.BigEndian.Uint32(v)
	}
	return b.Put([]byte(k.String()), binary.BigEndian.AppendUint32(nil, n+1))
}

// readEffects returns the firing count of every key in the effects bucket.
func readEffects(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	got := map[string]int{}
	require.NoError(t, db.View(func(tx *store.Tx) error {
		return tx.Bucket([]byte(effects)).ForEach(func(k, v []byte) error {
			got[string(k)] = int(binary.BigEndian.Uint32(v))
			return nil
		})
	}))
	return got
}

var epoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

type firing struct {
	Key     timers.Key
	Due, At time.Time
}

// harness is one Service under a fake clock that records its firings.
type harness struct {
	t     *testing.T
	clock *clock.Fake
	db    *store.DB
	path  string // of db
	svc   *timers.Service

	stopRun func() // stops the current Run

	mu    sync.Mutex
	fired []firing
}

// newHarness builds a service over a new store; opts.FireTx defaults to
// countEffect, and AfterFire records the firings.
func newHarness(t *testing.T, opts timers.Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: clock.NewFake(epoch)}
	h.path = filepath.Join(t.TempDir(), "gateway.db")
	h.db = openStore(t, h.path)
	h.svc = h.newService(opts)
	return h
}

func (h *harness) newService(opts timers.Options) *timers.Service {
	if opts.FireTx == nil {
		opts.FireTx = countEffect
	}
	opts.AfterFire = func(fired []timers.Deadline) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, d := range fired {
			h.fired = append(h.fired, firing{Key: d.Key, Due: d.Due, At: h.clock.Now()})
		}
	}
	svc, err := timers.New(h.db, h.clock, opts)
	require.NoError(h.t, err)
	return svc
}

// start loads the stored timers and runs the service until the test ends.
func (h *harness) start() {
	h.t.Helper()
	require.NoError(h.t, h.svc.Load(context.Background()))
	h.stopRun = startRun(h.t, h.svc)
}

// restart simulates a new process on the same store file: the old Run is
// stopped (a killed process fires nothing more), the store reopened, and a
// new service loaded but not yet run.
func (h *harness) restart() {
	h.t.Helper()
	h.stopRun()
	_ = h.db.Close()
	h.db = openStore(h.t, h.path)
	h.svc = h.newService(timers.Options{})
	require.NoError(h.t, h.svc.Load(context.Background()))
}

func startRun(t *testing.T, svc *timers.Service) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

func syncRun(t *testing.T, svc *timers.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, svc.Sync(ctx))
}

// advance moves the clock and waits until every due timer has fired.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clock.Advance(d)
	syncRun(h.t, h.svc)
}

func (h *harness) firings() []firing {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]firing(nil), h.fired...)
}

func (h *harness) set(k timers.Key, due time.Time) {
	h.t.Helper()
	require.NoError(h.t, h.svc.Set(context.Background(), k, due))
}

func (h *harness) stop(k timers.Key) bool {
	h.t.Helper()
	ok, err := h.svc.Stop(context.Background(), k)
	require.NoError(h.t, err)
	return ok
}
