// Package smsfake provides in-process fakes of the SMS providers for tests:
// httptest servers speaking the real send-API wire formats of Alibaba Cloud
// (SendSms, POP v1 signature), Tencent Cloud (SendSms, TC3-HMAC-SHA256) and
// the generic JSON API, which verify each request's signature with their own
// implementation (not smsapi's) and record what was sent; and builders of
// each provider's inbound and delivery-report callbacks.
package smsfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"

	"github.com/hotline12345/gateway/internal/clock"
)

// Sent is one accepted send-API request, as the fake understood it.
type Sent struct {
	// Phone is the recipient in E.164; Wire is the number as sent on the
	// wire (Aliyun uses 11 digits for the mainland).
	Phone, Wire string
	// Text is the message content (the template variable for Aliyun and
	// Tencent, the part's text for generic); Sign the signature name.
	Text, Sign string
	// Template is the Aliyun TemplateCode or Tencent TemplateId ("" for generic).
	Template string
	// UDH is the generic part header; nil for a whole message.
	UDH *smsformat.Part
	// Parts is the carrier part count the fake computes for this request
	// (Aliyun and Tencent bill it as Fee; 1 for each generic part).
	Parts int
	// ID is the message id the fake answered with.
	ID string
	// Content is the message as the handset shows it: 【signature】 and the
	// rendered template (Aliyun, Tencent) or the part's text (generic).
	Content string
}

// Option configures a fake.
type Option func(*base)

// WithClock sets the fake's clock, used to check request timestamps.
func WithClock(clk clock.Clock) Option { return func(b *base) { b.now = clk.Now } }

type failure struct {
	pass   bool // a placeholder: this call succeeds
	status int
	code   string
}

// base holds what all fakes share. Its methods are safe for concurrent use.
type base struct {
	srv *httptest.Server

	now func() time.Time

	// Length rules (limits.go); generic checks none of them.
	contentLimit, varCap int
	template             string

	mu             sync.Mutex
	lengthRefusals int
	sent           []Sent
	fails          []failure
	calls          int
	authFails      int
	nextID         int
}

func newBase(tb testing.TB, h func(b *base, w http.ResponseWriter, r *http.Request), opts []Option) *base {
	b := &base{now: time.Now, contentLimit: ContentLimit}
	for _, o := range opts {
		o(b)
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.calls++
		b.mu.Unlock()
		h(b, w, r)
	}))
	tb.Cleanup(b.srv.Close)
	return b
}

// URL is the fake's base URL, to be used as api_base.
func (b *base) URL() string { return b.srv.URL }

// Close stops the server (also done by the test's cleanup).
func (b *base) Close() { b.srv.Close() }

// Sent returns a copy of the accepted requests in arrival order.
func (b *base) Sent() []Sent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Sent(nil), b.sent...)
}

// Calls counts every request received, accepted or not.
func (b *base) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

// AuthFailures counts requests refused for a bad signature, timestamp,
// nonce or credential.
func (b *base) AuthFailures() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.authFails
}

// FailNext makes the next call (after the queued ones) fail with the HTTP
// status and the provider's error code, in the provider's answer format
// (e.g. Aliyun FailNext(200, "isv.BUSINESS_LIMIT_CONTROL"), Tencent
// FailNext(200, "LimitExceeded.PhoneNumberThirtySecondLimit"), generic
// FailNext(503, "unavailable")). Nothing is recorded for a failed call.
func (b *base) FailNext(status int, code string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails = append(b.fails, failure{status: status, code: code})
}

// FailAfter lets n calls (after the queued ones) succeed, then fails one as
// FailNext does: for a failure part-way through a multi-part send.
func (b *base) FailAfter(n, status int, code string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for range n {
		b.fails = append(b.fails, failure{pass: true})
	}
	b.fails = append(b.fails, failure{status: status, code: code})
}

func (b *base) takeFailure() (failure, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.fails) == 0 {
		return failure{}, false
	}
	f := b.fails[0]
	b.fails = b.fails[1:]
	return f, !f.pass
}

func (b *base) authFailed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.authFails++
}

func (b *base) record(s Sent, id func(n int) string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	s.ID = id(b.nextID)
	b.sent = append(b.sent, s)
	return s.ID
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// carrierParts is the carrier's billing count, computed independently of
// smsapi.Segment: signature and text in UTF-16 units, one part up to 70,
// else ceil(n/67).
func carrierParts(sign, text string) int {
	n := 0
	for _, r := range "【" + sign + "】" + text {
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	if sign == "" {
		n -= 2
	}
	if n <= 70 {
		return 1
	}
	return (n + 66) / 67
}
