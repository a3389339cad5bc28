package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
)

var epoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func TestFakeTimers(t *testing.T) {
	c := clock.NewFake(epoch)
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

// AfterFunc's functions run within the Advance that reaches them, in due
// order, and may use the clock themselves.
func TestFakeAfterFunc(t *testing.T) {
	c := clock.NewFake(epoch)
	var ran []string
	c.AfterFunc(3*time.Second, func() { ran = append(ran, "3s") })
	c.AfterFunc(time.Second, func() {
		ran = append(ran, "1s")
		c.AfterFunc(time.Second, func() { ran = append(ran, "1s+1s") }) // from inside: a later Advance
	})
	stopped := c.AfterFunc(2*time.Second, func() { ran = append(ran, "2s") })
	require.Nil(t, stopped.C())
	require.True(t, stopped.Stop())

	c.Advance(500 * time.Millisecond)
	require.Empty(t, ran)
	c.Advance(3 * time.Second)
	require.Equal(t, []string{"1s", "3s"}, ran)
	c.Advance(999 * time.Millisecond)
	require.Equal(t, []string{"1s", "3s"}, ran, "made at 3.5s, the time of the Advance it ran in")
	c.Advance(time.Millisecond)
	require.Equal(t, []string{"1s", "3s", "1s+1s"}, ran)
}

func TestFakeBlockUntil(t *testing.T) {
	c := clock.NewFake(epoch)
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

func TestSystem(t *testing.T) {
	before := time.Now()
	require.False(t, clock.System.Now().Before(before))
	fired := make(chan struct{})
	clock.System.AfterFunc(0, func() { close(fired) })
	<-fired
	<-clock.System.NewTimer(0).C()
	require.True(t, clock.System.NewTimer(time.Hour).Stop())
}

// In auto mode every timer moves the clock to its deadline at once.
func TestFakeAuto(t *testing.T) {
	c := clock.NewFake(epoch)
	c.Auto(true)
	require.Equal(t, epoch.Add(time.Minute), <-c.NewTimer(time.Minute).C())
	require.Equal(t, epoch.Add(time.Minute), c.Now())
	done := make(chan time.Time)
	c.AfterFunc(time.Hour, func() { done <- c.Now() })
	require.Equal(t, epoch.Add(time.Minute+time.Hour), <-done)
	c.Auto(false)
	tm := c.NewTimer(time.Second)
	require.Empty(t, tm.C(), "manual again")
	require.Equal(t, 1, c.Waiters())
}
