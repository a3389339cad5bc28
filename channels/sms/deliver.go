package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/smsapi"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

// sentRecord is what the channel remembers of a message id the provider
// returned, so that its delivery report can name the conversation.
type sentRecord struct {
	SessionID  string `json:"session_id,omitempty"`
	EnvelopeID string `json:"envelope_id,omitempty"`
	Phone      string `json:"phone,omitempty"` // masked
	Kind       string `json:"kind,omitempty"`
	// Part is 1-based: the carrier part of a generic multi-part send, or the
	// numbered send of an Aliyun/Tencent reply split in several (Parts sends).
	Part  int       `json:"part,omitempty"`
	Parts int       `json:"parts,omitempty"`
	At    time.Time `json:"at"`
	// Reported is "delivered" or "failed" once a report was recorded.
	Reported string `json:"reported,omitempty"`
}

func sentKey(provider, id string) []byte { return []byte(provider + ":" + id) }

// newSender builds the provider's send API client, wrapped in the
// per-number limiter.
func newSender(cfg configs.SMS, opts Options, clk clock.Clock, log *slog.Logger) (smsapi.Sender, error) {
	o := smsapi.Options{APIBase: cfg.APIBase, SignName: cfg.SignName, MaxChars: cfg.MaxReplyChars,
		HTTPClient: opts.HTTPClient, Clock: clk}
	if cfg.Provider != smsformat.ProviderGeneric { // only templates have a fixed text and a variable
		o.MaxVariableChars, o.TemplateFixedChars = cfg.MaxVariableChars, cfg.TemplateFixedChars
	}
	var s smsapi.Sender
	var err error
	switch cfg.Provider {
	case smsformat.ProviderAliyun:
		s, err = smsapi.NewAliyun(smsapi.AliyunConfig{Options: o, AccessKeyID: cfg.Token, AccessKeySecret: cfg.Secret,
			TemplateCode: opts.AliyunTemplateCode})
	case smsformat.ProviderTencent:
		s, err = smsapi.NewTencent(smsapi.TencentConfig{Options: o, SecretID: cfg.Token, SecretKey: cfg.Secret,
			SmsSdkAppID: cfg.SDKAppID, TemplateID: opts.TencentTemplateID})
	default:
		s, err = smsapi.NewGeneric(smsapi.GenericConfig{Options: o, Secret: cfg.Secret, Token: cfg.Token})
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoSender, err)
	}
	// The limiter is outside the retries: one reply takes one slot.
	s = &retrying{next: s, backoff: opts.SendBackoff, clock: clk, log: log}
	return smsapi.WithLimiter(s, smsapi.NewPerNumberLimiter(cfg.PerNumberPerMinute, clk)), nil
}

// retrying re-sends after a transient failure before any part was accepted
// (a failure part-way through a multi-part send is not repeated: the parts
// already sent would reach the citizen twice). Rate limiting and refusals
// are not retried.
type retrying struct {
	next    smsapi.Sender
	backoff []time.Duration
	clock   clock.Clock
	log     *slog.Logger
}

func (r *retrying) Send(ctx context.Context, phone, text string) (smsapi.Result, error) {
	refusals := 0 // length refusals of every attempt are reported, not only the last one's
	for attempt := 0; ; attempt++ {
		res, err := r.next.Send(ctx, phone, text)
		refusals += res.LengthRefusals
		res.LengthRefusals = refusals
		if err == nil || len(res.MessageIDs) > 0 || smsapi.Permanent(err) || errors.Is(err, smsapi.ErrRateLimited) ||
			attempt >= len(r.backoff) {
			return res, err
		}
		r.log.Warn("sms: send failed, retrying", "phone", smsformat.MaskPhone(phone), "attempt", attempt+1, "err", err)
		if werr := sleep(ctx, r.clock, r.backoff[attempt]); werr != nil {
			return res, err
		}
	}
}

