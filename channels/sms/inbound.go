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

type work struct {
	g     reassembly.Group
	whole bool // a whole message: its failure fails the callback
}

// accept makes the batch durable: parts into the channel's bucket (one
// transaction), whole messages and messages the parts completed into
// Conversations. It returns an error only when the provider must retry: a
// whole message could not be recorded. A completed message whose hand-off
// fails is retried by Run (its parts are durable already).
func (c *Channel) accept(ctx context.Context, msgs []smsformat.Inbound) error {
	var parts []smsformat.Inbound
	var partKeys []string
	for _, m := range msgs {
		if m.Part != nil {
			parts = append(parts, m)
			partKeys = append(partKeys, smsformat.DedupKey(c.provider, m))
		}
	}
	var fresh []bool
	if len(parts) > 0 {
		var err error
		if fresh, err = c.persistParts(ctx, parts, partKeys); err != nil {
			return err
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
	j, held := 0, false
	for _, m := range msgs {
		if m.Part == nil {
			add(m.Phone, work{g: reassembly.Group{Message: m}, whole: true})
			continue
		}
		isNew := fresh[j]
		j++
		if !isNew {
			c.log.Info("sms: repeated part ignored", "phone", smsformat.MaskPhone(m.Phone), "seq", m.Part.Seq, "total", m.Part.Total)
			continue
		}
		if g, ok := c.asm.AddGroup(m); ok {
			add(m.Phone, work{g: *g})
		} else {
			held = true
		}
	}
	if held {
		c.kick()
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
				if failed { // keep the number's order: what follows waits for the retry
					if !w.whole {
						c.queueRetry(w.g, c.clock.Now())
					}
					continue
				}
				err := c.handOff(ctx, w.g)
				switch {
				case err == nil:
				case w.whole:
					failed = true
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				default:
					c.log.Warn("sms: hand-off failed, will retry", "phone", smsformat.MaskPhone(phone), "err", err)
					c.queueRetry(w.g, c.clock.Now())
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// handOff gives one message to Conversations and, for a message joined from
// parts, then deletes its pending parts. A message Conversations refuses as
// invalid is dropped with an error log rather than retried forever.
func (c *Channel) handOff(ctx context.Context, g reassembly.Group) error {
	m := g.Message
	key := c.groupKey(g)
	whole := len(g.Parts) == 0
	if whole && c.seenKey(key) {
		// Recognised here rather than by the hub, which would first start
		// a new conversation when the old one is closed or quiet too long.
		c.log.Info("sms: repeated message ignored", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key)
		return nil
	}
	if strings.TrimSpace(m.Text) == "" {
		c.log.Info("sms: empty message ignored", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key)
	} else {
		im := c.inboundMessage(m, key)
		res, err := c.conv.CitizenMessage(ctx, im)
		var ve *normalize.ValidationError
		switch {
		case errors.As(err, &ve):
			c.log.Error("sms: message refused by live chat, dropped", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key, "err", err)
		case err != nil:
			return err
		default:
			c.log.Info("sms: message received", "phone", smsformat.MaskPhone(m.Phone), "dedup_key", key, "session", res.SessionID,
				"seq", res.Seq, "new_session", res.NewSession, "duplicate", res.Duplicate, "parts", len(g.Parts),
				"incomplete", m.Incomplete)
		}
	}
	if !whole {
		return c.consumeGroup(ctx, g)
	}
	if err := c.markKey(ctx, key); err != nil { // the hub's own record still holds
		c.log.Warn("sms: cannot record message key", "dedup_key", key, "err", err)
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
