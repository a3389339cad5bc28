// Package wechatapi is a client for the parts of the WeChat server API the
// gateway uses to answer mini-program citizens: the access token and
// customer-service messages (cgi-bin/message/custom/send).
//
// From silenceper/wechat it uses what fits: the access token is kept in a
// cache.Cache (Config.Cache; the library's Redis or Memcache cache lets
// replicas share one token), messages are the library's
// miniprogram/message.CustomerMessage built by its constructors, and Client
// is a credential.AccessTokenContextHandle, so a library API handed it
// (MiniProgram.SetAccessTokenContextHandle) shares our token instead of
// fetching a second one that would expire ours.
//
// The HTTP calls stay ours, because the library's cannot be used as the
// gateway needs:
//   - its URLs are constants (https://api.weixin.qq.com/...) and the only
//     ways to aim them elsewhere, util.SetURIModifier and
//     util.DefaultHTTPClient, are process-wide variables: they would redirect
//     every user of the library in the process, cannot give two clients two
//     bases (each test has its own wechatfake), and are written without
//     synchronisation;
//   - message.Manager.Send takes no context, so neither the deliverer's
//     deadline nor shutdown could cancel a send;
//   - its errors carry the request URL, which holds the app secret or the
//     access token (util's "uri=%v" and the *url.Error of a failed dial);
//   - credential.DefaultAccessToken returns errcodes as untyped text (a bad
//     secret, permanent, looks like "system busy", transient), cannot be told
//     to drop a token WeChat refused (40001/42001) because its cache key is
//     built inside it, gives up instead of reusing a still-valid token when a
//     refresh fails, and keeps waiters on a mutex past their own deadline.
package wechatapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"

	"github.com/hotline12345/gateway/internal/clock"
)

// DefaultAPIBase is WeChat's API host.
const DefaultAPIBase = "https://api.weixin.qq.com"

const (
	maxResponseBytes = 1 << 20
	// refreshRetry is how long a still-valid token is reused after a failed
	// refresh before the next attempt.
	refreshRetry = 30 * time.Second
)

// Config configures a Client.
type Config struct {
	AppID     string // channels.wechat.app_id, required
	AppSecret string // channels.wechat.app_secret, required
	// APIBase is channels.wechat.api_base; empty means DefaultAPIBase.
	APIBase string
	// HTTP is the client used for every call; nil means one with a 30 s
	// timeout. Per-call deadlines come from the ctx of each method.
	HTTP *http.Client
	// Clock is the time source for token expiry; nil means clock.System.
	Clock clock.Clock
	// Cache holds the access token; nil means one in this process on Clock.
	// A shared cache (the library's cache.NewRedis) lets several gateways
	// use one token; fetches are shared only within a process.
	Cache cache.Cache
	// Lock, when set, is held around a token fetch, so that gateways sharing
	// Cache fetch one at a time (WeChat's newest token replaces the others
	// after 5 minutes), and one that waited uses the token the other fetched.
	Lock func(ctx context.Context) (unlock func(), err error)
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Clock == nil {
		c.Clock = clock.System
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Cache == nil {
		c.Cache = newMemoryCache(c.Clock)
	}
}

// Validate names the key that is missing or wrong.
func (c *Config) Validate() error {
	if c.AppID == "" {
		return errors.New("wechatapi: channels.wechat.app_id is required")
	}
	if c.AppSecret == "" {
		return errors.New("wechatapi: channels.wechat.app_secret is required")
	}
	u, err := url.Parse(c.APIBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("wechatapi: channels.wechat.api_base %q is not an http(s) base URL", c.APIBase)
	}
	return nil
}

// Client calls the WeChat API for one mini-program. It is safe for
// concurrent use; all callers share one cached access token.
type Client struct {
	cfg  Config
	base string // APIBase without trailing slash
	key  string // the token's key in cfg.Cache
	log  *slog.Logger

	mu       sync.Mutex // guards inflight, and the cache's entry against a second fetch
	inflight *tokenCall
}

var _ credential.AccessTokenContextHandle = (*Client)(nil)

// tokenCall is one token fetch that concurrent callers wait for.
type tokenCall struct {
	done  chan struct{}
	token string
	err   error
}

// tokenEntry is what the cache holds: the token with its own times, so a
// failed refresh can fall back on a token that has not expired yet. It is
// stored as a JSON string, which every library cache returns as it was set.
type tokenEntry struct {
	Token     string    `json:"access_token"`
	RefreshAt time.Time `json:"refresh_at"` // proactive refresh from here on
	ExpiresAt time.Time `json:"expires_at"` // unusable from here on
}

// New validates cfg and returns a Client. It makes no network call.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Client{
		cfg:  cfg,
		base: strings.TrimRight(cfg.APIBase, "/"),
		// Not the key of the library's DefaultAccessToken: our value is a
		// tokenEntry, not a bare token.
		key: credential.CacheKeyMiniProgramPrefix + "gateway_access_token_" + cfg.AppID,
		log: cfg.Logger.With("component", "wechatapi"),
	}, nil
}

