// Package smsapi sends SMS replies through a provider's send API: Alibaba
// Cloud (SendSms, POP v1 HMAC-SHA1 signature), Tencent Cloud (SendSms,
// TC3-HMAC-SHA256) or the gateway's generic JSON API (documented in
// channels/sms/smsformat/FORMAT.md), and splits and counts long messages by
// the carriers' rule (Segment).
//
// Aliyun and Tencent split long messages themselves: one API call carries
// the whole reply. The generic provider is sent each part as its own request
// with a UDH {ref,total,seq}, so that its server sees exactly the parts a
// handset receives.
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
)

// Sender sends one text message to one phone number.
//
// phone is E.164 (a bare 11-digit mainland mobile is accepted); text is the
// reply without signature, cut to the configured maximum. On success Result
// lists the provider's message ids (used to match delivery reports) and the
// number of carrier parts. On failure the error is an *Error: see
// ErrRateLimited, ErrRejected and Permanent. A failure part-way through a
// multi-part generic send returns the ids of the parts already accepted.
// Implementations are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, phone, text string) (Result, error)
}

// Result is the outcome of a successful Send.
type Result struct {
	MessageIDs []string
	Parts      int
}

// Options are shared by every provider.
type Options struct {
	// APIBase is the provider's API URL (channels.sms.api_base); tests point
	// it at an httptest server.
	APIBase string
	// SignName is the approved signature, without 【】 (channels.sms.sign_name).
	SignName string
	// MaxChars caps the text of one reply; DefaultMaxChars when 0.
	MaxChars int
	// HTTPClient defaults to a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock for request timestamps; time.Now when nil.
	Now func() time.Time
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
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate(provider string) error {
	u, err := url.Parse(o.APIBase)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("smsapi: %s: api_base must be an http(s) URL", provider)
	}
	if o.MaxChars < 0 {
		return fmt.Errorf("smsapi: %s: max_chars must not be negative", provider)
	}
	return nil
}

// prepare validates the recipient and splits the text; failures are
// permanent.
func (o *Options) prepare(provider, phone, text string) (string, []string, error) {
	e164, err := smsformat.NormalizePhone(phone, "")
	if err != nil {
		return "", nil, rejected(provider, "invalid_phone", "recipient is not a valid phone number")
	}
	parts := Segment(text, o.SignName, o.MaxChars)
	if len(parts) == 0 {
		return "", nil, rejected(provider, "empty_text", "nothing to send")
	}
	return e164, parts, nil
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
