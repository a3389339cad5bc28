package wechatapi

import (
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/cache"

	"github.com/hotline12345/gateway/internal/clock"
)

var _ cache.Cache = (*memoryCache)(nil)

// memoryCache is the default token cache. It is ours, not the library's
// cache.Memory, because that one reads its map without holding its lock (a
// data race as soon as a send and a refresh overlap) and expires entries on
// the wall clock rather than Config.Clock.
type memoryCache struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]memoryItem
}

type memoryItem struct {
	val     any
	expires time.Time // zero: never
}

func newMemoryCache(clk clock.Clock) *memoryCache {
	return &memoryCache{now: clk.Now, m: map[string]memoryItem{}}
}

// Get returns the value, or nil when it is absent or expired.
func (c *memoryCache) Get(key string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.m[key]
	if !ok {
		return nil
	}
	if !it.expires.IsZero() && !c.now().Before(it.expires) {
		delete(c.m, key)
		return nil
	}
	return it.val
}

// Set stores val for timeout; a timeout <= 0 keeps it until deleted, as the
// library's Redis cache does.
func (c *memoryCache) Set(key string, val any, timeout time.Duration) error {
	it := memoryItem{val: val}
	if timeout > 0 {
		it.expires = c.now().Add(timeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = it
	return nil
}

func (c *memoryCache) IsExist(key string) bool { return c.Get(key) != nil }

func (c *memoryCache) Delete(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}
