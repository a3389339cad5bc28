package smsapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/connectors/smsapi"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/internal/clock"
)

var now = time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)

var clk = clock.NewFake(now)

const citizen = "+8613800138000"

func newGeneric(t *testing.T) (*smsapi.Generic, *smsfake.Generic) {
	t.Helper()
	fake := smsfake.NewGeneric(t, "send-secret", "send-token", smsfake.WithClock(clk))
	s, err := smsapi.NewGeneric(smsapi.GenericConfig{
		Options: smsapi.Options{APIBase: fake.URL(), SignName: sign, Clock: clk},
		Secret:  "send-secret", Token: "send-token",
	})
	require.NoError(t, err)
	return s, fake
}

func newAliyun(t *testing.T) (*smsapi.Aliyun, *smsfake.Aliyun) {
	t.Helper()
	fake := smsfake.NewAliyun(t, "LTAI-test", "aliyun-secret", smsfake.WithClock(clk))
	s, err := smsapi.NewAliyun(smsapi.AliyunConfig{
		Options:     smsapi.Options{APIBase: fake.URL(), SignName: sign, Clock: clk},
		AccessKeyID: "LTAI-test", AccessKeySecret: "aliyun-secret", TemplateCode: "SMS_123456",
	})
	require.NoError(t, err)
	return s, fake
}

func newTencent(t *testing.T) (*smsapi.Tencent, *smsfake.Tencent) {
	t.Helper()
	fake := smsfake.NewTencent(t, "AKID-test", "tencent-key", smsfake.WithClock(clk))
	s, err := smsapi.NewTencent(smsapi.TencentConfig{
		Options:  smsapi.Options{APIBase: fake.URL(), SignName: sign, Clock: clk},
		SecretID: "AKID-test", SecretKey: "tencent-key", SmsSdkAppID: "1400000000", TemplateID: "449739",
	})
	require.NoError(t, err)
	return s, fake
}

// Acceptance: the 150-character reply leaves the generic provider as three
// separate parts of 67 (with the signature), 67 and 25 characters.
func TestGenericSendsEachPart(t *testing.T) {
	s, fake := newGeneric(t)
	res, err := s.Send(context.Background(), citizen, reply150)
	require.NoError(t, err)
	require.Equal(t, 3, res.Parts)
	require.Equal(t, []string{"g-1", "g-2", "g-3"}, res.MessageIDs)

	sent := fake.Sent()
	require.Len(t, sent, 3)
	require.Zero(t, fake.AuthFailures())
	ref := sent[0].UDH.Ref
	require.NotEmpty(t, ref)
	var lens []int
	var joined strings.Builder
	for i, p := range sent {
		require.Equal(t, citizen, p.Phone)
		require.Equal(t, sign, p.Sign)
		require.Equal(t, &smsformat.Part{Ref: ref, Total: 3, Seq: i + 1}, p.UDH)
		n := utf8.RuneCountInString(p.Text)
		if i == 0 {
			n += utf8.RuneCountInString("【" + p.Sign + "】")
		}
		lens = append(lens, n)
		joined.WriteString(p.Text)
	}
	require.Equal(t, []int{67, 67, 25}, lens)
	require.Equal(t, reply150, joined.String())
}

func TestGenericShortMessageHasNoUDH(t *testing.T) {
	s, fake := newGeneric(t)
	res, err := s.Send(context.Background(), "13800138000", "您好，已受理。")
	require.NoError(t, err)
	require.Equal(t, smsapi.Result{MessageIDs: []string{"g-1"}, Parts: 1, Sends: 1}, res)
	sent := fake.Sent()
	require.Len(t, sent, 1)
	require.Nil(t, sent[0].UDH)
	require.Equal(t, citizen, sent[0].Phone, "a bare mainland mobile is normalised")
}

