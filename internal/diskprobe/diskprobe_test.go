package diskprobe

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestOnceKeepsTheFileSmall(t *testing.T) {
	dir := t.TempDir()
	p, err := Open(dir, "probe-")
	require.NoError(t, err)
	for range 100 {
		took, err := p.Once()
		require.NoError(t, err)
		require.Positive(t, took)
	}
	fi, err := p.f.Stat()
	require.NoError(t, err)
	require.EqualValues(t, 64*4096, fi.Size())
	require.NoError(t, p.Close())
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left, "Close removes the scratch file")
}

func TestEvery(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var n int
	var last time.Time
	err := Every(ctx, dir, "probe-", 5*time.Millisecond, func(start time.Time, took time.Duration) {
		require.True(t, start.After(last))
		require.Positive(t, took)
		last = start
		n++
	})
	require.NoError(t, err)
	require.Greater(t, n, 2)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, left)
}

func TestOpenInAMissingDirectory(t *testing.T) {
	_, err := Open(t.TempDir()+"/nope", "probe-")
	require.Error(t, err)
	err = Every(context.Background(), t.TempDir()+"/nope", "probe-", time.Millisecond, func(time.Time, time.Duration) {})
	require.Error(t, err)
}
