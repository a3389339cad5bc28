package smsformat

import (
	"fmt"
	"strings"
	"time"
)

// Report is one delivery report for a message the gateway sent.
type Report struct {
	// MessageID is the provider's id for the sent message (Aliyun biz_id,
	// Tencent sid, generic message_id), as returned by the send API.
	MessageID string
	// Phone is the recipient in E.164; empty when the provider omits it.
	Phone string
	// Delivered is true when the handset received the message.
	Delivered bool
	// Error is the provider's code and explanation when not delivered.
	Error string
	// At is when the carrier reported the outcome; zero if not given.
	At time.Time
}

// DecodeReports parses a delivery-report callback body of the given
// provider, all or nothing like DecodeInbound.
func DecodeReports(provider string, body []byte) ([]Report, error) {
	var decode func(item) (Report, error)
	switch provider {
	case ProviderAliyun:
		decode = decodeAliyunReport
	case ProviderTencent:
		decode = decodeTencentReport
	case ProviderGeneric:
		decode = decodeGenericReport
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownProvider, provider)
	}
	items, err := splitItems(body)
	if err != nil {
		return nil, err
	}
	out := make([]Report, 0, len(items))
	for _, it := range items {
		r, err := decode(it)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// decodeAliyunReport maps one Aliyun SmsReport object: {"phone_number",
// "send_time","report_time","success","err_code","err_msg","sms_size",
// "biz_id","out_id"}.
func decodeAliyunReport(it item) (Report, error) {
	var r Report
	var err error
	if r.MessageID, err = it.requiredStr("biz_id"); err != nil {
		return r, err
	}
	if r.Phone, err = it.phone("phone_number", "", false); err != nil {
		return r, err
	}
	ok, present, err := it.boolean("success")
	if err != nil {
		return r, err
	}
	if !present {
		return r, it.err("success", "required")
	}
	r.Delivered = ok
	if !ok {
		code, err := it.str("err_code")
		if err != nil {
			return r, err
		}
		msg, err := it.str("err_msg")
		if err != nil {
			return r, err
		}
		r.Error = joinErr(code, msg)
	}
	if r.At, err = it.localTime("report_time"); err != nil {
		return r, err
	}
	if r.At.IsZero() {
		if r.At, err = it.localTime("send_time"); err != nil {
			return r, err
		}
	}
	for _, k := range []string{"sms_size", "out_id"} {
		if _, err := it.str(k); err != nil {
			return r, err
		}
	}
	return r, nil
}

// decodeTencentReport maps one Tencent status callback object:
// {"user_receive_time","nationcode","mobile","report_status","errmsg",
// "description","sid"}.
func decodeTencentReport(it item) (Report, error) {
	var r Report
	var err error
	if r.MessageID, err = it.requiredStr("sid"); err != nil {
		return r, err
	}
	if r.Phone, err = it.phone("mobile", "nationcode", false); err != nil {
		return r, err
	}
	status, err := it.requiredStr("report_status")
	if err != nil {
		return r, err
	}
	switch strings.ToUpper(strings.TrimSpace(status)) {
	case "SUCCESS":
		r.Delivered = true
	case "FAIL":
		code, err := it.str("errmsg")
		if err != nil {
			return r, err
		}
		desc, err := it.str("description")
		if err != nil {
			return r, err
		}
		r.Error = joinErr(code, desc)
	default:
		return r, it.err("report_status", "want SUCCESS or FAIL")
	}
	if r.At, err = it.localTime("user_receive_time"); err != nil {
		return r, err
	}
	return r, nil
}

// decodeGenericReport maps one generic report (see FORMAT.md):
// {"message_id","to","status":"delivered|failed","error","at"}.
func decodeGenericReport(it item) (Report, error) {
	var r Report
	var err error
	if r.MessageID, err = it.requiredStr("message_id"); err != nil {
		return r, err
	}
	if r.Phone, err = it.phone("to", "", false); err != nil {
		return r, err
	}
	status, err := it.requiredStr("status")
	if err != nil {
		return r, err
	}
	switch status {
	case "delivered":
		r.Delivered = true
	case "failed":
		if r.Error, err = it.str("error"); err != nil {
			return r, err
		}
		if r.Error == "" {
			r.Error = "failed"
		}
	default:
		return r, it.err("status", "want delivered or failed")
	}
	if r.At, err = it.rfc3339("at"); err != nil {
		return r, err
	}
	return r, nil
}

func joinErr(code, msg string) string {
	code, msg = strings.TrimSpace(code), strings.TrimSpace(msg)
	switch {
	case code == "" && msg == "":
		return "undelivered"
	case code == "":
		return msg
	case msg == "" || msg == code:
		return code
	default:
		return code + ": " + msg
	}
}
