package smsapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

// TencentConfig configures Tencent Cloud SMS (API 3.0, version 2021-01-11).
type TencentConfig struct {
	Options
	SecretID  string
	SecretKey string
	// SmsSdkAppID is the SMS application id ("1400…").
	SmsSdkAppID string
	// TemplateID is an approved template whose only variable {1} carries
	// the reply.
	TemplateID string
	// Region defaults to ap-guangzhou.
	Region string
}

// TencentDefaultBase is the public SMS API endpoint.
const TencentDefaultBase = "https://sms.tencentcloudapi.com/"

const (
	tc3Algorithm   = "TC3-HMAC-SHA256"
	tencentService = "sms"
	tencentJSON    = "application/json; charset=utf-8"
)

// Tencent sends through Tencent Cloud's SendSms API: a JSON POST signed with
// TC3-HMAC-SHA256. Tencent joins a long message's carrier parts itself, so
// one call carries a reply that fits one send (500 characters with the
// signature and template text); Result.Parts is the billed count (Fee) the
// API reports, or the computed count when it reports none.
type Tencent struct {
	cfg      TencentConfig
	host     string
	canonURI string
}

var _ Sender = (*Tencent)(nil)

// NewTencent validates cfg, naming the first missing field.
func NewTencent(cfg TencentConfig) (*Tencent, error) {
	cfg.setDefaults(TencentDefaultBase)
	if cfg.SendChars == 0 {
		cfg.SendChars = ProviderSendChars
	}
	if err := cfg.validate(smsformat.ProviderTencent); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, v string }{
		{"secret_id", cfg.SecretID}, {"secret_key", cfg.SecretKey}, {"sdk_app_id", cfg.SmsSdkAppID},
		{"sign_name", cfg.SignName}, {"template_id", cfg.TemplateID},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("smsapi: tencent: %s required", f.name)
		}
	}
	if cfg.Region == "" {
		cfg.Region = "ap-guangzhou"
	}
	u, _ := url.Parse(cfg.APIBase) // validated above
	uri := u.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	return &Tencent{cfg: cfg, host: u.Host, canonURI: uri}, nil
}

// Send issues one SendSms call per piece of the reply (SplitSends: one
// call unless the reply is longer than a send may be), in order.
func (t *Tencent) Send(ctx context.Context, phone, text string) (Result, error) {
	e164, text, cut, err := t.cfg.prepare(smsformat.ProviderTencent, phone, text)
	if err != nil {
		return Result{}, err
	}
	res, err := t.cfg.sendSplit(ctx, smsformat.ProviderTencent, e164, text, t.sendOne)
	res.Cut = cut
	return res, err
}

func (t *Tencent) sendOne(ctx context.Context, e164, piece string) (string, int, error) {
	const provider = smsformat.ProviderTencent
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(struct {
		PhoneNumberSet   []string
		SmsSdkAppID      string `json:"SmsSdkAppId"`
		SignName         string
		TemplateID       string `json:"TemplateId"`
		TemplateParamSet []string
	}{
		PhoneNumberSet:   []string{e164},
		SmsSdkAppID:      t.cfg.SmsSdkAppID,
		SignName:         strings.TrimSuffix(strings.TrimPrefix(Signature(t.cfg.SignName), "【"), "】"),
		TemplateID:       t.cfg.TemplateID,
		TemplateParamSet: []string{piece},
	})
	if err != nil {
		return "", 0, fmt.Errorf("smsapi: tencent: encode: %w", err)
	}
	payload := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	ts := t.cfg.Clock.Now().Unix()
	sig := tc3Signature(t.cfg.SecretKey, tencentService, t.canonURI, t.host, tencentJSON, payload, ts)

	h := http.Header{}
	h.Set("Content-Type", tencentJSON)
	h.Set("X-TC-Action", "SendSms")
	h.Set("X-TC-Version", "2021-01-11")
	h.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	h.Set("X-TC-Region", t.cfg.Region)
	h.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=content-type;host, Signature=%s",
		tc3Algorithm, t.cfg.SecretID, tc3Scope(ts, tencentService), sig))
	status, hdr, data, err := post(ctx, t.cfg.HTTPClient, provider, t.cfg.APIBase, h, payload)
	if err != nil {
		return "", 0, err
	}
	res, err := tencentResult(status, hdr, data, PartCount(piece, t.cfg.SignName, 0))
	if err != nil {
		return "", 0, err
	}
	return res.MessageIDs[0], res.Parts, nil
}

