package smsfake

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Aliyun fakes Alibaba Cloud's SendSms RPC endpoint (form POST to "/"). It
// verifies the POP v1 signature (HMAC-SHA1 with secret+"&"), the timestamp
// (±15 min), that no SignatureNonce is reused, and the required parameters,
// answering like Aliyun: {"Code":"OK","Message":"OK","BizId":…,"RequestId":…}
// or, e.g., HTTP 400 {"Code":"SignatureDoesNotMatch",…}. The recorded Text
// is the value of the single TemplateParam variable. Like Aliyun it refuses,
// with isv.PARAM_LENGTH_LIMIT, a send longer than ContentLimit characters
// (signature and template text included) or a variable over its cap
// (WithContentLimit, WithVariableCap, WithTemplate).
type Aliyun struct{ *base }

// NewAliyun starts the fake for one access key; closed when the test ends.
func NewAliyun(tb testing.TB, accessKeyID, accessKeySecret string, opts ...Option) *Aliyun {
	a := &Aliyun{}
	nonces := map[string]bool{}
	a.base = newBase(tb, func(b *base, w http.ResponseWriter, r *http.Request) {
		serveAliyun(b, accessKeyID, accessKeySecret, nonces, w, r)
	}, opts)
	return a
}

func aliyunAnswer(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"Code": code, "Message": msg, "RequestId": "fake-request"})
}

func serveAliyun(b *base, keyID, secret string, nonces map[string]bool, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		aliyunAnswer(w, http.StatusBadRequest, "UnsupportedHTTPMethod", "POST only in this fake")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		aliyunAnswer(w, http.StatusBadRequest, "InvalidParameter", "unreadable form")
		return
	}
	p := r.PostForm
	for k, want := range map[string]string{
		"Action": "SendSms", "Version": "2017-05-25", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "Format": "JSON",
	} {
		if p.Get(k) != want {
			aliyunAnswer(w, http.StatusBadRequest, "InvalidParameter", k+" must be "+want)
			return
		}
	}
	if p.Get("AccessKeyId") != keyID {
		b.authFailed()
		aliyunAnswer(w, http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
		return
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", p.Get("Timestamp"))
	if d := b.now().Sub(ts); err != nil || d > 15*time.Minute || d < -15*time.Minute {
		b.authFailed()
		aliyunAnswer(w, http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
		return
	}
	if !hmac.Equal([]byte(p.Get("Signature")), []byte(aliyunSign(r.Method, p, secret))) {
		b.authFailed()
		aliyunAnswer(w, http.StatusBadRequest, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
		return
	}
	b.mu.Lock()
	nonce := p.Get("SignatureNonce")
	used := nonce == "" || nonces[nonce]
	nonces[nonce] = true
	b.mu.Unlock()
	if used {
		b.authFailed()
		aliyunAnswer(w, http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
		return
	}
	if f, ok := b.takeFailure(); ok {
		aliyunAnswer(w, f.status, f.code, "injected failure")
		return
	}
	var params map[string]string
	if err := json.Unmarshal([]byte(p.Get("TemplateParam")), &params); err != nil || len(params) != 1 {
		aliyunAnswer(w, http.StatusOK, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
		return
	}
	var text string
	for _, v := range params {
		text = v
	}
	wire := p.Get("PhoneNumbers")
	phone := "+" + wire
	if len(wire) == 11 && wire[0] == '1' {
		phone = "+86" + wire
	}
	if wire == "" || strings.Contains(wire, ",") || strings.Trim(wire, "0123456789") != "" {
		aliyunAnswer(w, http.StatusOK, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
		return
	}
	if p.Get("SignName") == "" || p.Get("TemplateCode") == "" {
		aliyunAnswer(w, http.StatusOK, "isv.SMS_SIGNATURE_ILLEGAL", "签名或模板不合法")
		return
	}
	tmpl := b.template
	if tmpl == "" {
		tmpl = aliyunDefaultTemplateText
	}
	content := render(p.Get("SignName"), tmpl, aliyunDefaultTemplateText, text)
	if b.lengthCheck(text, content) != "" {
		b.lengthRefused()
		aliyunAnswer(w, http.StatusOK, AliyunLengthCode, "参数超出长度限制")
		return
	}
	s := Sent{Phone: phone, Wire: wire, Text: text, Sign: p.Get("SignName"), Template: p.Get("TemplateCode"),
		Parts: carrierParts(p.Get("SignName"), text), Content: content}
	id := b.record(s, func(n int) string { return strconv.Itoa(900000+n) + "^0" })
	writeJSON(w, http.StatusOK, map[string]string{"Code": "OK", "Message": "OK", "BizId": id, "RequestId": "fake-request"})
}

// aliyunSign is an independent implementation of the POP v1 signature.
func aliyunSign(method string, p url.Values, secret string) string {
	enc := func(s string) string {
		var sb strings.Builder
		for _, c := range []byte(s) {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
				sb.WriteByte(c)
			} else {
				sb.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)+0x100, 16)[1:]))
			}
		}
		return sb.String()
	}
	var keys, pairs []string
	for k := range p {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		pairs = append(pairs, enc(k)+"="+enc(p.Get(k)))
	}
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(method + "&" + enc("/") + "&" + enc(strings.Join(pairs, "&"))))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
