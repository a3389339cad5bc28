// Package smsapi sends SMS replies through a provider's send API: Alibaba
// Cloud (SendSms, POP v1 HMAC-SHA1 signature), Tencent Cloud (SendSms,
// TC3-HMAC-SHA256) or the gateway's generic JSON API (documented in
// channels/sms/smsformat/FORMAT.md), and splits and counts long messages by
// the carriers' rule (Segment).
//
// Aliyun and Tencent join a long message's carrier parts themselves, but
// refuse a send longer than 500 characters counting the signature and the
// template's fixed text (ProviderSendChars), and may cap the template's
// variable: a longer reply leaves as several sends that each fit, numbered
// "(1/2)", "(2/2)" (SplitSends). The generic provider is sent each carrier
// part as its own request with a UDH {ref,total,seq}, so that its server sees
// exactly the parts a handset receives.
package smsapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"

	"github.com/hotline12345/gateway/internal/clock"
)

// Sender sends one text message to one phone number.
//
// phone is E.164 (a bare 11-digit mainland mobile is accepted); text is the
// reply without signature, cut (ending "…", Result.Cut) only beyond the
// configured maximum (Options.MaxChars). On success Result lists the
// provider's message ids (used to match delivery reports) and the number of
// carrier parts. On failure the error is an *Error: see ErrRateLimited,
// ErrRejected, ErrTooLong and Permanent. A failure part-way through a
// multi-part generic send, or a reply split into several sends, returns the
// ids of what was already accepted. Implementations are safe for concurrent
// use.
type Sender interface {
	Send(ctx context.Context, phone, text string) (Result, error)
}

// Result is the outcome of a Send (also, partly, of a failed one).
type Result struct {
	// MessageIDs are the provider's ids: one per send (Aliyun, Tencent) or
	// one per carrier part (generic).
	MessageIDs []string
	// Parts is the carrier parts billed, over all sends.
	Parts int
	// Sends is how many sends the reply was split into (1 when it fit).
	Sends int
	// Cut is set when the reply was longer than Options.MaxChars and was cut.
	Cut bool
	// LengthRefusals counts sends the provider refused for length (ErrTooLong),
	// including ones that succeeded when split smaller.
	LengthRefusals int
}

// Options are shared by every provider.
type Options struct {
	// APIBase is the provider's API URL (channels.sms.api_base); tests point
	// it at an httptest server.
	APIBase string
	// SignName is the approved signature, without 【】 (channels.sms.sign_name).
	SignName string
	// MaxChars caps the text of one reply, over all its sends;
	// DefaultMaxChars when 0.
	MaxChars int
	// SendChars is the most characters one send may hold, signature and
	// template text included: ProviderSendChars for Aliyun and Tencent when
	// 0; the generic provider has no such limit.
	SendChars int
	// MaxVariableChars caps the template variable that carries the reply
	// (channels.sms.max_variable_chars); 0: no cap beyond SendChars.
	MaxVariableChars int
	// TemplateFixedChars is the length of the template's fixed text around
	// its variable (channels.sms.template_fixed_chars).
	TemplateFixedChars int
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
	// Clock is the time source for request timestamps; clock.System when nil.
	Clock clock.Clock
}

func (o *Options) setDefaults(defaultBase string) {
	if o.APIBase == "" {
		o.APIBase = defaultBase
	}
	if o.MaxChars == 0 {
		o.MaxChars = DefaultMaxChars
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Clock == nil {
		o.Clock = clock.System
	}
}

func (o *Options) validate(provider string) error {
	u, err := url.Parse(o.APIBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("smsapi: %s: api_base must be an http(s) URL", provider)
	}
	if o.MaxChars < 0 || o.SendChars < 0 || o.MaxVariableChars < 0 || o.TemplateFixedChars < 0 {
		return fmt.Errorf("smsapi: %s: max_chars, send_chars, max_variable_chars and template_fixed_chars must not be negative", provider)
	}
	if room := o.room(); (o.SendChars > 0 || o.MaxVariableChars > 0) && room < minPieceChars {
		return fmt.Errorf("smsapi: %s: the signature, template_fixed_chars and max_variable_chars leave %d characters per send, want at least %d",
			provider, room, minPieceChars)
	}
	return nil
}

// room is how many characters of reply one send carries; 0: no limit.
func (o *Options) room() int {
	return pieceRoom(o.SendChars, o.SignName, o.TemplateFixedChars, o.MaxVariableChars)
}

// prepare validates the recipient and cuts the text to MaxChars; failures
// are permanent.
func (o *Options) prepare(provider, phone, text string) (e164, out string, cut bool, err error) {
	e164, err = smsformat.NormalizePhone(phone, "")
	if err != nil {
		return "", "", false, rejected(provider, "invalid_phone", "recipient is not a valid phone number")
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	out = truncate(text, o.MaxChars)
	if out == "" {
		return "", "", false, rejected(provider, "empty_text", "nothing to send")
	}
	return e164, out, out != text, nil
}

// sendOneFunc makes one provider call for one piece of a reply and returns
// the provider's message id and the carrier parts billed.
type sendOneFunc func(ctx context.Context, e164, piece string) (id string, parts int, err error)

// sendSplit sends text as consecutive sends that each fit o.room(), in
// order, stopping at the first failure. A length refusal of the first send
// (nothing reached the citizen yet) re-splits the reply smaller, twice at
// most, so that a limit the gateway was not told of delays the answer
// instead of losing it; every refusal is counted in Result.LengthRefusals.
func (o *Options) sendSplit(ctx context.Context, provider, e164, text string, one sendOneFunc) (Result, error) {
	room := o.room()
	var res Result
	for attempt := 0; ; attempt++ {
		pieces := SplitSends(text, room)
		if pieces == nil {
			return res, rejected(provider, "no_room", "no room for the reply beside the signature and template")
		}
		res.Sends = len(pieces)
		retry := false
		for i, p := range pieces {
			id, parts, err := one(ctx, e164, p)
			if err != nil {
				if !errors.Is(err, ErrTooLong) {
					return res, err
				}
				res.LengthRefusals++
				if i > 0 || attempt >= 2 {
					return res, err
				}
				if room <= 0 {
					room = units(text)
				}
				room = max(room*3/4, minPieceChars)
				retry = true
				break
			}
			res.MessageIDs = append(res.MessageIDs, id)
			res.Parts += parts
		}
		if !retry {
			return res, nil
		}
	}
}

// maxAnswer bounds how much of a provider's answer is read.
const maxAnswer = 1 << 20

// post sends one request and reads the answer. A transport failure is a
// transient *Error.
func post(ctx context.Context, client *http.Client, provider, target string, header http.Header, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("smsapi: %s: build request: %w", provider, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, &Error{Provider: provider, Err: stripURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, resp.Header, nil, &Error{Provider: provider, Status: resp.StatusCode, Err: err}
	}
	return resp.StatusCode, resp.Header, data, nil
}

// stripURL drops the URL from a *url.Error (it may carry query credentials)
// while keeping the cause for errors.Is (context.DeadlineExceeded…).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// statusError classifies an HTTP status without a recognisable body.
func statusError(provider string, status int, h http.Header, msg string) *Error {
	e := &Error{Provider: provider, Status: status, Message: sanitize(msg)}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = ErrRateLimited
		e.RetryAfter = parseRetryAfter(h)
	case status == http.StatusRequestTimeout || status >= 500:
		// transient
	case status >= 400:
		e.Kind = ErrRejected
	}
	return e
}

func parseRetryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
