package smsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tencent fakes Tencent Cloud's SendSms endpoint (JSON POST to "/"). It
// verifies the TC3-HMAC-SHA256 Authorization (credential, scope date,
// signed headers content-type;host, signature), X-TC-Timestamp (±5 min) and
// the action headers, answering like Tencent: {"Response":{"SendStatusSet":
// [{"SerialNo","PhoneNumber","Fee","Code":"Ok",…}],"RequestId"}} or
// {"Response":{"Error":{"Code","Message"},"RequestId"}}. The recorded Text is
// TemplateParamSet[0]; Fee is computed independently of smsapi. Like Tencent
// it refuses a send longer than ContentLimit characters (signature and
// template text included) with InvalidParameterValue.ContentLengthLimit, and
// a variable over its cap (WithVariableCap) with
// InvalidParameterValue.TemplateParameterLengthLimit.
type Tencent struct{ *base }

// NewTencent starts the fake for one key pair; closed when the test ends.
func NewTencent(tb testing.TB, secretID, secretKey string, opts ...Option) *Tencent {
	t := &Tencent{}
	t.base = newBase(tb, func(b *base, w http.ResponseWriter, r *http.Request) {
		serveTencent(b, secretID, secretKey, w, r)
	}, opts)
	return t
}

func tencentFail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"Response": map[string]any{
		"Error": map[string]string{"Code": code, "Message": msg}, "RequestId": "fake-request",
	}})
}

func serveTencent(b *base, secretID, secretKey string, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		tencentFail(w, http.StatusOK, "InvalidParameter", "POST with a body only")
		return
	}
	if r.Header.Get("X-TC-Action") != "SendSms" || r.Header.Get("X-TC-Version") != "2021-01-11" || r.Header.Get("X-TC-Region") == "" {
		tencentFail(w, http.StatusOK, "InvalidAction", "want X-TC-Action SendSms, X-TC-Version 2021-01-11 and X-TC-Region")
		return
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if d := b.now().Sub(time.Unix(ts, 0)); err != nil || d > 5*time.Minute || d < -5*time.Minute {
		b.authFailed()
		tencentFail(w, http.StatusOK, "AuthFailure.SignatureExpire", "signature expired")
		return
	}
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	uri := r.URL.EscapedPath()
	want := fmt.Sprintf("TC3-HMAC-SHA256 Credential=%s/%s/sms/tc3_request, SignedHeaders=content-type;host, Signature=%s",
		secretID, date, tencentSign(secretKey, "sms", date, uri, r.Host, r.Header.Get("Content-Type"), body, ts))
	if !hmac.Equal([]byte(r.Header.Get("Authorization")), []byte(want)) {
		b.authFailed()
		code := "AuthFailure.SignatureFailure"
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+secretID+"/") {
			code = "AuthFailure.SecretIdNotFound"
		}
		tencentFail(w, http.StatusOK, code, "The provided credentials could not be validated.")
		return
	}
	if f, ok := b.takeFailure(); ok {
		tencentFail(w, f.status, f.code, "injected failure")
		return
	}
	var req struct {
		PhoneNumberSet   []string
		SmsSdkAppID      string `json:"SmsSdkAppId"`
		SignName         string
		TemplateID       string `json:"TemplateId"`
		TemplateParamSet []string
	}
	if err := json.Unmarshal(body, &req); err != nil || req.SmsSdkAppID == "" || req.TemplateID == "" || req.SignName == "" {
		tencentFail(w, http.StatusOK, "MissingParameter", "SmsSdkAppId, SignName and TemplateId are required")
		return
	}
	if len(req.PhoneNumberSet) != 1 || len(req.TemplateParamSet) != 1 {
		tencentFail(w, http.StatusOK, "InvalidParameterValue.TemplateParameterFormatError", "this fake wants one number and one parameter")
		return
	}
	phone := req.PhoneNumberSet[0]
	if !strings.HasPrefix(phone, "+") || strings.Trim(phone[1:], "0123456789") != "" {
		tencentFail(w, http.StatusOK, "InvalidParameterValue.IncorrectPhoneNumber", "incorrect phone number")
		return
	}
	text := req.TemplateParamSet[0]
	tmpl := b.template
	if tmpl == "" {
		tmpl = tencentDefaultTemplate
	}
	content := render(req.SignName, tmpl, tencentDefaultTemplate, text)
	switch b.lengthCheck(text, content) {
	case "variable":
		b.lengthRefused()
		tencentFail(w, http.StatusOK, TencentParamLengthCode, "template parameter too long")
		return
	case "content":
		b.lengthRefused()
		tencentFail(w, http.StatusOK, TencentContentLengthCode, "content too long")
		return
	}
	s := Sent{Phone: phone, Wire: phone, Text: text, Sign: req.SignName, Template: req.TemplateID,
		Parts: carrierParts(req.SignName, text), Content: content}
	id := b.record(s, func(n int) string { return "5000:" + strconv.Itoa(1045710669+n) })
	writeJSON(w, http.StatusOK, map[string]any{"Response": map[string]any{
		"SendStatusSet": []map[string]any{{
			"SerialNo": id, "PhoneNumber": phone, "Fee": s.Parts, "SessionContext": "",
			"Code": "Ok", "Message": "send success", "IsoCode": "CN",
		}},
		"RequestId": "fake-request",
	}})
}

// tencentSign is an independent implementation of the TC3 signature.
func tencentSign(secretKey, service, date, uri, host, contentType string, body []byte, ts int64) string {
	h := func(s string) string { sum := sha256.Sum256([]byte(s)); return hex.EncodeToString(sum[:]) }
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	canonical := strings.Join([]string{
		"POST", uri, "",
		"content-type:" + contentType, "host:" + host, "",
		"content-type;host", h(string(body)),
	}, "\n")
	sts := strings.Join([]string{"TC3-HMAC-SHA256", strconv.FormatInt(ts, 10), date + "/" + service + "/tc3_request", h(canonical)}, "\n")
	k := mac(mac(mac([]byte("TC3"+secretKey), date), service), "tc3_request")
	return hex.EncodeToString(mac(k, sts))
}