// tencentResult interprets a SendSms answer; parts is the computed count,
// used when the answer reports no Fee.
func tencentResult(status int, hdr http.Header, data []byte, parts int) (Result, error) {
	const provider = smsformat.ProviderTencent
	var ans struct {
		Response struct {
			Error *struct {
				Code    string
				Message string
			}
			SendStatusSet []struct {
				SerialNo string
				Code     string
				Message  string
				Fee      int
			}
		}
	}
	if json.Unmarshal(data, &ans) != nil {
		if status >= 200 && status <= 299 {
			return Result{}, &Error{Provider: provider, Status: status, Code: "bad_answer", Message: "answer is not JSON"}
		}
		return Result{}, statusError(provider, status, hdr, "")
	}
	if e := ans.Response.Error; e != nil {
		return Result{}, tencentError(status, hdr, e.Code, e.Message)
	}
	if status < 200 || status > 299 {
		return Result{}, statusError(provider, status, hdr, "")
	}
	if len(ans.Response.SendStatusSet) != 1 {
		return Result{}, &Error{Provider: provider, Status: status, Code: "bad_answer", Message: "want one SendStatus"}
	}
	st := ans.Response.SendStatusSet[0]
	if !strings.EqualFold(st.Code, "Ok") {
		return Result{}, tencentError(status, hdr, st.Code, st.Message)
	}
	res := Result{MessageIDs: []string{st.SerialNo}, Parts: parts}
	if st.Fee > 0 && st.Fee <= smsformat.MaxParts {
		res.Parts = st.Fee
	}
	return res, nil
}

func tencentError(status int, h http.Header, code, msg string) *Error {
	e := &Error{Provider: smsformat.ProviderTencent, Status: status, Code: sanitize(code), Message: sanitize(msg)}
	switch {
	case code == "InvalidParameterValue.ContentLengthLimit", code == "InvalidParameterValue.TemplateParameterLengthLimit":
		e.Kind = ErrTooLong
	case strings.HasPrefix(code, "LimitExceeded"), strings.HasPrefix(code, "RequestLimitExceeded"):
		e.Kind = ErrRateLimited
		e.RetryAfter = parseRetryAfter(h)
	case strings.HasPrefix(code, "InternalError"), code == "FailedOperation.InsufficientBalanceInSmsPackage",
		strings.HasPrefix(code, "ResourceUnavailable"), code == "UnknownError", status >= 500:
		// transient
	default:
		e.Kind = ErrRejected
	}
	return e
}

// tc3Scope is the credential scope "YYYY-MM-DD/service/tc3_request", dated
// in UTC.
func tc3Scope(ts int64, service string) string {
	return time.Unix(ts, 0).UTC().Format("2006-01-02") + "/" + service + "/tc3_request"
}

// tc3Signature computes Tencent Cloud's TC3-HMAC-SHA256 signature of a POST
// with signed headers content-type and host and an empty query string.
func tc3Signature(secretKey, service, uri, host, contentType string, payload []byte, ts int64) string {
	sum := sha256.Sum256(payload)
	canonical := "POST\n" + uri + "\n\n" +
		"content-type:" + contentType + "\nhost:" + host + "\n\n" +
		"content-type;host\n" + hex.EncodeToString(sum[:])
	creq := sha256.Sum256([]byte(canonical))
	sts := tc3Algorithm + "\n" + strconv.FormatInt(ts, 10) + "\n" + tc3Scope(ts, service) + "\n" + hex.EncodeToString(creq[:])
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	k := hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	return hex.EncodeToString(hmacSHA256(k, sts))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
