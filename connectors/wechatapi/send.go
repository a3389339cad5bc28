package wechatapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/silenceper/wechat/v2/miniprogram/message"
)

// Link is a customer-service link card (title, description, url, thumb_url).
type Link = message.MediaLink

// SendText sends a customer-service text message to openID. Errors: see
// send. The text is never logged.
func (c *Client) SendText(ctx context.Context, openID, text string) error {
	if text == "" {
		return fmt.Errorf("%w: empty text", ErrInvalidArgument)
	}
	return c.send(ctx, message.NewCustomerTextMessage(openID, text))
}

// SendImage sends an image previously uploaded as temporary media.
func (c *Client) SendImage(ctx context.Context, openID, mediaID string) error {
	if mediaID == "" {
		return fmt.Errorf("%w: empty media_id", ErrInvalidArgument)
	}
	return c.send(ctx, message.NewCustomerImgMessage(openID, mediaID))
}

// SendLink sends a link card (for example to a request's status page).
func (c *Client) SendLink(ctx context.Context, openID string, l Link) error {
	if l.URL == "" || l.Title == "" {
		return fmt.Errorf("%w: link needs title and url", ErrInvalidArgument)
	}
	return c.send(ctx, message.NewCustomerLinkMessage(openID, l.Title, l.Description, l.URL, l.ThumbURL))
}

// send POSTs m, the library's customer-service message, to
// cgi-bin/message/custom/send. When WeChat refuses the token (40001, 40014,
// 42001) it drops the token and retries once with a fresh one, so an expiry
// in mid-conversation loses nothing. The error is an *APIError (matching
// ErrOutOfWindow or ErrQuota where it applies), an *HTTPError, a ctx error or
// a transport error; Permanent tells whether to give up.
func (c *Client) send(ctx context.Context, m *message.CustomerMessage) error {
	msgType := string(m.Msgtype)
	if m.ToUser == "" {
		return fmt.Errorf("%w: empty openid", ErrInvalidArgument)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // WeChat shows \u003c literally in some clients
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))

	for attempt := 0; ; attempt++ {
		tok, err := c.AccessToken(ctx)
		if err != nil {
			return fmt.Errorf("wechatapi: send %s: %w", msgType, err)
		}
		var st apiStatus
		err = c.do(ctx, http.MethodPost, "/cgi-bin/message/custom/send", url.Values{"access_token": {tok}}, body, &st)
		if err == nil {
			err = st.err()
		}
		if err == nil {
			return nil
		}
		if st.ErrCode != 0 && tokenInvalid(st.ErrCode) && attempt == 0 {
			c.log.Warn("access token refused, refreshing", "errcode", st.ErrCode)
			c.invalidate(ctx, tok)
			continue
		}
		c.log.Warn("customer-service message failed", "msgtype", msgType, "openid", maskID(m.ToUser), "error", err, "permanent", Permanent(err))
		return fmt.Errorf("wechatapi: send %s: %w", msgType, err)
	}
}

// maskID keeps an openid recognisable in logs without printing it whole.
func maskID(id string) string {
	if len(id) <= 8 {
		return "***"
	}
	return id[:4] + "***" + id[len(id)-4:]
}
