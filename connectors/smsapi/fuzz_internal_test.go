package smsapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// Provider answers are outside input: whatever they hold, interpreting them
// must not panic and must give either a result or an *Error.
func checkAnswer(t *testing.T, res Result, err error) {
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("not an *Error: %v", err)
		}
		return
	}
	if len(res.MessageIDs) == 0 || res.Parts < 1 {
		t.Fatalf("success without id or parts: %+v", res)
	}
}

func FuzzAliyunAnswer(f *testing.F) {
	f.Add(200, []byte(`{"Code":"OK","Message":"OK","BizId":"900001^0","RequestId":"r"}`))
	f.Add(200, []byte(`{"Code":"isv.BUSINESS_LIMIT_CONTROL","Message":"触发分钟级流控Permits:1"}`))
	f.Add(400, []byte(`{"Code":"SignatureDoesNotMatch"}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		res, err := aliyunResult(status, http.Header{"Retry-After": {"5"}}, body, 2)
		checkAnswer(t, res, err)
	})
}

func FuzzTencentAnswer(f *testing.F) {
	f.Add(200, []byte(`{"Response":{"SendStatusSet":[{"SerialNo":"5000:1","PhoneNumber":"+8613800138000","Fee":3,"Code":"Ok","Message":"send success"}],"RequestId":"r"}}`))
	f.Add(200, []byte(`{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"x"},"RequestId":"r"}}`))
	f.Add(200, []byte(`{"Response":{"SendStatusSet":[]}}`))
	f.Add(200, []byte(`{"Response":{"SendStatusSet":[{"Code":"Ok","Fee":-1}]}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		res, err := tencentResult(status, nil, body, 2)
		checkAnswer(t, res, err)
	})
}

func FuzzGenericAnswer(f *testing.F) {
	f.Add(200, []byte(`{"message_id":"g-1"}`))
	f.Add(429, []byte(`{"error":{"code":"rate_limited","message":"slow down"}}`))
	f.Add(200, []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		id, err := genericAnswer(status, nil, body)
		if err == nil && id == "" {
			t.Fatal("success without id")
		}
		checkAnswer(t, Result{MessageIDs: []string{id}, Parts: 1}, err)
	})
}

// Segment's parts must obey the carrier rule whatever the text.
func FuzzSegment(f *testing.F) {
	f.Add("您好，已受理。", "12345热线", 0)
	f.Add(strings.Repeat("市", 150), "12345热线", 500)
	f.Add(strings.Repeat("a😀", 40), "", 70)
	f.Add("\xff\xfe", "【】", 1)
	f.Fuzz(func(t *testing.T, text, sign string, maxChars int) {
		if maxChars > 5000 {
			maxChars = 5000
		}
		parts := Segment(text, sign, maxChars)
		total := 0
		for i, p := range parts {
			if !utf8.ValidString(p) || p == "" {
				t.Fatalf("part %d invalid or empty", i)
			}
			n := units(p)
			if i == 0 {
				n += units(Signature(sign))
			}
			limit := MultiPartChars
			if len(parts) == 1 {
				limit = SinglePartChars
			}
			if n > limit && !(i == 0 && units(p) <= 2) { // a huge signature leaves room for one character
				t.Fatalf("part %d has %d units", i, n)
			}
			total += units(p)
		}
		if maxChars > 0 && total > maxChars {
			t.Fatalf("%d units exceed max %d", total, maxChars)
		}
	})
}
