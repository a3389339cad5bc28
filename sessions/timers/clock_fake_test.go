package timers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/sessions/timers"
)

var epoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func TestFakeClock(t *testing.T) {
	c := timers.NewFakeClock(epoch)
	require.Equal(t, epoch, c.Now())

	t1 := c.NewTimer(time.Minute)
	t2 := c.NewTimer(2 * time.Minute)
	t3 := c.NewTimer(3 * time.Minute)
	require.Equal(t, 3, c.Waiters())

	c.Advance(59 * time.Second)
	require.Empty(t, t1.C(), "not yet due")

	c.Advance(time.Second)
	require.Equal(t, epoch.Add(time.Minute), <-t1.C())
	require.False(t, t1.Stop(), "already fired")

	require.True(t, t2.Stop())
	require.False(t, t2.Stop(), "stops once")
	c.Set(epoch.Add(time.Hour))
	require.Empty(t, t2.C(), "stopped timers never fire")
	require.Equal(t, epoch.Add(time.Hour), <-t3.C())
	require.Zero(t, c.Waiters())

	now := c.NewTimer(0)
	require.Equal(t, epoch.Add(time.Hour), <-now.C(), "non-positive durations fire at once")
}

func TestFakeClockBlockUntil(t *testing.T) {
	c := timers.NewFakeClock(epoch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-c.NewTimer(time.Second).C()
	}()
	require.NoError(t, c.BlockUntil(ctx, 1))
	c.Advance(time.Second)
	<-done

	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	require.ErrorIs(t, c.BlockUntil(short, 1), context.Canceled)
}
