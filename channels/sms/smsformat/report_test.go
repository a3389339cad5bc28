package smsformat_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

func TestDecodeReports(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		body     string
		want     []smsformat.Report
	}{
		{
			name: "aliyun", provider: "aliyun", body: aliyunReports,
			want: []smsformat.Report{
				{MessageID: "12345^0", Phone: "+8613800138000", Delivered: true, At: time.Date(2017, 1, 1, 0, 0, 5, 0, cst)},
				{MessageID: "12346^0", Phone: "+8613900139000", Error: "MK:0001: 用户关机", At: time.Date(2017, 1, 1, 0, 1, 0, 0, cst)},
			},
		},
		{
			name: "aliyun success as string, no report_time", provider: "aliyun",
			body: `[{"phone_number":"13800138000","send_time":"2017-01-01 00:00:00","success":"true","biz_id":"1"}]`,
			want: []smsformat.Report{{MessageID: "1", Phone: "+8613800138000", Delivered: true, At: time.Date(2017, 1, 1, 0, 0, 0, 0, cst)}},
		},
		{
			name: "tencent", provider: "tencent", body: tencentReports,
			want: []smsformat.Report{
				{MessageID: "sid-1", Phone: "+8613800138000", Delivered: true, At: time.Date(2015, 10, 17, 8, 3, 4, 0, cst)},
				{MessageID: "sid-2", Phone: "+8613900139000", Error: "MK:0005: 空号", At: time.Date(2015, 10, 17, 8, 3, 5, 0, cst)},
			},
		},
		{
			name: "generic", provider: "generic", body: genericReports,
			want: []smsformat.Report{
				{MessageID: "g-1", Phone: "+8613800138000", Delivered: true, At: time.Date(2024, 5, 1, 10, 0, 5, 0, time.UTC)},
				{MessageID: "g-2", Error: "absent subscriber", At: time.Date(2024, 5, 1, 10, 0, 6, 0, time.UTC)},
			},
		},
		{
			name: "generic single failed without error or time", provider: "generic",
			body: `{"message_id":"g-3","status":"failed"}`,
			want: []smsformat.Report{{MessageID: "g-3", Error: "failed"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := smsformat.DecodeReports(tt.provider, []byte(tt.body))
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i := range tt.want {
				require.True(t, tt.want[i].At.Equal(got[i].At), "at %d: %v", i, got[i].At)
				got[i].At = tt.want[i].At
				require.Equal(t, tt.want[i], got[i])
			}
		})
	}
}

func TestDecodeReportsErrors(t *testing.T) {
	tests := []struct {
		name, provider, body, wantField string
	}{
		{"aliyun missing biz_id", "aliyun", `[{"phone_number":"13800138000","success":true}]`, "[0].biz_id"},
		{"aliyun missing success", "aliyun", `[{"biz_id":"1"}]`, "[0].success"},
		{"aliyun success not bool", "aliyun", `[{"biz_id":"1","success":1}]`, "[0].success"},
		{"aliyun bad phone", "aliyun", `[{"biz_id":"1","success":true,"phone_number":"12"}]`, "[0].phone_number"},
		{"tencent unknown status", "tencent", `[{"sid":"1","report_status":"MAYBE"}]`, "[0].report_status"},
		{"tencent missing sid", "tencent", `[{"report_status":"SUCCESS"}]`, "[0].sid"},
		{"tencent bad time", "tencent", `[{"sid":"1","report_status":"SUCCESS","user_receive_time":"17/10/2015"}]`, "[0].user_receive_time"},
		{"generic bad status", "generic", `{"message_id":"1","status":"DELIVRD"}`, "status"},
		{"generic missing id", "generic", `{"status":"delivered"}`, "message_id"},
		{"generic bad at", "generic", `{"message_id":"1","status":"delivered","at":"now"}`, "at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := smsformat.DecodeReports(tt.provider, []byte(tt.body))
			require.ErrorIs(t, err, smsformat.ErrMalformed)
			var fe *smsformat.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.wantField, fe.Field)
		})
	}
}
