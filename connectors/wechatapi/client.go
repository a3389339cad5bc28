// Package wechatapi is a client for the parts of the WeChat server API the
// gateway uses to answer mini-program citizens: the access token and
// customer-service messages (cgi-bin/message/custom/send). Unlike
// silenceper/wechat it takes its API base from configuration
// (channels.wechat.api_base), so tests point it at wechatfake.
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
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
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
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
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
	log  *slog.Logger

	mu        sync.Mutex
	token     string
	refreshAt time.Time // proactive refresh from here on
	expiresAt time.Time // unusable from here on
	inflight  *tokenCall
}

// tokenCall is one token fetch that concurrent callers wait for.
type tokenCall struct {
	done  chan struct{}
	token string
	err   error
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
		log:  cfg.Logger.With("component", "wechatapi"),
	}, nil
}

// AccessToken returns a valid access token, fetching one when none is cached
// or the cached one is due for refresh. Concurrent callers share a single
// fetch. When a proactive refresh fails but the cached token has not expired
// yet, the cached token is returned (and the refresh retried 30 s later).
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		if c.token != "" && c.cfg.Now().Before(c.refreshAt) {
			tok := c.token
			c.mu.Unlock()
			return tok, nil
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

		tok, ttl, err := c.fetchToken(ctx)

		c.mu.Lock()
		now := c.cfg.Now()
		switch {
		case err == nil:
			c.token, c.expiresAt, c.refreshAt = tok, now.Add(ttl), now.Add(ttl-refreshLead(ttl))
			c.log.Info("access token refreshed", "expires_in", ttl.String())
		case c.token != "" && now.Before(c.expiresAt) && !isCtxErr(err):
			c.log.Warn("access token refresh failed, reusing the current one", "error", err, "expires_at", c.expiresAt)
			tok, err = c.token, nil
			c.refreshAt = now.Add(refreshRetry)
			if c.refreshAt.After(c.expiresAt) {
				c.refreshAt = c.expiresAt
			}
		}
		call.token, call.err = tok, err
		c.inflight = nil
		close(call.done)
		c.mu.Unlock()
		return tok, err
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
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token = ""
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
