package smsformat_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

func TestAck(t *testing.T) {
	tests := []struct{ provider, want string }{
		{"aliyun", `{"code":0,"msg":"接收成功"}`},
		{"tencent", `{"result":0,"errmsg":"OK"}`},
		{"generic", `{"status":"ok"}`},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			ct, body := smsformat.Ack(tt.provider)
			require.Equal(t, "application/json; charset=utf-8", ct)
			require.JSONEq(t, tt.want, string(body))
		})
	}
}

// Every refusal carries the contract's error object (§3); Aliyun's and
// Tencent's own fields are added beside it.
func TestReject(t *testing.T) {
	_, fieldErr := smsformat.DecodeInbound("aliyun", []byte(`[{"content":"x"}]`))
	_, syntaxErr := smsformat.DecodeInbound("generic", []byte(`{`))
	internal := fmt.Errorf("append to log for +8613800138000: %w", errors.New("disk full"))
	tests := []struct {
		name, provider string
		err            error
		wantStatus     int
		wantBody       string
	}{
		{"aliyun field", "aliyun", fieldErr, 400, `{"error":{"code":"bad_request","message":"sms: field [0].phone_number: required",` +
			`"fields":{"[0].phone_number":"required"}},"code":400,"msg":"sms: field [0].phone_number: required"}`},
		{"tencent field", "tencent", fieldErr, 400, `{"error":{"code":"bad_request","message":"sms: field [0].phone_number: required",` +
			`"fields":{"[0].phone_number":"required"}},"result":400,"errmsg":"sms: field [0].phone_number: required"}`},
		{"tencent syntax", "tencent", syntaxErr, 400, `{"error":{"code":"bad_request","message":"sms: malformed callback: not valid JSON"},` +
			`"result":400,"errmsg":"sms: malformed callback: not valid JSON"}`},
		{"tencent auth", "tencent", smsformat.ErrBadToken, 401, `{"error":{"code":"unauthorized","message":"sms: unauthorized: token mismatch"},` +
			`"result":401,"errmsg":"sms: unauthorized: token mismatch"}`},
		{"generic field", "generic", fieldErr, 400,
			`{"error":{"code":"bad_request","message":"sms: field [0].phone_number: required","fields":{"[0].phone_number":"required"}}}`},
		{"generic syntax", "generic", syntaxErr, 400, `{"error":{"code":"bad_request","message":"sms: malformed callback: not valid JSON"}}`},
		{"generic too large", "generic", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1 << 20}), 413,
			`{"error":{"code":"too_large","message":"request body too large"}}`},
		{"internal is not leaked", "aliyun", internal, 503, `{"error":{"code":"unavailable","message":"temporarily unavailable, retry later"},` +
			`"code":503,"msg":"temporarily unavailable, retry later"}`},
		{"generic internal", "generic", internal, 503, `{"error":{"code":"unavailable","message":"temporarily unavailable, retry later"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := smsformat.Reject(tt.provider, tt.err)
			require.Equal(t, tt.wantStatus, status)
			require.True(t, json.Valid(body))
			require.JSONEq(t, tt.wantBody, string(body))
		})
	}
}
