package wechatapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/wechatapi"
	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/internal/clock"
)

const (
	appID  = "wx134c8103faa5a59e"
	secret = "s3cr3t-app-secret"
	openID = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
)

// setup returns a fake WeChat, a client pointed at it, and the client's clock.
func setup(t *testing.T) (*wechatfake.Server, *wechatapi.Client, *clock.Fake) {
	t.Helper()
	fake := wechatfake.New(appID, secret)
	t.Cleanup(fake.Close)
	clk := clock.NewFake(time.Date(2025, 5, 17, 10, 0, 0, 0, time.UTC))
	c, err := wechatapi.New(wechatapi.Config{
		AppID: appID, AppSecret: secret, APIBase: fake.URL() + "/",
		Clock: clk, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	return fake, c, clk
}

func TestNewValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  wechatapi.Config
		key  string
	}{
		{"no app id", wechatapi.Config{AppSecret: "s"}, "channels.wechat.app_id"},
		{"no secret", wechatapi.Config{AppID: "a"}, "channels.wechat.app_secret"},
		{"bad base", wechatapi.Config{AppID: "a", AppSecret: "s", APIBase: "api.weixin.qq.com"}, "channels.wechat.api_base"},
		{"base with query", wechatapi.Config{AppID: "a", AppSecret: "s", APIBase: "https://x/?a=b"}, "channels.wechat.api_base"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := wechatapi.New(tc.cfg)
			require.ErrorContains(t, err, tc.key)
			require.Nil(t, c)
		})
	}
	c, err := wechatapi.New(wechatapi.Config{AppID: "a", AppSecret: "s"})
	require.NoError(t, err, "the API base defaults to api.weixin.qq.com")
	require.NotNil(t, c)
}

func TestSendWireFormat(t *testing.T) {
	fake, c, _ := setup(t)
	ctx := t.Context()
	require.NoError(t, c.SendText(ctx, openID, `收到 <您的> 诉求 & 已登记`))
	require.NoError(t, c.SendImage(ctx, openID, "MEDIA_ID"))
	require.NoError(t, c.SendLink(ctx, openID, wechatapi.Link{Title: "进度", Description: "d", URL: "https://x/r/1", ThumbURL: "https://x/t.png"}))

	sent := fake.Sent()
	require.Len(t, sent, 3)
	// The library's CustomerMessage, without HTML escaping.
	require.Equal(t, `{"touser":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","msgtype":"text","text":{"content":"收到 <您的> 诉求 & 已登记"}}`, string(sent[0].Body))
	require.Equal(t, "text", sent[0].MsgType)
	require.Equal(t, openID, sent[0].ToUser)
	require.Equal(t, `收到 <您的> 诉求 & 已登记`, sent[0].Text)
	require.Equal(t, "MEDIA_ID", sent[1].MediaID)
	var link map[string]any
	require.NoError(t, json.Unmarshal(sent[2].Body, &link))
	require.Equal(t, map[string]any{"title": "进度", "description": "d", "url": "https://x/r/1", "thumb_url": "https://x/t.png"}, link["link"])
	require.Equal(t, 1, fake.TokensIssued(), "one token serves every call")
	for _, m := range sent {
		require.Equal(t, sent[0].Token, m.Token)
	}
}

func TestInvalidArguments(t *testing.T) {
	fake, c, _ := setup(t)
	ctx := t.Context()
	for name, err := range map[string]error{
		"empty openid": c.SendText(ctx, "", "hi"),
		"empty text":   c.SendText(ctx, openID, ""),
		"empty media":  c.SendImage(ctx, openID, ""),
		"empty link":   c.SendLink(ctx, openID, wechatapi.Link{}),
	} {
		require.ErrorIs(t, err, wechatapi.ErrInvalidArgument, name)
		require.True(t, wechatapi.Permanent(err), name)
	}
	require.Zero(t, fake.SendCalls())
	require.Zero(t, fake.TokensIssued())
}

