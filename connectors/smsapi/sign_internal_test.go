package smsapi

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// Alibaba Cloud's published SendSms signing example (GET form).
func TestPopSignatureAliyunVector(t *testing.T) {
	v := url.Values{}
	for k, val := range map[string]string{
		"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
		"PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
		"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
		"SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": `{"customer":"test"}`,
		"Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25",
	} {
		v.Set(k, val)
	}
	require.Equal(t, "zJDF+Lrzhj/ThnlvIToysFRq6t4=", popSignature("GET", v, "testSecret"))
	v.Set("Signature", "ignored")
	require.Equal(t, "zJDF+Lrzhj/ThnlvIToysFRq6t4=", popSignature("GET", v, "testSecret"), "Signature itself is not signed")
}

func TestPopEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a b": "a%20b", "*": "%2A", "~-_.": "~-_.", "/=&+": "%2F%3D%26%2B", "派": "%E6%B4%BE",
	} {
		require.Equal(t, want, popEscape(in), in)
	}
}

// Tencent Cloud's published TC3 example (CVM DescribeInstances).
func TestTC3SignatureTencentVector(t *testing.T) {
	payload := `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	got := tc3Signature("Gu5t9xGARNpq86cd98joQYCN3*******", "cvm", "/", "cvm.tencentcloudapi.com",
		"application/json; charset=utf-8", []byte(payload), 1551113065)
	require.Equal(t, "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c", got)
	require.Equal(t, "2019-02-25/cvm/tc3_request", tc3Scope(1551113065, "cvm"))
}

func TestSanitize(t *testing.T) {
	require.Equal(t, "phone *** is invalid", sanitize("phone +8613800138000 is invalid"))
	require.Equal(t, "code 1001", sanitize("code 1001"))
}
