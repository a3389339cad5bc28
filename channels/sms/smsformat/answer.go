package smsformat

import (
	"encoding/json"
	"errors"
	"net/http"
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

// Reject maps err to an HTTP status and the provider's failure body, so that
// the handler has one place to answer errors:
//
//	ErrMalformed / *FieldError   400 (the provider gives up after its retries)
//	ErrUnauthorized              401
//	*http.MaxBytesError          413
//	anything else                503 (temporary: the provider retries later)
//
// The body is Aliyun {"code":<status>,"msg":…}, Tencent {"result":<status>,
// "errmsg":…}, or for generic the gateway's error shape {"error":{"code",
// "message","fields"}}. Messages of unclassified errors are replaced by a
// fixed text, since they may carry internal detail.
func Reject(provider string, err error) (status int, body []byte) {
	status, code, msg := classify(err)
	var v any
	switch provider {
	case ProviderAliyun:
		v = struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		}{status, msg}
	case ProviderTencent:
		v = struct {
			Result int    `json:"result"`
			Errmsg string `json:"errmsg"`
		}{status, msg}
	default:
		type apiErr struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields,omitempty"`
		}
		e := apiErr{Code: code, Message: msg}
		var fe *FieldError
		if errors.As(err, &fe) {
			e.Fields = map[string]string{fe.Field: fe.Reason}
		}
		v = struct {
			Error apiErr `json:"error"`
		}{e}
	}
	body, mErr := json.Marshal(v)
	if mErr != nil { // cannot happen with these types; keep a valid answer
		body = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	return status, body
}

func classify(err error) (status int, code, msg string) {
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusServiceUnavailable, "unavailable", "temporarily unavailable"
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "too_large", "request body too large"
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized", err.Error()
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest, "bad_request", err.Error()
	default:
		return http.StatusServiceUnavailable, "unavailable", "temporarily unavailable, retry later"
	}
}