func TestTokenCachedAndRefreshedBeforeExpiry(t *testing.T) {
	fake, c, clk := setup(t)
	ctx := t.Context()
	tok1, err := c.AccessToken(ctx)
	require.NoError(t, err)
	tok, err := c.AccessToken(ctx)
	require.NoError(t, err)
	require.Equal(t, tok1, tok)

	// 7200 s tokens are refreshed at 80 %: 5760 s.
	clk.Advance(5759 * time.Second)
	tok, err = c.AccessToken(ctx)
	require.NoError(t, err)
	require.Equal(t, tok1, tok)
	require.Equal(t, 1, fake.TokensIssued())

	clk.Advance(time.Second)
	tok2, err := c.AccessToken(ctx)
	require.NoError(t, err)
	require.NotEqual(t, tok1, tok2)
	require.Equal(t, 2, fake.TokensIssued())

	require.NoError(t, c.SendText(ctx, openID, "hi"))
	require.Equal(t, tok2, fake.Sent()[0].Token)
}

func TestShortLivedTokenRefreshLead(t *testing.T) {
	fake, c, clk := setup(t)
	fake.SetExpiresIn(600) // a fifth is 2 min: the 5-minute floor applies
	_, err := c.AccessToken(t.Context())
	require.NoError(t, err)
	clk.Advance(299 * time.Second)
	_, err = c.AccessToken(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, fake.TokensIssued())
	clk.Advance(time.Second)
	_, err = c.AccessToken(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, fake.TokensIssued())
}

func TestRefreshFailureReusesValidToken(t *testing.T) {
	fake, c, clk := setup(t)
	ctx := t.Context()
	tok1, err := c.AccessToken(ctx)
	require.NoError(t, err)

	clk.Advance(6000 * time.Second) // past the refresh point, before expiry
	fake.FailNextToken(wechatfake.CodeSystemBusy)
	tok, err := c.AccessToken(ctx)
	require.NoError(t, err)
	require.Equal(t, tok1, tok, "a failed refresh keeps the still-valid token")

	tok, err = c.AccessToken(ctx)
	require.NoError(t, err)
	require.Equal(t, tok1, tok, "no retry storm: the next attempt waits 30 s")
	require.Equal(t, 1, fake.TokensIssued())

	clk.Advance(30 * time.Second)
	tok, err = c.AccessToken(ctx)
	require.NoError(t, err)
	require.NotEqual(t, tok1, tok)

	// Once expired, a failed refresh is an error.
	clk.Advance(7200 * time.Second)
	fake.FailNextToken(wechatfake.CodeSystemBusy)
	_, err = c.AccessToken(ctx)
	var apiErr *wechatapi.APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, -1, apiErr.Code)
	require.False(t, wechatapi.Permanent(err))
}

func TestExpiryMidConversation(t *testing.T) {
	fake, c, _ := setup(t)
	ctx := t.Context()
	require.NoError(t, c.SendText(ctx, openID, "first"))
	fake.ExpireTokens()
	require.NoError(t, c.SendText(ctx, openID, "second"))

	sent := fake.Sent()
	require.Len(t, sent, 2, "the message sent with the expired token is not lost")
	require.Equal(t, "second", sent[1].Text)
	require.NotEqual(t, sent[0].Token, sent[1].Token)
	require.Equal(t, 2, fake.TokensIssued(), "exactly one refresh")
	require.Equal(t, 3, fake.SendCalls(), "one refused call, one retry")
}

func TestTokenRefusedTwiceGivesUp(t *testing.T) {
	fake, c, _ := setup(t)
	fake.FailNext(openID, wechatfake.CodeInvalidToken)
	fake.FailNext(openID, wechatfake.CodeInvalidToken)
	err := c.SendText(t.Context(), openID, "hi")
	require.ErrorIs(t, err, wechatapi.ErrTokenInvalid)
	require.False(t, wechatapi.Permanent(err))
	require.Equal(t, 2, fake.SendCalls(), "one retry only")
	require.Equal(t, 2, fake.TokensIssued())
}

