package smsformat_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

var cst = time.FixedZone("CST", 8*3600)

func TestDecodeInbound(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		body     string
		want     []smsformat.Inbound
	}{
		{
			name: "aliyun", provider: "aliyun", body: aliyunUp,
			want: []smsformat.Inbound{{
				ProviderID: "1234567", Phone: "+8613800138000", Text: "我要反映小区夜间施工噪音",
				SentAt: time.Date(2017, 1, 1, 0, 0, 0, 0, cst), DestCode: "1234",
			}},
		},
		{
			name: "aliyun batch, string id, formatted phone, empty text", provider: "aliyun", body: aliyunUpBatch,
			want: []smsformat.Inbound{
				{ProviderID: "9001", Phone: "+8613800138000", Text: "第一条", SentAt: time.Date(2024, 3, 5, 9, 10, 11, 0, cst)},
				{ProviderID: "9002", Phone: "+8613900139000", Text: "", SentAt: time.Date(2024, 3, 5, 9, 10, 12, 0, cst), DestCode: "01"},
			},
		},
		{
			name: "tencent", provider: "tencent", body: tencentUp,
			want: []smsformat.Inbound{{
				Phone: "+8613800138000", Text: "路灯坏了，在人民路和解放路口",
				SentAt: time.Unix(1470000000, 0).UTC(), DestCode: "01",
			}},
		},
		{
			name: "tencent hong kong, time as string", provider: "tencent", body: tencentUpIntl,
			want: []smsformat.Inbound{{Phone: "+85291234567", Text: "hello", SentAt: time.Unix(1470000001, 0).UTC()}},
		},
		{
			name: "generic single object", provider: "generic", body: genericUp,
			want: []smsformat.Inbound{{
				ProviderID: "m-1", Phone: "+8613800138000", Text: "请问公积金怎么提取", DestCode: "12345",
				SentAt: time.Date(2024, 5, 1, 10, 0, 0, 0, cst),
			}},
		},
		{
			name: "generic parts, numeric ref and total", provider: "generic", body: genericUpParts,
			want: []smsformat.Inbound{
				{ProviderID: "m-2a", Phone: "+8613800138000", Text: "第一部分", DestCode: "12345",
					SentAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), Part: &smsformat.Part{Ref: "7f", Total: 2, Seq: 1}},
				{ProviderID: "m-2b", Phone: "+8613800138000", Text: "第二部分", DestCode: "12345",
					SentAt: time.Date(2024, 5, 1, 10, 0, 1, 0, time.UTC), Part: &smsformat.Part{Ref: "127", Total: 2, Seq: 2}},
			},
		},
		{
			name: "generic one-part udh is a whole message", provider: "generic",
			body: `{"from":"+8613800138000","text":"x","sent_at":"2024-05-01T10:00:00Z","udh":{"ref":"1","total":1,"seq":1}}`,
			want: []smsformat.Inbound{{Phone: "+8613800138000", Text: "x", SentAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}},
		},
		{name: "empty array", provider: "aliyun", body: `[]`, want: []smsformat.Inbound{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := smsformat.DecodeInbound(tt.provider, []byte(tt.body))
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i := range tt.want {
				require.True(t, tt.want[i].SentAt.Equal(got[i].SentAt), "sent_at %d: %v", i, got[i].SentAt)
				got[i].SentAt = tt.want[i].SentAt
				require.Equal(t, tt.want[i], got[i])
			}
		})
	}
}

