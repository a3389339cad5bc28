package smsapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

// AliyunConfig configures Alibaba Cloud SMS (dysmsapi, version 2017-05-25).
type AliyunConfig struct {
	Options
	AccessKeyID     string
	AccessKeySecret string
	// TemplateCode is an approved template whose only variable carries the
	// reply, e.g. "${content}".
	TemplateCode string
	// TemplateParam names that variable; "content" when empty.
	TemplateParam string
	// RegionID defaults to cn-hangzhou.
	RegionID string
	// Nonce returns a fresh SignatureNonce; random when nil.
	Nonce func() string
}

// AliyunDefaultBase is the public SendSms endpoint.
const AliyunDefaultBase = "https://dysmsapi.aliyuncs.com/"

// Aliyun sends through Alibaba Cloud's SendSms RPC API: a form POST signed
// with the POP v1 HMAC-SHA1 signature. Aliyun joins a long message's carrier
// parts itself, so one call carries a reply that fits one send (500
// characters with the signature and template text, within the variable's
// cap); Result.Parts is the billed count.
type Aliyun struct{ cfg AliyunConfig }

var _ Sender = (*Aliyun)(nil)

// NewAliyun validates cfg, naming the first missing field.
func NewAliyun(cfg AliyunConfig) (*Aliyun, error) {
	cfg.setDefaults(AliyunDefaultBase)
	if cfg.SendChars == 0 {
		cfg.SendChars = ProviderSendChars
	}
	if err := cfg.validate(smsformat.ProviderAliyun); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, v string }{
		{"access_key_id", cfg.AccessKeyID}, {"access_key_secret", cfg.AccessKeySecret},
		{"sign_name", cfg.SignName}, {"template_code", cfg.TemplateCode},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("smsapi: aliyun: %s required", f.name)
		}
	}
	if cfg.TemplateParam == "" {
		cfg.TemplateParam = "content"
	}
	if cfg.RegionID == "" {
		cfg.RegionID = "cn-hangzhou"
	}
	if cfg.Nonce == nil {
		cfg.Nonce = func() string { return randomHex(16) }
	}
	return &Aliyun{cfg: cfg}, nil
}

// Send issues one SendSms call per piece of the reply (SplitSends: one
// call unless the reply is longer than a send may be), in order.
func (a *Aliyun) Send(ctx context.Context, phone, text string) (Result, error) {
	e164, text, cut, err := a.cfg.prepare(smsformat.ProviderAliyun, phone, text)
	if err != nil {
		return Result{}, err
	}
	res, err := a.cfg.sendSplit(ctx, smsformat.ProviderAliyun, e164, text, a.sendOne)
	res.Cut = cut
	return res, err
}

func (a *Aliyun) sendOne(ctx context.Context, e164, piece string) (string, int, error) {
	const provider = smsformat.ProviderAliyun
	var param bytes.Buffer
	enc := json.NewEncoder(&param)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]string{a.cfg.TemplateParam: piece}); err != nil {
		return "", 0, fmt.Errorf("smsapi: aliyun: encode: %w", err)
	}
	v := url.Values{}
	v.Set("AccessKeyId", a.cfg.AccessKeyID)
	v.Set("Action", "SendSms")
	v.Set("Format", "JSON")
	v.Set("PhoneNumbers", aliyunPhone(e164))
	v.Set("RegionId", a.cfg.RegionID)
	v.Set("SignName", strings.TrimSuffix(strings.TrimPrefix(Signature(a.cfg.SignName), "【"), "】"))
	v.Set("SignatureMethod", "HMAC-SHA1")
	v.Set("SignatureNonce", a.cfg.Nonce())
	v.Set("SignatureVersion", "1.0")
	v.Set("TemplateCode", a.cfg.TemplateCode)
	v.Set("TemplateParam", strings.TrimSuffix(param.String(), "\n"))
	v.Set("Timestamp", a.cfg.Clock.Now().UTC().Format("2006-01-02T15:04:05Z"))
	v.Set("Version", "2017-05-25")
	v.Set("Signature", popSignature(http.MethodPost, v, a.cfg.AccessKeySecret))

	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	status, hdr, data, err := post(ctx, a.cfg.HTTPClient, provider, a.cfg.APIBase, h, []byte(v.Encode()))
	if err != nil {
		return "", 0, err
	}
	res, err := aliyunResult(status, hdr, data, PartCount(piece, a.cfg.SignName, 0))
	if err != nil {
		return "", 0, err
	}
	return res.MessageIDs[0], res.Parts, nil
}

// aliyunResult interprets a SendSms answer.
func aliyunResult(status int, hdr http.Header, data []byte, parts int) (Result, error) {
	const provider = smsformat.ProviderAliyun
	var ans struct {
		Code    string `json:"Code"`
		Message string `json:"Message"`
		BizID   string `json:"BizId"`
	}
	if json.Unmarshal(data, &ans) != nil || ans.Code == "" {
		if status >= 200 && status <= 299 {
			return Result{}, &Error{Provider: provider, Status: status, Code: "bad_answer", Message: "answer lacks Code"}
		}
		return Result{}, statusError(provider, status, hdr, "")
	}
	if ans.Code != "OK" {
		return Result{}, aliyunError(status, hdr, ans.Code, ans.Message)
	}
	return Result{MessageIDs: []string{ans.BizID}, Parts: parts}, nil
}

// aliyunPhone is the PhoneNumbers form: 11 digits for the mainland, else
// country code and number without "+".
func aliyunPhone(e164 string) string {
	if strings.HasPrefix(e164, "+86") {
		return e164[3:]
	}
	return strings.TrimPrefix(e164, "+")
}

func aliyunError(status int, h http.Header, code, msg string) *Error {
	e := &Error{Provider: smsformat.ProviderAliyun, Status: status, Code: sanitize(code), Message: sanitize(msg)}
	switch {
	case code == "isv.PARAM_LENGTH_LIMIT": // a variable over its cap or content over 500 characters
		e.Kind = ErrTooLong
	case strings.HasPrefix(code, "Throttling"), code == "isv.BUSINESS_LIMIT_CONTROL", code == "isv.DAY_LIMIT_CONTROL":
		e.Kind = ErrRateLimited
		e.RetryAfter = parseRetryAfter(h)
	case strings.HasPrefix(code, "isp."), code == "InternalError", code == "ServiceUnavailable",
		code == "isv.AMOUNT_NOT_ENOUGH", status >= 500:
		// transient: the provider, or the account's balance, may recover
	default:
		e.Kind = ErrRejected
	}
	return e
}

// popSignature is Alibaba Cloud's RPC (POP v1) signature: the parameters
// other than Signature, sorted by name, percent-encoded (RFC 3986) into
// "k=v&…"; StringToSign = METHOD + "&%2F&" + percentEncode(that);
// Signature = base64(HMAC-SHA1(secret + "&", StringToSign)).
func popSignature(method string, params url.Values, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var canon strings.Builder
	for i, k := range keys {
		if i > 0 {
			canon.WriteByte('&')
		}
		canon.WriteString(popEscape(k))
		canon.WriteByte('=')
		canon.WriteString(popEscape(params.Get(k)))
	}
	sts := method + "&" + popEscape("/") + "&" + popEscape(canon.String())
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// popEscape percent-encodes per RFC 3986 as Alibaba Cloud requires: only
// A-Z a-z 0-9 - _ . ~ stay, space is %20.
func popEscape(s string) string {
	s = url.QueryEscape(s)
	return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(s)
}