func TestGenericFailures(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		code       string
		wantKind   error
		permanent  bool
		retryAfter time.Duration
	}{
		{"rate limited", http.StatusTooManyRequests, "rate_limited", smsapi.ErrRateLimited, false, time.Second},
		{"unavailable", http.StatusServiceUnavailable, "unavailable", nil, false, 0},
		{"rejected", http.StatusBadRequest, "bad_number", smsapi.ErrRejected, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fake := newGeneric(t)
			fake.FailNext(tt.status, tt.code)
			_, err := s.Send(context.Background(), citizen, "hi")
			requireKind(t, err, tt.wantKind, tt.permanent)
			var e *smsapi.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.status, e.Status)
			require.Equal(t, tt.code, e.Code)
			ra, _ := smsapi.RetryAfter(err)
			require.Equal(t, tt.retryAfter, ra)

			_, err = s.Send(context.Background(), citizen, "hi")
			require.NoError(t, err, "only the next call fails")
		})
	}
}

func TestGenericPartialFailureReportsSentParts(t *testing.T) {
	s, fake := newGeneric(t)
	fake.FailAfter(1, http.StatusServiceUnavailable, "unavailable") // the second part fails
	res, err := s.Send(context.Background(), citizen, reply150)
	requireKind(t, err, nil, false)
	require.Equal(t, smsapi.Result{MessageIDs: []string{"g-1"}, Parts: 3, Sends: 1}, res)
	require.Len(t, fake.Sent(), 1, "the third part is not sent after a failure")
	require.Equal(t, 2, fake.Calls())
}

func TestGenericWrongSecretIsRefused(t *testing.T) {
	fake := smsfake.NewGeneric(t, "right", "", smsfake.WithClock(clk))
	s, err := smsapi.NewGeneric(smsapi.GenericConfig{Options: smsapi.Options{APIBase: fake.URL(), Clock: clk}, Secret: "wrong"})
	require.NoError(t, err)
	_, err = s.Send(context.Background(), citizen, "hi")
	requireKind(t, err, smsapi.ErrRejected, true)
	require.Equal(t, 1, fake.AuthFailures())
	require.Empty(t, fake.Sent())
}

func TestAliyunSend(t *testing.T) {
	s, fake := newAliyun(t)
	res, err := s.Send(context.Background(), citizen, reply150)
	require.NoError(t, err)
	require.Equal(t, smsapi.Result{MessageIDs: []string{"900001^0"}, Parts: 3, Sends: 1}, res)
	sent := fake.Sent()
	require.Len(t, sent, 1, "Aliyun concatenates: one call per message")
	require.Equal(t, smsfake.Sent{Phone: citizen, Wire: "13800138000", Text: reply150, Sign: sign, Template: "SMS_123456", Parts: 3, ID: "900001^0",
		Content: "【" + sign + "】" + reply150}, sent[0])

	// A second send uses a fresh nonce (the fake refuses reused ones).
	_, err = s.Send(context.Background(), "+85291234567", "hello <&> \"quoted\" 100%")
	require.NoError(t, err)
	sent = fake.Sent()
	require.Equal(t, "85291234567", sent[1].Wire)
	require.Equal(t, "hello <&> \"quoted\" 100%", sent[1].Text)
	require.Zero(t, fake.AuthFailures())
}

func TestAliyunCutsAtMaxChars(t *testing.T) {
	fake := smsfake.NewAliyun(t, "id", "secret", smsfake.WithClock(clk))
	s, err := smsapi.NewAliyun(smsapi.AliyunConfig{
		Options:     smsapi.Options{APIBase: fake.URL(), SignName: sign, MaxChars: 100, Clock: clk},
		AccessKeyID: "id", AccessKeySecret: "secret", TemplateCode: "SMS_1",
	})
	require.NoError(t, err)
	res, err := s.Send(context.Background(), citizen, reply150)
	require.NoError(t, err)
	require.Equal(t, 2, res.Parts) // 9 + 100 = 109 → 2 parts
	require.True(t, res.Cut)
	text := fake.Sent()[0].Text
	require.Equal(t, 100, utf8.RuneCountInString(text))
	require.True(t, strings.HasSuffix(text, "…"))
}

