package gateway

import (
	"context"
	"encoding/json"
	"time"

	"github.com/silenceper/wechat/v2/cache"

	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

// In cluster mode the nodes share one WeChat access token: a token fetched
// by one node replaces the others' at WeChat five minutes later, so each
// fetching its own would make them fail with 40001 in turn. The token lives
// in the shared store, and a lease lets one node fetch at a time.

const bucketWechatCache = "wechat_cache"

// storeCache is a silenceper cache.Cache over the store, for string values
// (the token entry wechatapi keeps there).
type storeCache struct {
	db  *store.DB
	clk clock.Clock
}

var _ cache.Cache = storeCache{}

type cacheItem struct {
	Value   string    `json:"v"`
	Expires time.Time `json:"exp,omitzero"`
}

func (c storeCache) get(key string) (cacheItem, bool) {
	var it cacheItem
	ok := false
	_ = c.db.View(func(tx *store.Tx) error {
		v := tx.Bucket([]byte(bucketWechatCache)).Get([]byte(key))
		ok = v != nil && json.Unmarshal(v, &it) == nil && (it.Expires.IsZero() || c.clk.Now().Before(it.Expires))
		return nil
	})
	return it, ok
}

func (c storeCache) Get(key string) any {
	if it, ok := c.get(key); ok {
		return it.Value
	}
	return nil
}

func (c storeCache) Set(key string, val any, timeout time.Duration) error {
	s, _ := val.(string)
	it := cacheItem{Value: s}
	if timeout > 0 {
		it.Expires = c.clk.Now().Add(timeout)
	}
	b, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return c.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.Bucket([]byte(bucketWechatCache)).Put([]byte(key), b)
	})
}

func (c storeCache) IsExist(key string) bool { _, ok := c.get(key); return ok }

func (c storeCache) Delete(key string) error {
	return c.db.Update(context.Background(), func(tx *store.Tx) error {
		return tx.Bucket([]byte(bucketWechatCache)).Delete([]byte(key))
	})
}

// wechatTokenLock holds the lease "wechat_token" while this node fetches
// the access token; the others wait for it.
func (g *Gateway) wechatTokenLock(ctx context.Context) (func(), error) {
	l := lease.New(g.db, "wechat_token", g.nodeID(), 30*time.Second, nil)
	for {
		_, _, ok, err := l.Acquire(ctx)
		if err == nil && ok {
			return func() { _ = l.Release(context.WithoutCancel(ctx)) }, nil
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
