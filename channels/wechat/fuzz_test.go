package wechat_test

import (
	"net/http"
	"testing"
)

// FuzzPushHandler posts arbitrary signed bodies, plaintext and (as the inner
// message) safe mode: the answer is success, 400 or 413, never a panic or a
// 5xx, and a refused push records nothing.
func FuzzPushHandler(f *testing.F) {
	for _, s := range []string{textXML, textJSON, imageXML, pageJSON, enterJSON, voiceXML, kfCloseJSON,
		"", "<", "{", "<xml></xml>", `{"MsgType":1}`, "\xef\xbb\xbf<xml/>", `{"FromUserName":"o","MsgType":"text","MsgId":-1}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	plain, safe := newEnv(f, setup{}), newEnv(f, setup{safe: true})
	f.Fuzz(func(t *testing.T, body []byte, encrypted bool) {
		v := plain
		q, b := v.plain(string(body))
		if encrypted {
			v = safe
			q, b = v.encrypted(string(body))
		}
		before := count(v)
		rr := v.do(t, http.MethodPost, q, b)
		switch rr.Code {
		case http.StatusOK:
			if rr.Body.String() != "success" {
				t.Fatalf("200 with body %q", rr.Body.String())
			}
			if n := count(v); n > before+1 {
				t.Fatalf("one push recorded %d times", n-before)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if count(v) != before {
				t.Fatalf("refused push (%d) was recorded", rr.Code)
			}
		default:
			t.Fatalf("status %d: %s", rr.Code, rr.Body.String())
		}
	})
}

func count(v *env) int {
	msgs, opened, _ := v.conv.snapshot()
	return len(msgs) + len(opened) + len(v.rec.all())
}

func BenchmarkPushSafeMode(b *testing.B) {
	v := newEnv(b, setup{safe: true})
	q, body := v.encrypted(textXML)
	b.ReportAllocs()
	for b.Loop() {
		if rr := v.do(b, http.MethodPost, q, body); rr.Code != http.StatusOK {
			b.Fatal(rr.Code, rr.Body.String())
		}
	}
}