func TestAliyunFailures(t *testing.T) {
	tests := []struct {
		status    int
		code      string
		wantKind  error
		permanent bool
	}{
		{200, "isv.BUSINESS_LIMIT_CONTROL", smsapi.ErrRateLimited, false},
		{400, "Throttling.User", smsapi.ErrRateLimited, false},
		{200, "isv.MOBILE_NUMBER_ILLEGAL", smsapi.ErrRejected, true},
		{200, "isv.SMS_TEMPLATE_ILLEGAL", smsapi.ErrRejected, true},
		{200, "isp.SYSTEM_ERROR", nil, false},
		{500, "InternalError", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s, fake := newAliyun(t)
			fake.FailNext(tt.status, tt.code)
			_, err := s.Send(context.Background(), citizen, "hi")
			requireKind(t, err, tt.wantKind, tt.permanent)
			var e *smsapi.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.code, e.Code)
		})
	}
}

func TestAliyunBadCredentials(t *testing.T) {
	for name, cfg := range map[string][2]string{"wrong secret": {"LTAI-test", "nope"}, "unknown key": {"LTAI-other", "aliyun-secret"}} {
		t.Run(name, func(t *testing.T) {
			fake := smsfake.NewAliyun(t, "LTAI-test", "aliyun-secret", smsfake.WithClock(clk))
			s, err := smsapi.NewAliyun(smsapi.AliyunConfig{
				Options:     smsapi.Options{APIBase: fake.URL(), SignName: sign, Clock: clk},
				AccessKeyID: cfg[0], AccessKeySecret: cfg[1], TemplateCode: "SMS_1",
			})
			require.NoError(t, err)
			_, err = s.Send(context.Background(), citizen, "hi")
			requireKind(t, err, smsapi.ErrRejected, true)
			require.Equal(t, 1, fake.AuthFailures())
		})
	}
}

func TestAliyunStaleClockIsRefused(t *testing.T) {
	fake := smsfake.NewAliyun(t, "id", "secret", smsfake.WithClock(clk))
	s, err := smsapi.NewAliyun(smsapi.AliyunConfig{
		Options:     smsapi.Options{APIBase: fake.URL(), SignName: sign, Clock: clock.NewFake(now.Add(-time.Hour))},
		AccessKeyID: "id", AccessKeySecret: "secret", TemplateCode: "SMS_1",
	})
	require.NoError(t, err)
	_, err = s.Send(context.Background(), citizen, "hi")
	require.Error(t, err)
	require.Equal(t, 1, fake.AuthFailures())
}

func TestTencentSend(t *testing.T) {
	s, fake := newTencent(t)
	res, err := s.Send(context.Background(), citizen, reply150)
	require.NoError(t, err)
	require.Equal(t, smsapi.Result{MessageIDs: []string{"5000:1045710670"}, Parts: 3, Sends: 1}, res)
	sent := fake.Sent()
	require.Len(t, sent, 1, "Tencent concatenates: one call per message")
	require.Equal(t, smsfake.Sent{Phone: citizen, Wire: citizen, Text: reply150, Sign: sign, Template: "449739", Parts: 3, ID: "5000:1045710670",
		Content: "【" + sign + "】" + reply150}, sent[0])
	require.Zero(t, fake.AuthFailures())

	res, err = s.Send(context.Background(), citizen, "您好，已受理。")
	require.NoError(t, err)
	require.Equal(t, 1, res.Parts)
}

