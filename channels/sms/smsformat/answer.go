package smsformat

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hotline12345/gateway/internal/apierr"
)

// ContentTypeJSON is the content type of every answer.
const ContentTypeJSON = "application/json; charset=utf-8"

// Ack returns the success answer a provider expects, to be sent with status
// 200 once the callback is durably recorded: Aliyun {"code":0,"msg":"接收成功"},
// Tencent {"result":0,"errmsg":"OK"}, generic {"status":"ok"}. Anything
// else makes the provider retry. An unknown provider gets the generic body.
func Ack(provider string) (contentType string, body []byte) {
	switch provider {
	case ProviderAliyun:
		return ContentTypeJSON, []byte(`{"code":0,"msg":"接收成功"}`)
	case ProviderTencent:
		return ContentTypeJSON, []byte(`{"result":0,"errmsg":"OK"}`)
	default:
		return ContentTypeJSON, []byte(`{"status":"ok"}`)
	}
}

// Reject maps err to an HTTP status and the failure body, so that the
// handler has one place to answer errors:
//
//	ErrMalformed / *FieldError   400 bad_request (the provider gives up after its retries)
//	ErrUnauthorized              401 unauthorized
//	*http.MaxBytesError          413 too_large
//	anything else                503 unavailable (temporary: the provider retries later)
//
// The body is the contract's {"error":{"code","message","fields"}} (the
// status comes from apierr.Status, the gateway's one mapping), to which
// Aliyun's and Tencent's own fields are added, since their consoles show
// them: Aliyun {"error":{…},"code":<status>,"msg":…}, Tencent {"error":{…},
// "result":<status>,"errmsg":…}. Neither provider defines a failure body,
// so one body serves both readers. Messages of unclassified errors are
// replaced by a fixed text, since they may carry internal detail.
func Reject(provider string, err error) (status int, body []byte) {
	code, msg := classify(err)
	status = apierr.Status(code)
	v := rejectBody{Error: &apierr.Error{Code: code, Message: msg}}
	var fe *FieldError
	if errors.As(err, &fe) {
		v.Error.Fields = map[string]string{fe.Field: fe.Reason}
	}
	switch provider {
	case ProviderAliyun:
		v.Code, v.Msg = &status, msg
	case ProviderTencent:
		v.Result, v.Errmsg = &status, msg
	}
	body, mErr := json.Marshal(v)
	if mErr != nil { // cannot happen with these types; keep a valid answer
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	return status, body
}

// rejectBody is the contract's error object plus the provider's fields.
type rejectBody struct {
	Error  *apierr.Error `json:"error"`
	Code   *int          `json:"code,omitempty"` // Aliyun
	Msg    string        `json:"msg,omitempty"`
	Result *int          `json:"result,omitempty"` // Tencent
	Errmsg string        `json:"errmsg,omitempty"`
}

func classify(err error) (code apierr.Code, msg string) {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return apierr.CodeUnavailable, "temporarily unavailable"
	case errors.As(err, &tooBig):
		return apierr.CodeTooLarge, "request body too large"
	case errors.Is(err, ErrUnauthorized):
		return apierr.CodeUnauthorized, err.Error()
	case errors.Is(err, ErrMalformed):
		return apierr.CodeBadRequest, err.Error()
	default:
		return apierr.CodeUnavailable, "temporarily unavailable, retry later"
	}
}