// Deliver sends m.Text to the phone number m.ChannelUserID (E.164) through
// the provider. Aliyun and Tencent get a reply longer than one send may be
// (500 characters with the signature and the template's fixed text, within
// channels.sms.max_variable_chars) as several sends, in order, numbered
// "(1/2)", "(2/2)"; the generic provider gets one request per carrier part.
// Only a reply beyond channels.sms.max_reply_chars is cut, and that is
// logged. A transient provider failure before anything was accepted is
// retried (Options.SendBackoff); a failure part-way is not, since what was
// sent would be repeated. A provider's refusal for length is logged as an
// error and counted (gateway_sms_length_refusals_total): the split should
// have prevented it. The provider's message ids are recorded with
// m.SessionID and m.EnvelopeID for delivery reports. Errors for which
// Permanent is true will not succeed on retry; the per-number limit fails
// with an error matching smsapi.ErrRateLimited.
func (c *Channel) Deliver(ctx context.Context, m channels.Outbound) error {
	if m.Channel != "" && m.Channel != normalize.ChannelSMS {
		return ErrWrongChannel
	}
	if c.sender == nil {
		return c.noSender
	}
	phone, err := smsformat.NormalizePhone(m.ChannelUserID, "")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecipient, err)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("%w: no text", ErrBadRecipient)
	}
	masked := smsformat.MaskPhone(phone)
	res, err := c.sender.Send(ctx, phone, m.Text)
	c.metrics.observe(c.provider, res, err)
	if len(res.MessageIDs) > 0 {
		if rerr := c.recordSent(ctx, m, masked, res); rerr != nil {
			c.log.Warn("sms: cannot record sent message ids; their reports will not name the session", "err", rerr)
		}
	}
	if res.LengthRefusals > 0 {
		c.log.Error("sms: provider refused a send for length; check channels.sms.max_variable_chars and template_fixed_chars",
			"provider", c.provider, "phone", masked, "session", m.SessionID, "kind", m.Kind,
			"refusals", res.LengthRefusals, "chars", utf8.RuneCountInString(m.Text), "sends", res.Sends, "recovered", err == nil)
	}
	if res.Cut {
		c.log.Warn("sms: reply longer than channels.sms.max_reply_chars was cut", "phone", masked, "session", m.SessionID,
			"kind", m.Kind, "chars", utf8.RuneCountInString(m.Text), "max_reply_chars", c.cfg.MaxReplyChars)
	}
	if err != nil {
		c.log.Warn("sms: reply not sent", "phone", masked, "session", m.SessionID, "kind", m.Kind,
			"sends_accepted", len(res.MessageIDs), "permanent", Permanent(err), "err", err)
		return fmt.Errorf("sms: deliver: %w", err)
	}
	c.log.Info("sms: reply sent", "phone", masked, "session", m.SessionID, "kind", m.Kind, "parts", res.Parts,
		"sends", res.Sends, "requests", len(res.MessageIDs))
	return nil
}

// sleep waits d on clk, or until ctx ends.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	done := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

func (c *Channel) recordSent(ctx context.Context, m channels.Outbound, masked string, res smsapi.Result) error {
	now := c.clock.Now().UTC()
	return c.db.Update(ctx, func(tx *store.Tx) error {
		b := tx.Bucket([]byte(bucketSent))
		for i, id := range res.MessageIDs {
			r := sentRecord{SessionID: m.SessionID, EnvelopeID: m.EnvelopeID, Phone: masked, Kind: m.Kind, Parts: res.Parts, At: now}
			if v := b.Get(sentKey(c.provider, id)); v != nil {
				// The report came first (it raced this write): keep its
				// outcome so that a retried report is still recognised.
				var prev sentRecord
				if json.Unmarshal(v, &prev) == nil {
					r.Reported = prev.Reported
				}
			}
			switch {
			case c.provider == smsformat.ProviderGeneric && res.Parts > 1: // one id per carrier part
				r.Part = i + 1
			case c.provider != smsformat.ProviderGeneric && res.Sends > 1: // one id per numbered send
				r.Part, r.Parts = i+1, res.Sends
			}
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put(sentKey(c.provider, id), v); err != nil {
				return err
			}
		}
		return nil
	})
}