// GetAccessToken is AccessToken without a deadline, for the library's
// credential.AccessTokenHandle.
func (c *Client) GetAccessToken() (string, error) { return c.AccessToken(context.Background()) }

// GetAccessTokenContext is AccessToken, for the library's
// credential.AccessTokenContextHandle.
func (c *Client) GetAccessTokenContext(ctx context.Context) (string, error) {
	return c.AccessToken(ctx)
}

// AccessToken returns a valid access token, fetching one when none is cached
// or the cached one is due for refresh. Concurrent callers share a single
// fetch. When a proactive refresh fails but the cached token has not expired
// yet, the cached token is returned (and the refresh retried 30 s later).
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	if e, ok := c.cached(ctx); ok && c.cfg.Clock.Now().Before(e.RefreshAt) {
		return e.Token, nil
	}
	for {
		c.mu.Lock()
		// Again under the lock: a fetch may have finished since.
		e, cachedOK := c.cached(ctx)
		if cachedOK && c.cfg.Clock.Now().Before(e.RefreshAt) {
			c.mu.Unlock()
			return e.Token, nil
		}
		if call := c.inflight; call != nil {
			c.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return "", fmt.Errorf("wechatapi: waiting for access token: %w", ctx.Err())
			}
			// The fetching caller's ctx ended; ours has not, so fetch again.
			if isCtxErr(call.err) && ctx.Err() == nil {
				continue
			}
			return call.token, call.err
		}
		call := &tokenCall{done: make(chan struct{})}
		c.inflight = call
		c.mu.Unlock()

		tok, ttl, shared, err := c.fetchShared(ctx)

		c.mu.Lock()
		now := c.cfg.Clock.Now()
		switch {
		case shared: // cached under the lock
		case err == nil:
			c.store(ctx, tokenEntry{Token: tok, ExpiresAt: now.Add(ttl), RefreshAt: now.Add(ttl - refreshLead(ttl))}, now)
			c.log.Info("access token refreshed", "expires_in", ttl.String())
		case cachedOK && now.Before(e.ExpiresAt) && !isCtxErr(err):
			c.log.Warn("access token refresh failed, reusing the current one", "error", err, "expires_at", e.ExpiresAt)
			tok, err = e.Token, nil
			e.RefreshAt = now.Add(refreshRetry)
			if e.RefreshAt.After(e.ExpiresAt) {
				e.RefreshAt = e.ExpiresAt
			}
			c.store(ctx, e, now)
		}
		call.token, call.err = tok, err
		c.inflight = nil
		close(call.done)
		c.mu.Unlock()
		return tok, err
	}
}

