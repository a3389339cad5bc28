package smsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

// Generic fakes the generic send API: POST {base}/send with JSON
// {"to","text","sign","udh"}, authenticated by X-SMS-Signature (HMAC-SHA256
// of timestamp + "\n" + body, timestamp within 300 s) when secret is set and
// by X-SMS-Token when token is set. It answers {"message_id":"g-N"}.
type Generic struct{ *base }

// NewGeneric starts the fake; it is closed when the test ends.
func NewGeneric(tb testing.TB, secret, token string, opts ...Option) *Generic {
	g := &Generic{}
	g.base = newBase(tb, func(b *base, w http.ResponseWriter, r *http.Request) {
		serveGeneric(b, secret, token, w, r)
	}, opts)
	return g
}

func genericError(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func serveGeneric(b *base, secret, token string, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/send" {
		genericError(w, http.StatusNotFound, "not_found", "POST /send only")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		genericError(w, http.StatusBadRequest, "bad_request", "unreadable body")
		return
	}
	if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("X-SMS-Token")), []byte(token)) != 1 {
		b.authFailed()
		genericError(w, http.StatusUnauthorized, "unauthorized", "bad token")
		return
	}
	if secret != "" {
		ts := r.Header.Get("X-SMS-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if d := b.now().Sub(time.Unix(sec, 0)); err != nil || d > 300*time.Second || d < -300*time.Second {
			b.authFailed()
			genericError(w, http.StatusUnauthorized, "unauthorized", "stale timestamp")
			return
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "\n"))
		m.Write(body)
		got, err := hex.DecodeString(r.Header.Get("X-SMS-Signature"))
		if err != nil || !hmac.Equal(got, m.Sum(nil)) {
			b.authFailed()
			genericError(w, http.StatusUnauthorized, "unauthorized", "bad signature")
			return
		}
	}
	if f, ok := b.takeFailure(); ok {
		genericError(w, f.status, f.code, "injected failure")
		return
	}
	var msg struct {
		To   string `json:"to"`
		Text string `json:"text"`
		Sign string `json:"sign"`
		UDH  *struct {
			Ref   string `json:"ref"`
			Total int    `json:"total"`
			Seq   int    `json:"seq"`
		} `json:"udh"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Text == "" || !strings.HasPrefix(msg.To, "+") {
		genericError(w, http.StatusBadRequest, "bad_request", "want {to (E.164), text, sign, udh}")
		return
	}
	s := Sent{Phone: msg.To, Wire: msg.To, Text: msg.Text, Sign: msg.Sign, Parts: 1}
	if u := msg.UDH; u != nil {
		if u.Ref == "" || u.Total < 2 || u.Seq < 1 || u.Seq > u.Total {
			genericError(w, http.StatusBadRequest, "bad_request", "bad udh")
			return
		}
		s.UDH = &smsformat.Part{Ref: u.Ref, Total: u.Total, Seq: u.Seq}
	}
	s.Content = msg.Text
	if msg.Sign != "" && (s.UDH == nil || s.UDH.Seq == 1) { // the handset shows the signature once
		s.Content = "【" + msg.Sign + "】" + msg.Text
	}
	id := b.record(s, func(n int) string { return "g-" + strconv.Itoa(n) })
	writeJSON(w, http.StatusOK, map[string]string{"message_id": id})
}
