package smsapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/smsapi"
	"github.com/hotline12345/gateway/internal/clock"
)

func TestPerNumberLimiter(t *testing.T) {
	c := clock.NewFake(now)
	l := smsapi.NewPerNumberLimiter(3, c)

	for i := range 3 {
		ok, _ := l.Allow(citizen)
		require.True(t, ok, "send %d", i)
		c.Advance(10 * time.Second)
	}
	ok, wait := l.Allow(citizen)
	require.False(t, ok)
	require.Equal(t, 30*time.Second, wait, "the first send leaves the window at +60s")

	ok, _ = l.Allow("+8613900139000")
	require.True(t, ok, "numbers are limited independently")

	c.Advance(wait)
	ok, _ = l.Allow(citizen)
	require.True(t, ok, "a slot frees once the oldest send is a minute old")
	ok, _ = l.Allow(citizen)
	require.False(t, ok)
}

func TestPerNumberLimiterForgetsIdleNumbers(t *testing.T) {
	c := clock.NewFake(now)
	l := smsapi.NewPerNumberLimiter(1, c)
	for i := range 2000 {
		l.Allow(fmt.Sprintf("+86139%08d", i))
	}
	c.Advance(time.Minute)
	for range 1024 {
		l.Allow(citizen)
	}
	require.Equal(t, 1, l.Len())
}

func TestWithLimiter(t *testing.T) {
	c := clock.NewFake(now)
	s, fake := newGeneric(t)
	limited := smsapi.WithLimiter(s, smsapi.NewPerNumberLimiter(2, c))
	for range 2 {
		_, err := limited.Send(context.Background(), citizen, "hi")
		require.NoError(t, err)
	}
	_, err := limited.Send(context.Background(), citizen, "hi")
	requireKind(t, err, smsapi.ErrRateLimited, false)
	wait, ok := smsapi.RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, time.Minute, wait)
	require.Len(t, fake.Sent(), 2, "a limited send never reaches the provider")
}

func TestPerNumberLimiterConcurrent(t *testing.T) {
	l := smsapi.NewPerNumberLimiter(10, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow(citizen); ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 10, allowed)
}
