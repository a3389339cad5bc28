package sms_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms"
	"github.com/hotline12345/gateway/channels/sms/smsformat"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/smsapi/smsfake"
	"github.com/hotline12345/gateway/intake/store"
)

const validGeneric = `{"id":"m1","from":"+8613800138000","text":"你好","sent_at":"2024-05-01T10:00:00Z"}`

// Bad callbacks on both endpoints get the contract's error body (§3), with
// Aliyun's or Tencent's own fields beside it, and record nothing: no
// session, no envelope or event, no pending part.
func TestBadInput(t *testing.T) {
	tokenOnly := func(c *configs.SMS, _ *sms.Options) { c.Secret = "" }
	tests := []struct {
		name     string
		provider string
		tune     func(*configs.SMS, *sms.Options)
		path     string
		body     string
		auth     func(a *smsfake.CallbackAuth)
		status   int
		want     string // exact JSON answer
	}{
		{name: "generic missing from", provider: "generic", body: `{"text":"x","sent_at":"2024-05-01T10:00:00Z"}`, status: 400,
			want: `{"error":{"code":"bad_request","message":"sms: field from: required","fields":{"from":"required"}}}`},
		{name: "generic missing text", provider: "generic", body: `{"from":"13800138000","sent_at":"2024-05-01T10:00:00Z"}`, status: 400,
			want: `{"error":{"code":"bad_request","message":"sms: field text: required","fields":{"text":"required"}}}`},
		{name: "generic missing sent_at", provider: "generic", body: `{"from":"13800138000","text":"x"}`, status: 400,
			want: `{"error":{"code":"bad_request","message":"sms: field sent_at: required","fields":{"sent_at":"required"}}}`},
		{name: "generic non-numeric phone", provider: "generic", body: `{"from":"+86abc00138000","text":"x","sent_at":"2024-05-01T10:00:00Z"}`, status: 400,
			want: `{"error":{"code":"bad_request","message":"sms: field from: not numeric","fields":{"from":"not numeric"}}}`},
		{name: "generic bad udh", provider: "generic", status: 400,
			body: `{"from":"13800138000","text":"x","sent_at":"2024-05-01T10:00:00Z","udh":{"ref":"1","total":2,"seq":3}}`,
			want: `{"error":{"code":"bad_request","message":"sms: field udh.seq: want 1..total","fields":{"udh.seq":"want 1..total"}}}`},
		{name: "generic invalid JSON", provider: "generic", body: `{"from":`, status: 400,
			want: `{"error":{"code":"bad_request","message":"sms: malformed callback: not valid JSON"}}`},
		{name: "generic empty body", provider: "generic", body: ``, status: 400,
			want: `{"error":{"code":"bad_request","message":"sms: malformed callback: empty body"}}`},
		{name: "generic text too long", provider: "generic", status: 400,
			body: `[` + validGeneric + `,{"from":"13800138000","text":"` + strings.Repeat("长", sms.MaxTextChars+1) + `","sent_at":"2024-05-01T10:00:00Z"}]`,
			want: `{"error":{"code":"bad_request","message":"sms: field [1].text: longer than 20000 characters","fields":{"[1].text":"longer than 20000 characters"}}}`},
		{name: "generic one bad item refuses the batch", provider: "generic", status: 400,
			body: `[` + validGeneric + `,{"from":"12","text":"x","sent_at":"2024-05-01T10:00:00Z"}]`,
			want: `{"error":{"code":"bad_request","message":"sms: field [1].from: no country code","fields":{"[1].from":"no country code"}}}`},
		{name: "generic oversize", provider: "generic", tune: func(_ *configs.SMS, o *sms.Options) { o.MaxBody = 512 },
			body: `{"from":"13800138000","text":"` + strings.Repeat("x", 600) + `","sent_at":"2024-05-01T10:00:00Z"}`, status: 413,
			want: `{"error":{"code":"too_large","message":"request body too large"}}`},
		{name: "generic bad token", provider: "generic", tune: tokenOnly, body: validGeneric, status: 401,
			auth: func(a *smsfake.CallbackAuth) { a.Token = "wrong" },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: token mismatch"}}`},
		{name: "generic no token", provider: "generic", tune: tokenOnly, body: validGeneric, status: 401,
			auth: func(a *smsfake.CallbackAuth) { a.Token = "" },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: no token or signature"}}`},
		{name: "generic token without the signature", provider: "generic", body: validGeneric, status: 401,
			auth: func(a *smsfake.CallbackAuth) { a.Secret = "" },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: no token or signature"}}`},
		{name: "generic bad signature", provider: "generic", body: validGeneric, status: 401,
			auth: func(a *smsfake.CallbackAuth) { a.Secret = "other" },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: signature mismatch"}}`},
		{name: "generic stale timestamp", provider: "generic", body: validGeneric, status: 401,
			auth: func(a *smsfake.CallbackAuth) { a.Now = a.Now.Add(-10 * time.Minute) },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: timestamp missing or outside the allowed window"}}`},
		{name: "aliyun missing content", provider: "aliyun", status: 400,
			body: `[{"phone_number":"13800138000","send_time":"2024-05-01 18:00:00","sequence_id":1}]`,
			want: `{"error":{"code":"bad_request","message":"sms: field [0].content: required","fields":{"[0].content":"required"}},` +
				`"code":400,"msg":"sms: field [0].content: required"}`},
		{name: "aliyun bad time", provider: "aliyun", status: 400,
			body: `[{"phone_number":"13800138000","content":"x","send_time":"yesterday","sequence_id":1}]`,
			want: `{"error":{"code":"bad_request","message":"sms: field [0].send_time: want time as 2006-01-02 15:04:05 (Asia/Shanghai)",` +
				`"fields":{"[0].send_time":"want time as 2006-01-02 15:04:05 (Asia/Shanghai)"}},` +
				`"code":400,"msg":"sms: field [0].send_time: want time as 2006-01-02 15:04:05 (Asia/Shanghai)"}`},
		{name: "aliyun bad signature", provider: "aliyun", status: 401,
			body: `[{"phone_number":"13800138000","content":"x","send_time":"2024-05-01 18:00:00","sequence_id":1}]`,
			auth: func(a *smsfake.CallbackAuth) { a.Secret = "nope" },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: signature mismatch"},"code":401,"msg":"sms: unauthorized: signature mismatch"}`},
		{name: "tencent non-numeric mobile", provider: "tencent", status: 400,
			body: `{"mobile":"138OO138000","nationcode":"86","text":"x","time":1714557600}`,
			want: `{"error":{"code":"bad_request","message":"sms: field mobile: not numeric","fields":{"mobile":"not numeric"}},` +
				`"result":400,"errmsg":"sms: field mobile: not numeric"}`},
		{name: "tencent invalid JSON", provider: "tencent", status: 400, body: `[1,2`,
			want: `{"error":{"code":"bad_request","message":"sms: malformed callback: not valid JSON"},"result":400,"errmsg":"sms: malformed callback: not valid JSON"}`},
		{name: "tencent not an object", provider: "tencent", status: 400, body: `"hello"`,
			want: `{"error":{"code":"bad_request","message":"sms: malformed callback: want a JSON object or array"},` +
				`"result":400,"errmsg":"sms: malformed callback: want a JSON object or array"}`},
		{name: "tencent unauthenticated", provider: "tencent", status: 401, body: `{"mobile":"13800138000","nationcode":"86","text":"x","time":1714557600}`,
			auth: func(a *smsfake.CallbackAuth) { a.Secret, a.Token = "", "" },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: no token or signature"},"result":401,"errmsg":"sms: unauthorized: no token or signature"}`},
		{name: "report bad status", provider: "generic", path: sms.PathReports, status: 400,
			body: `{"message_id":"g-1","status":"lost"}`,
			want: `{"error":{"code":"bad_request","message":"sms: field status: want delivered or failed","fields":{"status":"want delivered or failed"}}}`},
		{name: "aliyun report without biz_id", provider: "aliyun", path: sms.PathReports, status: 400,
			body: `[{"phone_number":"13800138000","success":false,"err_code":"DELIVRD"}]`,
			want: `{"error":{"code":"bad_request","message":"sms: field [0].biz_id: required","fields":{"[0].biz_id":"required"}},` +
				`"code":400,"msg":"sms: field [0].biz_id: required"}`},
		{name: "tencent report without sid", provider: "tencent", path: sms.PathReports, status: 400,
			body: `[{"mobile":"13800138000","nationcode":"86","report_status":"FAIL"}]`,
			want: `{"error":{"code":"bad_request","message":"sms: field [0].sid: required","fields":{"[0].sid":"required"}},` +
				`"result":400,"errmsg":"sms: field [0].sid: required"}`},
		{name: "tencent report invalid JSON", provider: "tencent", path: sms.PathReports, status: 400, body: `{`,
			want: `{"error":{"code":"bad_request","message":"sms: malformed callback: not valid JSON"},"result":400,"errmsg":"sms: malformed callback: not valid JSON"}`},
		{name: "report bad token", provider: "tencent", path: sms.PathReports, status: 401,
			body: `[{"sid":"1","report_status":"FAIL"}]`, auth: func(a *smsfake.CallbackAuth) { a.Secret = "x" },
			want: `{"error":{"code":"unauthorized","message":"sms: unauthorized: signature mismatch"},"result":401,"errmsg":"sms: unauthorized: signature mismatch"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startHubEnv(t, tt.provider, "", t0, tt.tune)
			auth := e.auth()
			if tt.auth != nil {
				tt.auth(&auth)
			}
			path := tt.path
			if path == "" {
				path = sms.PathInbound
			}
			status, body := e.postRaw(t, path, []byte(tt.body), auth)
			require.Equal(t, tt.status, status, body)
			require.JSONEq(t, tt.want, body)

			require.Nil(t, openSession(t, e.Hub.DB, phone), "no session")
			envs, evs := outbox(t, e.Hub.Intake)
			require.Empty(t, envs, "no envelope")
			require.Empty(t, evs, "no event")
			require.Zero(t, e.Ch.Pending())
			requireEmptyBuckets(t, e.Hub.DB)
			require.NotContains(t, e.Logs.String(), "13800138000")

			// The same body, correctly authenticated and valid, is accepted
			// afterwards: the refusal left nothing behind that blocks it.
			if tt.status == 401 && path == sms.PathInbound {
				status, body = e.postRaw(t, path, []byte(tt.body), e.auth())
				require.Equal(t, 200, status, body)
			}
		})
	}
}

func requireEmptyBuckets(t *testing.T, db *store.DB) {
	t.Helper()
	require.NoError(t, db.View(func(tx *store.Tx) error {
		for _, b := range sms.Buckets {
			k, _ := tx.Bucket([]byte(b)).Cursor().First()
			require.Nil(t, k, "bucket %s is empty", b)
		}
		return nil
	}))
}

// Fuzzed callbacks never panic or hang and get 200, 400 or 401 answers in
// the provider's format.
func FuzzInbound(f *testing.F) {
	f.Add("generic", []byte(validGeneric))
	f.Add("generic", []byte(`[{"id":1,"from":"13800138000","text":"a","sent_at":"2024-05-01T10:00:00Z","udh":{"ref":"r","total":2,"seq":1}}]`))
	f.Add("aliyun", []byte(`[{"phone_number":"13800138000","content":"x","send_time":"2024-05-01 18:00:00","sequence_id":1}]`))
	f.Add("tencent", []byte(`{"mobile":"13800138000","nationcode":"86","text":"x","time":1714557600}`))
	f.Add("tencent", []byte(`{`))
	envs := map[string]*hubEnv{}
	for _, p := range providers {
		envs[p] = startHubEnv(f, p, "", t0, nil)
	}
	f.Fuzz(func(t *testing.T, provider string, body []byte) {
		e := envs[provider]
		if e == nil {
			return
		}
		status, answer := e.postRaw(t, sms.PathInbound, body, e.auth())
		require.Contains(t, []int{200, 400}, status, answer)
		_, ack := smsformat.Ack(provider)
		if status == 200 {
			require.Equal(t, string(ack), answer)
		}
	})
}