// fetchShared fetches a token, under Config.Lock when there is one; shared
// is true when the token is already in the cache (put there by another
// holder of the lock meanwhile, or by this fetch under the lock).
func (c *Client) fetchShared(ctx context.Context) (tok string, ttl time.Duration, shared bool, err error) {
	if c.cfg.Lock == nil {
		tok, ttl, err = c.fetchToken(ctx)
		return tok, ttl, false, err
	}
	unlock, err := c.cfg.Lock(ctx)
	if err != nil {
		return "", 0, false, fmt.Errorf("wechatapi: waiting for the token fetch of another gateway: %w", err)
	}
	defer unlock()
	if e, ok := c.cached(ctx); ok && c.cfg.Clock.Now().Before(e.RefreshAt) {
		return e.Token, e.ExpiresAt.Sub(c.cfg.Clock.Now()), true, nil
	}
	tok, ttl, err = c.fetchToken(ctx)
	if err != nil {
		return "", 0, false, err
	}
	// Cached before the lock is released, so the next holder finds it.
	now := c.cfg.Clock.Now()
	c.store(ctx, tokenEntry{Token: tok, ExpiresAt: now.Add(ttl), RefreshAt: now.Add(ttl - refreshLead(ttl))}, now)
	c.log.Info("access token refreshed", "expires_in", ttl.String())
	return tok, ttl, true, nil
}

// cached returns the cache's token entry, if it holds a readable one.
func (c *Client) cached(ctx context.Context) (tokenEntry, bool) {
	s, _ := cache.GetContext(ctx, c.cfg.Cache, c.key).(string)
	var e tokenEntry
	if s == "" || json.Unmarshal([]byte(s), &e) != nil || e.Token == "" {
		return tokenEntry{}, false
	}
	return e, true
}

// store puts e in the cache until it expires. A cache that fails costs a
// fetch per call, not a failed call, so it is only logged.
func (c *Client) store(ctx context.Context, e tokenEntry, now time.Time) {
	b, err := json.Marshal(e)
	if err == nil {
		err = cache.SetContext(ctx, c.cfg.Cache, c.key, string(b), e.ExpiresAt.Sub(now))
	}
	if err != nil {
		c.log.Warn("access token not cached", "error", err)
	}
}

// refreshLead is how long before expiry a token is refreshed: a fifth of its
// lifetime (24 min of WeChat's 7200 s), at least 5 min, at most half of it.
// WeChat keeps the old token valid for 5 minutes after issuing a new one,
// so a refresh this early never races with calls in flight.
func refreshLead(ttl time.Duration) time.Duration {
	return max(ttl/5, min(5*time.Minute, ttl/2))
}

// invalidate drops the cached token if it is still the refused one, so the
// next AccessToken fetches a new one (and a newer token is left alone).
func (c *Client) invalidate(ctx context.Context, tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cached(ctx); ok && e.Token == tok {
		if err := cache.DeleteContext(ctx, c.cfg.Cache, c.key); err != nil {
			c.log.Warn("refused access token not dropped from the cache", "error", err)
		}
	}
}

// fetchToken calls GET /cgi-bin/token.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	q := url.Values{"grant_type": {"client_credential"}, "appid": {c.cfg.AppID}, "secret": {c.cfg.AppSecret}}
	var resp struct {
		apiStatus
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := c.do(ctx, http.MethodGet, "/cgi-bin/token", q, nil, &resp); err != nil {
		return "", 0, fmt.Errorf("wechatapi: access token: %w", err)
	}
	if err := resp.err(); err != nil {
		return "", 0, fmt.Errorf("wechatapi: access token: %w", err)
	}
	if resp.AccessToken == "" || resp.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("wechatapi: access token: response without access_token or expires_in")
	}
	return resp.AccessToken, time.Duration(resp.ExpiresIn) * time.Second, nil
}

// apiStatus is the errcode/errmsg pair every WeChat answer may carry.
type apiStatus struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (s apiStatus) err() error {
	if s.ErrCode == 0 {
		return nil
	}
	return &APIError{Code: s.ErrCode, Msg: s.ErrMsg}
}

// do sends one request and decodes the JSON answer into out. Transport errors
// are returned without the URL, which holds the secret or the access token.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request %s: %w", path, redact(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, redact(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		return fmt.Errorf("%s %s: %w", method, path, &HTTPError{StatusCode: resp.StatusCode})
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(out); err != nil {
		return fmt.Errorf("%s %s: undecodable answer: %w", method, path, err)
	}
	return nil
}

// redact drops the *url.Error layer, whose text holds the full URL.
func redact(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
