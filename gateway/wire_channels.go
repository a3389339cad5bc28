package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/wechat"
	"github.com/hotline12345/gateway/connectors/wechatapi"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/livechat"
)

// unsupportedBucket keeps channel messages the gateway cannot turn into chat
// (WeChat voice, unknown events): recorded, acknowledged, kept for review.
const unsupportedBucket = "unsupported"

// unsupportedRecorder stores such messages durably, once per dedup key.
type unsupportedRecorder struct{ db *store.DB }

func (r unsupportedRecorder) Record(ctx context.Context, channel, openid, dedupKey string, raw []byte) error {
	return r.db.Update(ctx, func(tx *store.Tx) error {
		v, _ := json.Marshal(map[string]any{"channel": channel, "user": openid, "raw": string(raw)})
		_, err := tx.Bucket([]byte(unsupportedBucket)).PutIfAbsent([]byte(channel+"\x00"+dedupKey), v)
		return err
	})
}

// wireMessaging wires the channels that feed live chat (WeChat, SMS).
func (g *Gateway) wireMessaging(enabled map[string]bool) error {
	if enabled["wechat_miniprogram"] {
		o := wechat.Options{Recorder: unsupportedRecorder{g.db}}
		if g.cfg.Clustered() { // one access token for every node (wechat_shared.go)
			o.TokenCache, o.TokenLock = storeCache{db: g.db, clk: g.clock}, g.wechatTokenLock
		}
		w, err := wechat.New(g.deps(), g.cfg.Channels.Wechat, g.chat, o)
		if err != nil {
			return err
		}
		w.Mount(g.echo)
		g.onHub(func(h *livechat.Hub) { h.RegisterDeliverer(w.Name(), w) })
		g.deliverers[w.Name()] = w
		// Agents open a citizen's WeChat media through the gateway (media/get).
		api := w.API()
		media := func(ctx context.Context, mediaID string) ([]byte, string, error) {
			body, ct, err := api.GetMedia(ctx, mediaID, livechat.MaxMediaBytes)
			if errors.Is(err, wechatapi.ErrMediaTooLarge) {
				err = fmt.Errorf("%w: %w", livechat.ErrMediaTooLarge, err)
			}
			return body, ct, err
		}
		g.onHub(func(h *livechat.Hub) { h.RegisterMedia(w.Name(), media) })
		g.Register(w.Collectors()...)
	}
	if enabled["sms"] {
		c := g.cfg.Channels.SMS
		s, err := sms.New(g.deps(), c, g.chat, g.db, g.intake, sms.Options{
			CallbackToken: c.CallbackToken, CallbackSecret: c.CallbackSecret,
			AliyunTemplateCode: c.Template, TencentTemplateID: c.Template})
		if err != nil {
			return err
		}
		s.Mount(g.echo)
		g.onHub(func(h *livechat.Hub) { h.RegisterDeliverer(s.Name(), s) })
		g.deliverers[s.Name()] = s
		g.Register(s.Collectors()...)
		g.background = append(g.background, s.Run)
	}
	return nil
}