func TestDecodeInboundErrors(t *testing.T) {
	tests := []struct {
		name      string
		provider  string
		body      string
		wantField string // "" when no *FieldError is expected
	}{
		{"empty body", "aliyun", ``, ""},
		{"not json", "aliyun", `phone_number=138`, ""},
		{"truncated", "generic", `{"from":"+86138`, ""},
		{"scalar", "generic", `42`, ""},
		{"array of non-objects", "aliyun", `[1,2]`, "[0]"},
		{"aliyun missing phone", "aliyun", `[{"content":"x","send_time":"2017-01-01 00:00:00"}]`, "[0].phone_number"},
		{"aliyun letters in phone", "aliyun", `[{"phone_number":"138abc","content":"x","send_time":"2017-01-01 00:00:00"}]`, "[0].phone_number"},
		{"aliyun landline without code", "aliyun", `[{"phone_number":"01012345678","content":"x","send_time":"2017-01-01 00:00:00"}]`, "[0].phone_number"},
		{"aliyun bad time", "aliyun", `[{"phone_number":"13800138000","content":"x","send_time":"yesterday"}]`, "[0].send_time"},
		{"aliyun missing time", "aliyun", `[{"phone_number":"13800138000","content":"x"}]`, "[0].send_time"},
		{"aliyun missing content", "aliyun", `[{"phone_number":"13800138000","send_time":"2017-01-01 00:00:00"}]`, "[0].content"},
		{"aliyun content is object", "aliyun", `[{"phone_number":"13800138000","content":{},"send_time":"2017-01-01 00:00:00"}]`, "[0].content"},
		{"aliyun second item bad", "aliyun", `[{"phone_number":"13800138000","content":"x","send_time":"2017-01-01 00:00:00"},{"phone_number":"1","content":"x","send_time":"2017-01-01 00:00:00"}]`, "[1].phone_number"},
		{"tencent missing time", "tencent", `{"mobile":"13800138000","nationcode":"86","text":"x"}`, "time"},
		{"tencent fractional time", "tencent", `{"mobile":"13800138000","nationcode":"86","text":"x","time":1.5}`, "time"},
		{"tencent bad nationcode", "tencent", `{"mobile":"13800138000","nationcode":"abc","text":"x","time":1}`, "nationcode"},
		{"tencent missing text", "tencent", `{"mobile":"13800138000","nationcode":"86","time":1}`, "text"},
		{"generic missing from", "generic", `{"text":"x","sent_at":"2024-05-01T10:00:00Z"}`, "from"},
		{"generic bad sent_at", "generic", `{"from":"+8613800138000","text":"x","sent_at":"2024-05-01 10:00:00"}`, "sent_at"},
		{"generic missing sent_at", "generic", `{"from":"+8613800138000","text":"x"}`, "sent_at"},
		{"generic seq beyond total", "generic", `{"from":"+8613800138000","text":"x","sent_at":"2024-05-01T10:00:00Z","udh":{"ref":"a","total":2,"seq":3}}`, "udh.seq"},
		{"generic total too big", "generic", `{"from":"+8613800138000","text":"x","sent_at":"2024-05-01T10:00:00Z","udh":{"ref":"a","total":256,"seq":1}}`, "udh.total"},
		{"generic missing ref", "generic", `{"from":"+8613800138000","text":"x","sent_at":"2024-05-01T10:00:00Z","udh":{"total":2,"seq":1}}`, "udh.ref"},
		{"generic udh not object", "generic", `{"from":"+8613800138000","text":"x","sent_at":"2024-05-01T10:00:00Z","udh":"1/2"}`, "udh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := smsformat.DecodeInbound(tt.provider, []byte(tt.body))
			require.Error(t, err)
			require.ErrorIs(t, err, smsformat.ErrMalformed)
			var fe *smsformat.FieldError
			if tt.wantField == "" {
				require.False(t, errors.As(err, &fe), "unexpected field error %v", err)
				return
			}
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.wantField, fe.Field)
			require.NotContains(t, err.Error(), "138", "errors must not quote phone numbers")
		})
	}
}

func TestDecodeUnknownProvider(t *testing.T) {
	_, err := smsformat.DecodeInbound("twilio", []byte(`{}`))
	require.ErrorIs(t, err, smsformat.ErrUnknownProvider)
	_, err = smsformat.DecodeReports("", []byte(`{}`))
	require.ErrorIs(t, err, smsformat.ErrUnknownProvider)
}

func TestDecodeInboundBatchLimit(t *testing.T) {
	body := []byte("[")
	for i := 0; i <= smsformat.MaxBatch; i++ {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"phone_number":"13800138000","content":"x","send_time":"2017-01-01 00:00:00"}`...)
	}
	body = append(body, ']')
	_, err := smsformat.DecodeInbound("aliyun", body)
	require.ErrorIs(t, err, smsformat.ErrMalformed)
}
