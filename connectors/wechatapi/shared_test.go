package wechatapi_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/wechatapi"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/internal/clock"
)

// syncCache is a shared cache as several gateways see one (the store, or
// Redis): safe for concurrent use, expiring on the clock.
type syncCache struct {
	mu  sync.Mutex
	clk clock.Clock
	m   map[string]struct {
		v   any
		exp time.Time
	}
}

func (c *syncCache) Get(k string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it, ok := c.m[k]; ok && c.clk.Now().Before(it.exp) {
		return it.v
	}
	return nil
}

func (c *syncCache) Set(k string, v any, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = struct {
		v   any
		exp time.Time
	}{v, c.clk.Now().Add(d)}
	return nil
}

func (c *syncCache) IsExist(k string) bool { return c.Get(k) != nil }

func (c *syncCache) Delete(k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	return nil
}

// Three gateways sharing a cache and a fetch lock fetch one token between
// them, however many calls race, and one again when it is due for refresh.
func TestGatewaysShareOneTokenFetch(t *testing.T) {
	fake := wechatfake.New(appID, secret)
	t.Cleanup(fake.Close)
	clk := clock.NewFake(time.Date(2025, 5, 17, 10, 0, 0, 0, time.UTC))
	shared := &syncCache{clk: clk, m: map[string]struct {
		v   any
		exp time.Time
	}{}}
	var lock sync.Mutex
	var clients []*wechatapi.Client
	for range 3 {
		c, err := wechatapi.New(wechatapi.Config{AppID: appID, AppSecret: secret, APIBase: fake.URL() + "/", Clock: clk,
			Cache: shared, Logger: slog.New(slog.DiscardHandler),
			Lock: func(context.Context) (func(), error) { lock.Lock(); return lock.Unlock, nil }})
		require.NoError(t, err)
		clients = append(clients, c)
	}
	race := func() map[string]bool {
		var mu sync.Mutex
		tokens := map[string]bool{}
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				tok, err := clients[i%3].AccessToken(t.Context())
				require.NoError(t, err)
				mu.Lock()
				tokens[tok] = true
				mu.Unlock()
			})
		}
		wg.Wait()
		return tokens
	}
	require.Len(t, race(), 1)
	require.Equal(t, 1, fake.TokensIssued())
	clk.Advance(5760 * time.Second) // due for refresh
	require.Len(t, race(), 1)
	require.Equal(t, 2, fake.TokensIssued(), "one refresh for the three")
}
