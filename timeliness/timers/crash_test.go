package timers_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/timeliness/timers"
)

func envKey(i int) timers.Key {
	return timers.Key{ID: fmt.Sprintf("0195a1b2-c3d4-7e5f-8a9b-%012d", i), Kind: timers.KindFirstResponse}
}

// TestCrashRestart: timers are set, some fire, then the store is closed
// under the running service (a crash as far as the service is concerned),
// the clock passes every due time, and the gateway restarts: every timer
// that had not fired fires once at start-up, none twice, stopped ones never;
// a further restart fires nothing.
func TestCrashRestart(t *testing.T) {
	const n = 1000
	h := newHarness(t, timers.Options{})
	h.start()
	var ds []timers.Deadline
	for i := range n {
		ds = append(ds, timers.Deadline{Key: envKey(i), Due: epoch.Add(time.Duration(i+1) * time.Second)})
	}
	require.NoError(t, h.svc.SetMany(context.Background(), ds))
	stopped := map[timers.Key]bool{}
	for i := 0; i < n; i += 100 {
		require.True(t, h.stop(envKey(i)))
		stopped[envKey(i)] = true
	}
	h.advance(500 * time.Second)
	before := len(h.firings())
	require.Equal(t, 495, before)

	// Crash: the store goes away under the running service, which
	// then fails to fire anything more.
	require.NoError(t, h.db.Close())
	h.advance(time.Hour)
	require.Len(t, h.firings(), before, "nothing fires without the store")

	// Restart after every due time has passed.
	h.restart()
	require.Equal(t, n-len(stopped)-before, h.svc.Len(), "only the unfired timers are loaded")
	h.stopRun = startRun(t, h.svc)
	syncRun(t, h.svc)
	fired := h.firings()
	require.Len(t, fired, n-len(stopped), "every due timer fires at start-up")
	seen := map[timers.Key]int{}
	for _, f := range fired {
		seen[f.Key]++
		require.False(t, stopped[f.Key], "stopped timer %s fired", f.Key)
	}
	for k, c := range seen {
		require.Equal(t, 1, c, "%s fired %d times", k, c)
	}
	eff := readEffects(t, h.db)
	require.Len(t, eff, n-len(stopped))
	for k, c := range eff {
		require.Equal(t, 1, c, "%s", k)
	}

	// Another restart: nothing is left to fire.
	h.restart()
	require.Zero(t, h.svc.Len())
	h.stopRun = startRun(t, h.svc)
	h.advance(48 * time.Hour)
	require.Len(t, h.firings(), n-len(stopped))
}

// TestPersistConcurrentSets: 10,000 timers set by concurrent callers (the
// store's group commit shares the fsyncs) are all reloaded with their due
// times, and all fire once.
func TestPersistConcurrentSets(t *testing.T) {
	const n, workers = 10_000, 64
	h := newHarness(t, timers.Options{})
	h.start()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				require.NoError(t, h.svc.Set(context.Background(), envKey(i), epoch.Add(time.Duration(i)*time.Millisecond+time.Second)))
			}
		})
	}
	wg.Wait()
	st := h.db.Stats()
	t.Logf("%d concurrent Sets in %v: %d commits", n, time.Since(start).Round(time.Millisecond), st.Commits)

	start = time.Now()
	h.restart()
	t.Logf("Load of %d timers: %v", n, time.Since(start).Round(time.Millisecond))
	require.Equal(t, n, h.svc.Len())
	for i := range n {
		due, ok := h.svc.Due(envKey(i))
		require.True(t, ok)
		require.Equal(t, epoch.Add(time.Duration(i)*time.Millisecond+time.Second), due)
	}
	h.stopRun = startRun(t, h.svc)
	h.advance(time.Minute)
	require.Len(t, h.firings(), n)
	require.Len(t, readEffects(t, h.db), n)
}

const (
	childEnv  = "TIMERS_CRASH_CHILD_DB"
	childN    = 20_000
	childStep = 100 * time.Millisecond
)

// TestCrashChild is the process that TestKillRestart kills; it does nothing
// in a normal run.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestKillRestart")
	}
	db, err := store.Open(path, store.Options{}, append([]string{effects}, timers.Buckets...)...)
	require.NoError(t, err)
	clk := clock.NewFake(epoch)
	var fired atomic.Int64
	svc, err := timers.New(db, clk, timers.Options{FireTx: countEffect,
		AfterFire: func(f []timers.Deadline) { fired.Add(int64(len(f))) }})
	require.NoError(t, err)
	var ds []timers.Deadline
	for i := range childN { // 1 ms apart: about 100 firings a step
		ds = append(ds, timers.Deadline{Key: envKey(i), Due: epoch.Add(time.Duration(i+1) * time.Millisecond)})
	}
	require.NoError(t, svc.SetMany(context.Background(), ds))
	go func() { _ = svc.Run(context.Background()) }()
	for { // until killed
		clk.Advance(childStep)
		require.NoError(t, svc.Sync(context.Background()))
		fmt.Printf("fired %d\n", fired.Load())
	}
}

// TestKillRestart kills (SIGKILL) a process in the middle of firing timers,
// restarts on its store: every timer fires exactly once
// overall.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	path := filepath.Join(t.TempDir(), "gateway.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	killedAt := -1
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "fired ")
		if !ok {
			continue
		}
		if n, _ := strconv.Atoi(line); n >= childN/4 {
			require.NoError(t, cmd.Process.Kill())
			killedAt = n
			break
		}
	}
	_ = cmd.Wait()
	require.Positive(t, killedAt, "child never reported progress")

	db := openStore(t, path)
	before := readEffects(t, db)
	t.Logf("killed after %d firings reported, %d durable", killedAt, len(before))
	require.GreaterOrEqual(t, len(before), killedAt)

	clk := clock.NewFake(epoch.Add(time.Hour)) // restarted after every due time
	svc, err := timers.New(db, clk, timers.Options{FireTx: countEffect})
	require.NoError(t, err)
	require.NoError(t, svc.Load(context.Background()))
	require.Equal(t, childN-len(before), svc.Len())
	startRun(t, svc)
	syncRun(t, svc)
	eff := readEffects(t, db)
	require.Len(t, eff, childN)
	for k, c := range eff {
		require.Equal(t, 1, c, "%s fired %d times", k, c)
	}
	require.Zero(t, svc.Len())
}
