package wechat

import (
	"context"
	"errors"
	"fmt"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/connectors/wechatapi"
	"github.com/hotline12345/gateway/normalize"
)

// ErrWrongChannel: Deliver was given a message for another channel. Permanent.
var ErrWrongChannel = errors.New("wechat: outbound message is not for wechat_miniprogram")

// Deliver sends m.Text to the citizen m.ChannelUserID (the openid) as a
// customer-service text message, with the cached access token (refreshed and
// retried once by wechatapi when WeChat refuses it, so an expiry in
// mid-conversation loses nothing). It returns once WeChat accepted the
// message. The error wraps wechatapi's: Permanent tells the caller to record
// message.delivery_failed (45015 outside the 48-hour window, 45047 quota,
// an empty text or openid, …) instead of retrying; anything else (network,
// 5xx, system busy) may be retried. The text is never logged.
func (c *Channel) Deliver(ctx context.Context, m channels.Outbound) (err error) {
	defer func() { c.sends.WithLabelValues(kindLabel(m.Kind), sendOutcome(err)).Inc() }()
	if m.Channel != "" && m.Channel != normalize.ChannelWechat {
		return fmt.Errorf("%w: %q", ErrWrongChannel, m.Channel)
	}
	if err := c.api.SendText(ctx, m.ChannelUserID, m.Text); err != nil {
		return fmt.Errorf("wechat: deliver %s for session %s: %w", m.Kind, m.SessionID, err)
	}
	return nil
}

// kindLabel bounds the kind label to the kinds the gateway sends.
func kindLabel(kind string) string {
	switch kind {
	case "receipt", "agent", "ticket_reply", "status":
		return kind
	case "":
		return "unknown"
	}
	return "other"
}

// Permanent reports whether retrying Deliver's err cannot succeed, so the
// caller records message.delivery_failed (and shows it to the agent) instead
// of retrying.
func Permanent(err error) bool {
	return errors.Is(err, ErrWrongChannel) || wechatapi.Permanent(err)
}
