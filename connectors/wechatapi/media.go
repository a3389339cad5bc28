package wechatapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// ErrMediaTooLarge: the file is over the caller's limit.
var ErrMediaTooLarge = errors.New("wechatapi: media larger than allowed")

// GetMedia downloads a temporary media file a citizen sent (a media_id)
// through cgi-bin/media/get, reading at most max bytes. WeChat answers the
// file, or JSON {"errcode", "errmsg"}; a refused token is dropped and the
// call retried once with a fresh one, as send does.
func (c *Client) GetMedia(ctx context.Context, mediaID string, max int64) (body []byte, contentType string, err error) {
	if mediaID == "" {
		return nil, "", fmt.Errorf("%w: empty media_id", ErrInvalidArgument)
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.AccessToken(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("wechatapi: media/get: %w", err)
		}
		body, ct, st, err := c.getMedia(ctx, tok, mediaID, max)
		if err == nil {
			err = st.err()
		}
		if err == nil {
			return body, ct, nil
		}
		if st.ErrCode != 0 && tokenInvalid(st.ErrCode) && attempt == 0 {
			c.log.Warn("access token refused, refreshing", "errcode", st.ErrCode)
			c.invalidate(ctx, tok)
			continue
		}
		return nil, "", fmt.Errorf("wechatapi: media/get: %w", err)
	}
}

func (c *Client) getMedia(ctx context.Context, tok, mediaID string, max int64) ([]byte, string, apiStatus, error) {
	var st apiStatus
	q := url.Values{"access_token": {tok}, "media_id": {mediaID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/cgi-bin/media/get?"+q.Encode(), nil)
	if err != nil {
		return nil, "", st, redact(err)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, "", st, redact(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		return nil, "", st, &HTTPError{StatusCode: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, "", st, err
	}
	if int64(len(body)) > max {
		return nil, "", st, ErrMediaTooLarge
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt == "application/json" || mt == "text/plain" {
		if json.Unmarshal(bytes.TrimSpace(body), &st) == nil && st.ErrCode != 0 {
			return nil, "", st, nil
		}
	}
	return body, ct, st, nil
}