func TestTypedErrors(t *testing.T) {
	cases := []struct {
		name      string
		code      int
		sentinel  error
		permanent bool
	}{
		{"out of 48h window", wechatfake.CodeOutOfWindow, wechatapi.ErrOutOfWindow, true},
		{"quota", wechatfake.CodeQuota, wechatapi.ErrQuota, true},
		{"invalid openid", wechatfake.CodeInvalidOpenID, nil, true},
		{"system busy", wechatfake.CodeSystemBusy, nil, false},
		{"api minute limit", 45011, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake, c, _ := setup(t)
			fake.FailNext(openID, tc.code)
			err := c.SendText(t.Context(), openID, "reply")
			var apiErr *wechatapi.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tc.code, apiErr.Code)
			require.NotEmpty(t, apiErr.Msg)
			if tc.sentinel != nil {
				require.ErrorIs(t, err, tc.sentinel)
			}
			require.NotErrorIs(t, err, wechatapi.ErrTokenInvalid)
			require.Equal(t, tc.permanent, wechatapi.Permanent(err))
			require.Equal(t, 1, fake.SendCalls(), "never retried by the client")
			require.Empty(t, fake.Sent())
		})
	}
	require.ErrorIs(t, &wechatapi.APIError{Code: 45015}, wechatapi.ErrOutOfWindow)
	require.NotErrorIs(t, &wechatapi.APIError{Code: 45047}, wechatapi.ErrOutOfWindow)
	require.False(t, wechatapi.Permanent(nil))
	require.False(t, wechatapi.Permanent(context.DeadlineExceeded))
}

