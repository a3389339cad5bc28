package sms

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/sms/reassembly"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/normalize"
)

// MaxTextChars is the longest text one callback item (message or part) may
// carry, and the longest message handed on (envelope content.text limit);
// a longer joined message is cut and marked {"truncated":"true"}.
const MaxTextChars = 20000

// parallelPhones bounds how many numbers of one batch are handed over at
// once; messages of one number always go in order.
const parallelPhones = 8

func (c *Channel) inbound(ec echo.Context) error {
	r := ec.Request()
	body, err := c.readBody(ec)
	if err != nil {
		return c.reject(ec, "inbound", err)
	}
	if err := c.auth.Check(r, body); err != nil {
		return c.reject(ec, "inbound", err)
	}
	msgs, err := smsformat.DecodeInbound(c.provider, body)
	if err != nil {
		return c.reject(ec, "inbound", err)
	}
	if err := c.checkTexts(body, msgs); err != nil {
		return c.reject(ec, "inbound", err)
	}
	if err := c.accept(r.Context(), msgs); err != nil {
		return c.reject(ec, "inbound", err)
	}
	return c.ack(ec)
}

// checkTexts refuses items whose text is too long to become a request, so
// that the whole batch is refused before anything is recorded.
func (c *Channel) checkTexts(body []byte, msgs []smsformat.Inbound) error {
	field := "text"
	if c.provider == smsformat.ProviderAliyun {
		field = "content"
	}
	array := bytes.HasPrefix(bytes.TrimSpace(body), []byte("["))
	for i, m := range msgs {
		if utf8.RuneCountInString(m.Text) > MaxTextChars {
			f := field
			if array {
				f = "[" + strconv.Itoa(i) + "]." + field
			}
			return &smsformat.FieldError{Field: f, Reason: "longer than " + strconv.Itoa(MaxTextChars) + " characters"}
		}
	}
	return nil
}

// work is one message of a callback to hand over: a whole message, or one
// released from parts and claimed by this node.
type work struct {
	whole *smsformat.Inbound // its failure fails the callback
	ready readyItem
}

// accept makes the batch durable: parts into the channel's bucket, in one
// transaction that also releases the groups they complete, then whole
// messages and the released ones into Conversations, each number's in
// order. It returns an error only when the provider must retry: a whole
// message could not be recorded. A released message whose hand-off fails
// stays queued in the store and is retried by Run.
func (c *Channel) accept(ctx context.Context, msgs []smsformat.Inbound) error {
	var parts []smsformat.Inbound
	var partKeys []string
	for _, m := range msgs {
		if reassembly.IsPart(m) {
			parts = append(parts, m)
			partKeys = append(partKeys, smsformat.DedupKey(c.provider, m))
		}
	}
	var (
		fresh    []bool
		released [][]readyItem
	)
	if len(parts) > 0 {
		var started bool
		var err error
		if fresh, released, started, err = c.persistParts(ctx, parts, partKeys); err != nil {
			return err
		}
		if started { // a new deadline
			c.kick()
		}
	}

	byPhone := map[string][]work{}
	var phones []string
	add := func(phone string, w work) {
		if _, ok := byPhone[phone]; !ok {
			phones = append(phones, phone)
		}
		byPhone[phone] = append(byPhone[phone], w)
	}
	j := 0
	for i, m := range msgs {
		if !reassembly.IsPart(m) {
			add(m.Phone, work{whole: &msgs[i]})
			continue
		}
		isNew, rel := fresh[j], released[j]
		j++
		if !isNew {
			c.log.Info("sms: repeated part ignored", "phone", smsformat.MaskPhone(m.Phone), "seq", m.Part.Seq, "total", m.Part.Total)
			continue
		}
		for _, it := range rel {
			add(it.rec.Phone, work{ready: it})
		}
	}

	var (
		wg       sync.WaitGroup
		sem      = make(chan struct{}, parallelPhones)
		errMu    sync.Mutex
		firstErr error
	)
	for _, phone := range phones {
		list := byPhone[phone]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			failed := false
			for _, w := range list {
				if failed { // what follows a refused whole message waits for the next round
					if w.whole == nil {
						c.reschedule(ctx, w.ready, c.clock.Now(), 0)
					}
					continue
				}
				if w.whole != nil {
					if err := c.handOffWhole(ctx, *w.whole); err != nil {
						failed = true
						errMu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						errMu.Unlock()
					}
					continue
				}
				if err := c.handOffBounded(ctx, w.ready); err != nil {
					c.log.Warn("sms: hand-off failed, will retry", "phone", smsformat.MaskPhone(phone), "err", err)
					c.reschedule(ctx, w.ready, c.clock.Now(), 0)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// handOffWhole gives a whole message to Conversations and records its key.
func (c *Channel) handOffWhole(ctx context.Context, m smsformat.Inbound) error {
	key := smsformat.DedupKey(c.provider, m)
	if c.seenKey(key) {
		// Recognised here rather than by the hub, which would first start
		// a new conversation when the old one is closed or quiet too long.
		c.log.Info("sms: repeated message ignored", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key)
		return nil
	}
	if err := c.handOff(ctx, m, key, 0); err != nil {
		return err
	}
	if err := c.markKey(ctx, key); err != nil { // the hub's own record still holds
		c.log.Warn("sms: cannot record message key", "dedup_key", key, "err", err)
	}
	return nil
}

// handOff gives one message (joined from parts when parts > 0) to
// Conversations under its dedup key, which Conversations records with it: a
// repeat changes nothing. A blank message is dropped; one Conversations
// refuses as invalid is dropped with an error log rather than retried
// forever.
func (c *Channel) handOff(ctx context.Context, m smsformat.Inbound, key string, parts int) error {
	if strings.TrimSpace(m.Text) == "" {
		c.log.Info("sms: empty message ignored", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key)
		return nil
	}
	res, err := c.conv.CitizenMessage(ctx, c.inboundMessage(m, key))
	var ve *normalize.ValidationError
	switch {
	case errors.As(err, &ve):
		c.log.Error("sms: message refused by live chat, dropped", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key, "err", err)
	case err != nil:
		return err
	default:
		c.log.Info("sms: message received", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key, "session", res.SessionID,
			"seq", res.Seq, "new_session", res.NewSession, "duplicate", res.Duplicate, "parts", parts,
			"incomplete", m.Incomplete)
	}
	return nil
}

func (c *Channel) inboundMessage(m smsformat.Inbound, key string) channels.InboundMessage {
	text := m.Text
	var meta map[string]string
	if m.Incomplete {
		meta = map[string]string{"incomplete": "true", "missing_parts": joinInts(m.MissingParts)}
	}
	if utf8.RuneCountInString(text) > MaxTextChars {
		text = string([]rune(text)[:MaxTextChars-1]) + "…"
		if meta == nil {
			meta = map[string]string{}
		}
		meta["truncated"] = "true"
	}
	native := m.ProviderID
	if native == "" {
		native = key
	}
	return channels.InboundMessage{
		Channel:       normalize.ChannelSMS,
		ChannelUserID: m.Phone,
		Phone:         m.Phone,
		DedupKey:      key,
		Text:          text,
		At:            m.SentAt,
		JoinWindow:    c.cfg.ConversationWindow,
		Source:        &normalize.Source{NativeID: native, NativeType: "sms." + c.provider},
		Meta:          meta,
	}
}
