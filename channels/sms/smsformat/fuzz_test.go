package smsformat_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/internal/clock"
)

// checkInbound asserts the decoder's invariants: an error is always
// ErrMalformed, and a success yields valid E.164 numbers and sane parts.
func checkInbound(t *testing.T, provider string, body []byte) {
	got, err := smsformat.DecodeInbound(provider, body)
	if err != nil {
		if !errors.Is(err, smsformat.ErrMalformed) {
			t.Fatalf("error does not match ErrMalformed: %v", err)
		}
		return
	}
	for _, in := range got {
		if again, err := smsformat.NormalizePhone(in.Phone, ""); err != nil || again != in.Phone {
			t.Fatalf("phone %q is not stable E.164 (%v)", in.Phone, err)
		}
		if in.SentAt.IsZero() {
			t.Fatalf("zero SentAt accepted")
		}
		if p := in.Part; p != nil && (p.Total < 2 || p.Total > smsformat.MaxParts || p.Seq < 1 || p.Seq > p.Total || p.Ref == "") {
			t.Fatalf("bad part %+v", *p)
		}
		_ = smsformat.DedupKey(provider, in)
	}
}

func checkReports(t *testing.T, provider string, body []byte) {
	got, err := smsformat.DecodeReports(provider, body)
	if err != nil {
		if !errors.Is(err, smsformat.ErrMalformed) {
			t.Fatalf("error does not match ErrMalformed: %v", err)
		}
		return
	}
	for _, r := range got {
		if r.MessageID == "" {
			t.Fatalf("empty message id accepted")
		}
		if r.Delivered == (r.Error != "") {
			t.Fatalf("delivered=%v with error %q", r.Delivered, r.Error)
		}
	}
}

func FuzzDecodeInboundAliyun(f *testing.F) {
	for _, s := range []string{aliyunUp, aliyunUpBatch, `[]`, `[{"phone_number":1}]`, `{"sequence_id":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkInbound(t, "aliyun", body) })
}

func FuzzDecodeInboundTencent(f *testing.F) {
	for _, s := range []string{tencentUp, tencentUpIntl, `{"mobile":"1","nationcode":"+0","time":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkInbound(t, "tencent", body) })
}

func FuzzDecodeInboundGeneric(f *testing.F) {
	for _, s := range []string{genericUp, genericUpParts, `{"udh":{"total":"9e9"}}`, `[null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkInbound(t, "generic", body) })
}

func FuzzDecodeReportsAliyun(f *testing.F) {
	for _, s := range []string{aliyunReports, `[{"biz_id":"1","success":"false"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkReports(t, "aliyun", body) })
}

func FuzzDecodeReportsTencent(f *testing.F) {
	for _, s := range []string{tencentReports, `{"sid":"1","report_status":"fail"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkReports(t, "tencent", body) })
}

func FuzzDecodeReportsGeneric(f *testing.F) {
	for _, s := range []string{genericReports, `{"message_id":"x","status":"failed","error":""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkReports(t, "generic", body) })
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range [][2]string{{"13800138000", ""}, {"+86 138-0013-8000", ""}, {"91234567", "852"},
		{"0086138", "0086"}, {"+", "+"}, {"８６", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, nationcode string) {
		p, err := smsformat.NormalizePhone(raw, nationcode)
		if err != nil {
			if !errors.Is(err, smsformat.ErrInvalidPhone) {
				t.Fatalf("error does not match ErrInvalidPhone: %v", err)
			}
			return
		}
		if !strings.HasPrefix(p, "+") || len(p) > 16 {
			t.Fatalf("not E.164: %q", p)
		}
		if again, err := smsformat.NormalizePhone(p, ""); err != nil || again != p {
			t.Fatalf("not idempotent: %q → %q (%v)", p, again, err)
		}
		if m := smsformat.MaskPhone(p); strings.Contains(m, p[1:]) {
			t.Fatalf("mask leaks the number: %q", m)
		}
	})
}

func FuzzAuthenticatorCheck(f *testing.F) {
	now := time.Unix(1714557600, 0)
	f.Add("1714557600", smsformat.SignBody("k", "1714557600", []byte(genericUp)), []byte(genericUp))
	f.Add("", "", []byte{})
	f.Add("-9223372036854775808", "00", []byte("x"))
	a := smsformat.Authenticator{Secret: "k", Clock: clock.NewFake(now)}
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set(smsformat.HeaderTimestamp, ts)
		r.Header.Set(smsformat.HeaderSignature, sig)
		if err := a.Check(r, body); err != nil && !errors.Is(err, smsformat.ErrUnauthorized) {
			t.Fatalf("error does not match ErrUnauthorized: %v", err)
		}
	})
}