func TestBadCredentials(t *testing.T) {
	fake := wechatfake.New(appID, secret)
	t.Cleanup(fake.Close)
	c, err := wechatapi.New(wechatapi.Config{AppID: appID, AppSecret: "wrong-secret-value", APIBase: fake.URL(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	err = c.SendText(t.Context(), openID, "hi")
	apiErr, ok := errors.AsType[*wechatapi.APIError](err)
	require.True(t, ok, "%v", err)
	require.Equal(t, wechatfake.CodeInvalidSecret, apiErr.Code)
	require.True(t, wechatapi.Permanent(err))
	require.NotContains(t, err.Error(), "wrong-secret-value", "the secret never appears in errors")
	require.Zero(t, fake.SendCalls())
}

func TestConcurrentSendsShareOneToken(t *testing.T) {
	fake, c, _ := setup(t)
	ctx := t.Context()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if i == n/2 {
				fake.ExpireTokens()
			}
			errs <- c.SendText(ctx, openID, "msg")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, fake.Sent(), n)
	require.LessOrEqual(t, fake.TokensIssued(), 2, "concurrent callers share fetches")
}

func TestConcurrentFirstFetchIsShared(t *testing.T) {
	fake, c, _ := setup(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := c.AccessToken(t.Context())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, fake.TokensIssued())
}

// hangingServer answers nothing until the request's context ends.
func hangingServer(t *testing.T) (*httptest.Server, chan struct{}) {
	t.Helper()
	reached := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv, reached
}

func TestTimeoutViaContext(t *testing.T) {
	srv, reached := hangingServer(t)
	c, err := wechatapi.New(wechatapi.Config{AppID: appID, AppSecret: secret, APIBase: srv.URL, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.SendText(ctx, openID, "hi") }()
	<-reached
	cancel()
	err = <-done
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, wechatapi.Permanent(err))
	require.NotContains(t, err.Error(), secret)

	// A waiter whose own ctx is alive retries after the fetching caller's ctx ended.
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	first := make(chan error, 1)
	go func() { _, err := c.AccessToken(ctx1); first <- err }()
	<-reached
	second := make(chan error, 1)
	go func() { _, err := c.AccessToken(ctx2); second <- err }()
	cancel1()
	require.ErrorIs(t, <-first, context.Canceled)
	require.ErrorIs(t, <-second, context.DeadlineExceeded, "the waiter ran its own fetch until its own deadline")
}

func TestHTTPAndDecodeErrors(t *testing.T) {
	cases := []struct {
		name      string
		handler   http.HandlerFunc
		permanent bool
		want      string
	}{
		{"502", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }, false, "HTTP status 502"},
		{"403", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }, true, "HTTP status 403"},
		{"html", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "<html>") }, false, "undecodable"},
		{"no token", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"expires_in":7200}`) }, false, "without access_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			c, err := wechatapi.New(wechatapi.Config{AppID: appID, AppSecret: secret, APIBase: srv.URL, Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			err = c.SendText(t.Context(), openID, "hi")
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, tc.permanent, wechatapi.Permanent(err))
			require.False(t, strings.Contains(err.Error(), secret))
		})
	}
}

func TestConnectionRefusedRedactsURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, err := wechatapi.New(wechatapi.Config{AppID: appID, AppSecret: secret, APIBase: base, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	err = c.SendText(t.Context(), openID, "hi")
	require.Error(t, err)
	require.NotContains(t, err.Error(), secret)
	require.False(t, wechatapi.Permanent(err))
	require.False(t, errors.Is(err, wechatapi.ErrInvalidArgument))
}

// countingCache is a cache.Cache shared between clients, standing in for the
// library's Redis cache, that counts what it is asked.
type countingCache struct {
	mu   sync.Mutex
	m    map[string]any
	sets int
	dels int
}

var _ cache.Cache = (*countingCache)(nil)

func (c *countingCache) Get(k string) any      { c.mu.Lock(); defer c.mu.Unlock(); return c.m[k] }
func (c *countingCache) IsExist(k string) bool { return c.Get(k) != nil }
func (c *countingCache) Set(k string, v any, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]any{}
	}
	c.m[k] = v
	c.sets++
	return nil
}
func (c *countingCache) Delete(k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	c.dels++
	return nil
}

// Two clients (two gateway replicas) on one cache share one token, and a
// token WeChat refused is dropped from it for both.
func TestSharedCache(t *testing.T) {
	fake := wechatfake.New(appID, secret)
	t.Cleanup(fake.Close)
	shared := &countingCache{}
	clk := clock.NewFake(time.Date(2025, 5, 17, 10, 0, 0, 0, time.UTC))
	newClient := func() *wechatapi.Client {
		c, err := wechatapi.New(wechatapi.Config{AppID: appID, AppSecret: secret, APIBase: fake.URL(),
			Clock: clk, Cache: shared, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		return c
	}
	a, b := newClient(), newClient()
	ctx := t.Context()

	steps := []struct {
		name   string
		client *wechatapi.Client
		expire bool
		issued int
	}{
		{"first replica fetches", a, false, 1},
		{"second replica reuses it", b, false, 1},
		{"refused token is refreshed once", b, true, 2},
		{"and the first replica uses the new one", a, false, 2},
	}
	for _, st := range steps {
		if st.expire {
			fake.ExpireTokens()
		}
		require.NoError(t, st.client.SendText(ctx, openID, "hi"), st.name)
		require.Equal(t, st.issued, fake.TokensIssued(), st.name)
	}
	sent := fake.Sent()
	require.Len(t, sent, 4)
	require.Equal(t, sent[0].Token, sent[1].Token)
	require.Equal(t, sent[2].Token, sent[3].Token)
	require.NotEqual(t, sent[0].Token, sent[2].Token)
	require.Equal(t, 1, shared.dels, "the refused token was dropped")

	// The library's token interface gives the same token.
	tok, err := a.GetAccessTokenContext(ctx)
	require.NoError(t, err)
	require.Equal(t, sent[3].Token, tok)
}
