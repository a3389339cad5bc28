package smsfake

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

// CallbackAuth says how a built callback authenticates. With Secret the
// body is signed (X-SMS-Timestamp = Now, X-SMS-Signature); with Token it is
// sent as X-SMS-Token (generic) or as the "token" query parameter (Aliyun
// and Tencent, which can only be configured with a URL). Zero Now means
// time.Now.
type CallbackAuth struct {
	Token, Secret string
	Now           time.Time
}

// Callback is a provider's callback request, ready to send to the gateway.
type Callback struct {
	Body   []byte
	Header http.Header
	Query  url.Values
}

// Request builds the POST to target (e.g. srv.URL+"/v1/channels/sms/inbound"),
// adding the callback's query parameters and headers.
func (c Callback) Request(ctx context.Context, target string) (*http.Request, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("smsfake: target: %w", err)
	}
	q := u.Query()
	for k, vs := range c.Query {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(c.Body))
	if err != nil {
		return nil, fmt.Errorf("smsfake: request: %w", err)
	}
	for k, vs := range c.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	return req, nil
}

// SignatureName is the sign_name / sign the built callbacks carry.
const SignatureName = "12345热线"

// Uplink builds the provider's inbound-message callback for msgs (Phone in
// E.164): Aliyun SmsUp (an array), Tencent reply callback (an object; an
// array for several) or generic (an object; an array for several). Tencent
// has no part header, so a Part there is an error, as is a provider id.
func Uplink(provider string, auth CallbackAuth, msgs ...smsformat.Inbound) (Callback, error) {
	items := make([]any, 0, len(msgs))
	for i, m := range msgs {
		switch provider {
		case smsformat.ProviderAliyun:
			if m.Part != nil {
				return Callback{}, fmt.Errorf("smsfake: aliyun uplink %d: no part header in this format", i)
			}
			items = append(items, map[string]any{
				"phone_number": national(m.Phone), "send_time": cst(m.SentAt), "content": m.Text,
				"sign_name": SignatureName, "dest_code": m.DestCode, "sequence_id": numberOrString(m.ProviderID),
			})
		case smsformat.ProviderTencent:
			if m.Part != nil || m.ProviderID != "" {
				return Callback{}, fmt.Errorf("smsfake: tencent uplink %d: no part header or id in this format", i)
			}
			cc, nat := splitCountry(m.Phone)
			items = append(items, map[string]any{
				"mobile": nat, "nationcode": cc, "text": m.Text, "sign": SignatureName,
				"time": m.SentAt.Unix(), "extend": m.DestCode,
			})
		case smsformat.ProviderGeneric:
			o := map[string]any{"from": m.Phone, "to": m.DestCode, "text": m.Text, "sent_at": m.SentAt.Format(time.RFC3339Nano)}
			if m.ProviderID != "" {
				o["id"] = m.ProviderID
			}
			if p := m.Part; p != nil {
				o["udh"] = map[string]any{"ref": p.Ref, "total": p.Total, "seq": p.Seq}
			}
			items = append(items, o)
		default:
			return Callback{}, fmt.Errorf("smsfake: unknown provider %q", provider)
		}
	}
	return build(provider, auth, items, provider == smsformat.ProviderAliyun)
}

// Reports builds the provider's delivery-report callback: Aliyun SmsReport
// (array), Tencent status callback (array) or generic (object; array for
// several). Report.Error "CODE: text" is split into the code and message
// fields where the format has both.
func Reports(provider string, auth CallbackAuth, reps ...smsformat.Report) (Callback, error) {
	items := make([]any, 0, len(reps))
	for _, r := range reps {
		code, msg, _ := strings.Cut(r.Error, ": ")
		switch provider {
		case smsformat.ProviderAliyun:
			if r.Delivered {
				code, msg = "DELIVERED", "用户接收成功"
			}
			items = append(items, map[string]any{
				"phone_number": national(r.Phone), "send_time": cst(r.At.Add(-5 * time.Second)), "report_time": cst(r.At),
				"success": r.Delivered, "err_code": code, "err_msg": msg, "sms_size": "1", "biz_id": r.MessageID, "out_id": "",
			})
		case smsformat.ProviderTencent:
			status := "FAIL"
			if r.Delivered {
				status, code, msg = "SUCCESS", "DELIVRD", "用户短信送达成功"
			}
			cc, nat := splitCountry(r.Phone)
			items = append(items, map[string]any{
				"user_receive_time": cst(r.At), "nationcode": cc, "mobile": nat, "report_status": status,
				"errmsg": code, "description": msg, "sid": r.MessageID,
			})
		case smsformat.ProviderGeneric:
			o := map[string]any{"message_id": r.MessageID, "status": "failed", "error": r.Error}
			if r.Delivered {
				o["status"] = "delivered"
				delete(o, "error")
			}
			if r.Phone != "" {
				o["to"] = r.Phone
			}
			if !r.At.IsZero() {
				o["at"] = r.At.Format(time.RFC3339Nano)
			}
			items = append(items, o)
		default:
			return Callback{}, fmt.Errorf("smsfake: unknown provider %q", provider)
		}
	}
	return build(provider, auth, items, provider != smsformat.ProviderGeneric)
}

// build encodes items, as a bare object when there is one and the format
// allows it, and adds the authentication.
func build(provider string, auth CallbackAuth, items []any, alwaysArray bool) (Callback, error) {
	var v any = items
	if !alwaysArray && len(items) == 1 {
		v = items[0]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return Callback{}, fmt.Errorf("smsfake: encode: %w", err)
	}
	c := Callback{Body: bytes.TrimSuffix(buf.Bytes(), []byte("\n")), Header: http.Header{}, Query: url.Values{}}
	c.Header.Set("Content-Type", "application/json")
	if auth.Secret != "" {
		now := auth.Now
		if now.IsZero() {
			now = time.Now()
		}
		ts := strconv.FormatInt(now.Unix(), 10)
		m := hmac.New(sha256.New, []byte(auth.Secret))
		m.Write([]byte(ts + "\n"))
		m.Write(c.Body)
		c.Header.Set("X-SMS-Timestamp", ts)
		c.Header.Set("X-SMS-Signature", hex.EncodeToString(m.Sum(nil)))
	}
	if auth.Token != "" {
		if provider == smsformat.ProviderGeneric {
			c.Header.Set("X-SMS-Token", auth.Token)
		} else {
			c.Query.Set("token", auth.Token)
		}
	}
	return c, nil
}

// national is the 11-digit form of a mainland number, else digits only.
func national(e164 string) string {
	if strings.HasPrefix(e164, "+86") {
		return e164[3:]
	}
	return strings.TrimPrefix(e164, "+")
}

// splitCountry splits an E.164 number into country calling code and national
// number (codes of 1, 2 or 3 digits per the ITU assignment).
func splitCountry(e164 string) (cc, nat string) {
	d := strings.TrimPrefix(e164, "+")
	n := 3
	switch {
	case d == "":
		return "", ""
	case d[0] == '1' || d[0] == '7':
		n = 1
	case len(d) >= 2 && twoDigitCodes[d[:2]]:
		n = 2
	}
	if len(d) < n {
		return d, ""
	}
	return d[:n], d[n:]
}

var twoDigitCodes = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields("20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 " +
		"60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98") {
		m[c] = true
	}
	return m
}()

var shanghai = time.FixedZone("CST", 8*3600)

func cst(t time.Time) string { return t.In(shanghai).Format("2006-01-02 15:04:05") }

// numberOrString renders numeric ids as JSON numbers, as Aliyun does.
func numberOrString(id string) any {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		return n
	}
	return id
}
