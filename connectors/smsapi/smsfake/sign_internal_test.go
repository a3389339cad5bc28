package smsfake

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fakes' verifiers are checked against the providers' published
// examples, so that a sender and a fake cannot agree on a wrong signature.
func TestAliyunSignVector(t *testing.T) {
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
	require.Equal(t, "zJDF+Lrzhj/ThnlvIToysFRq6t4=", aliyunSign("GET", v, "testSecret"))
}

func TestTencentSignVector(t *testing.T) {
	payload := `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	require.Equal(t, "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
		tencentSign("Gu5t9xGARNpq86cd98joQYCN3*******", "cvm", "2019-02-25", "/", "cvm.tencentcloudapi.com",
			"application/json; charset=utf-8", []byte(payload), 1551113065))
}

func TestCarrierParts(t *testing.T) {
	require.Equal(t, 1, carrierParts("", "x"))
	require.Equal(t, 1, carrierParts("12345热线", string(make([]rune, 61))))  // 9 + 61 = 70
	require.Equal(t, 2, carrierParts("12345热线", string(make([]rune, 62))))  // 71
	require.Equal(t, 2, carrierParts("12345热线", string(make([]rune, 125)))) // 134 = 2×67
	require.Equal(t, 3, carrierParts("12345热线", string(make([]rune, 126)))) // 135
}