func TestTencentFailures(t *testing.T) {
	tests := []struct {
		code      string
		wantKind  error
		permanent bool
	}{
		{"LimitExceeded.PhoneNumberThirtySecondLimit", smsapi.ErrRateLimited, false},
		{"RequestLimitExceeded", smsapi.ErrRateLimited, false},
		{"InvalidParameterValue.IncorrectPhoneNumber", smsapi.ErrRejected, true},
		{"FailedOperation.TemplateIncorrectOrUnapproved", smsapi.ErrRejected, true},
		{"InternalError.Timeout", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s, fake := newTencent(t)
			fake.FailNext(http.StatusOK, tt.code)
			_, err := s.Send(context.Background(), citizen, "hi")
			requireKind(t, err, tt.wantKind, tt.permanent)
		})
	}
}

func TestTencentWrongKey(t *testing.T) {
	fake := smsfake.NewTencent(t, "AKID-test", "tencent-key", smsfake.WithClock(clk))
	s, err := smsapi.NewTencent(smsapi.TencentConfig{
		Options:  smsapi.Options{APIBase: fake.URL() + "/", SignName: sign, Clock: clk},
		SecretID: "AKID-test", SecretKey: "other", SmsSdkAppID: "1400000000", TemplateID: "1",
	})
	require.NoError(t, err)
	_, err = s.Send(context.Background(), citizen, "hi")
	requireKind(t, err, smsapi.ErrRejected, true)
	var e *smsapi.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "AuthFailure.SignatureFailure", e.Code)
}

func TestSendRejectsBadInput(t *testing.T) {
	g, gf := newGeneric(t)
	a, af := newAliyun(t)
	tc, tf := newTencent(t)
	for name, s := range map[string]smsapi.Sender{"generic": g, "aliyun": a, "tencent": tc} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Send(context.Background(), "not-a-phone", "hi")
			requireKind(t, err, smsapi.ErrRejected, true)
			require.NotContains(t, err.Error(), "not-a-phone")
			_, err = s.Send(context.Background(), citizen, "")
			requireKind(t, err, smsapi.ErrRejected, true)
		})
	}
	require.Zero(t, gf.Calls()+af.Calls()+tf.Calls(), "nothing reaches the provider")
}

func TestSendTransportFailureIsTransient(t *testing.T) {
	s, fake := newTencent(t)
	fake.Close()
	_, err := s.Send(context.Background(), citizen, "hi")
	requireKind(t, err, nil, false)

	g, _ := newGeneric(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = g.Send(ctx, citizen, "hi")
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, smsapi.Permanent(err))
}

func TestConfigValidation(t *testing.T) {
	_, err := smsapi.NewGeneric(smsapi.GenericConfig{Options: smsapi.Options{APIBase: "http://x"}})
	require.ErrorContains(t, err, "secret or token")
	_, err = smsapi.NewGeneric(smsapi.GenericConfig{Secret: "s"})
	require.ErrorContains(t, err, "api_base")
	_, err = smsapi.NewAliyun(smsapi.AliyunConfig{AccessKeyID: "id", AccessKeySecret: "s", Options: smsapi.Options{SignName: sign}})
	require.ErrorContains(t, err, "template_code")
	_, err = smsapi.NewTencent(smsapi.TencentConfig{SecretID: "id", SecretKey: "k", TemplateID: "1", Options: smsapi.Options{SignName: sign}})
	require.ErrorContains(t, err, "sdk_app_id")
	_, err = smsapi.NewTencent(smsapi.TencentConfig{Options: smsapi.Options{APIBase: "ftp://x"}})
	require.ErrorContains(t, err, "api_base")
}

func requireKind(t *testing.T, err, kind error, permanent bool) {
	t.Helper()
	require.Error(t, err)
	var e *smsapi.Error
	require.ErrorAs(t, err, &e)
	if kind != nil {
		require.ErrorIs(t, err, kind)
	} else {
		require.False(t, errors.Is(err, smsapi.ErrRateLimited) || errors.Is(err, smsapi.ErrRejected), "want transient, got %v", err)
	}
	require.Equal(t, permanent, smsapi.Permanent(err))
	require.NotContains(t, err.Error(), "13800138000", "errors must not carry the number")
}
