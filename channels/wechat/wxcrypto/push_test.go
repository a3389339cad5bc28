package wxcrypto_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
)

// Sample pushes in the shapes of WeChat's customer-service message docs.
const (
	textXML = `<xml>
  <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>
  <FromUserName><![CDATA[oUSER]]></FromUserName>
  <CreateTime>1482048670</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[路灯坏了 <b>&amp;</b>]]></Content>
  <MsgId>1234567890123456</MsgId>
</xml>`
	imageJSON        = `{"ToUserName":"gh_97417a04a28d","FromUserName":"oUSER","CreateTime":1482048670,"MsgType":"image","PicUrl":"https://mmbiz.qpic.cn/x","MediaId":"MEDIA_ID","MsgId":1234567890123457}`
	miniprogramXML   = `<xml><ToUserName><![CDATA[gh]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1482048670</CreateTime><MsgType><![CDATA[miniprogrampage]]></MsgType><MsgId>1234567890123458</MsgId><Title><![CDATA[Title]]></Title><AppId><![CDATA[wxapp]]></AppId><PagePath><![CDATA[pages/index]]></PagePath><ThumbUrl><![CDATA[https://thumb]]></ThumbUrl><ThumbMediaId><![CDATA[THUMB]]></ThumbMediaId></xml>`
	enterSessionJSON = `{"ToUserName":"gh","FromUserName":"oUSER","CreateTime":1482048670,"MsgType":"event","Event":"user_enter_tempsession","SessionFrom":"sessionFrom"}`
)

func TestDecodePush(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		format wxcrypto.Format
		want   wxcrypto.Push
		dedup  string
		known  bool
	}{
		{"text xml", textXML, wxcrypto.FormatXML, wxcrypto.Push{ToUserName: "gh_97417a04a28d", FromUserName: "oUSER", CreateTime: 1482048670, MsgType: "text", Content: "路灯坏了 <b>&amp;</b>", MsgID: 1234567890123456}, "msg:1234567890123456", true},
		{"image json", imageJSON, wxcrypto.FormatJSON, wxcrypto.Push{ToUserName: "gh_97417a04a28d", FromUserName: "oUSER", CreateTime: 1482048670, MsgType: "image", PicURL: "https://mmbiz.qpic.cn/x", MediaID: "MEDIA_ID", MsgID: 1234567890123457}, "msg:1234567890123457", true},
		{"miniprogrampage xml", miniprogramXML, wxcrypto.FormatXML, wxcrypto.Push{ToUserName: "gh", FromUserName: "oUSER", CreateTime: 1482048670, MsgType: "miniprogrampage", MsgID: 1234567890123458, Title: "Title", AppID: "wxapp", PagePath: "pages/index", ThumbURL: "https://thumb", ThumbMediaID: "THUMB"}, "msg:1234567890123458", true},
		{"enter session json", enterSessionJSON, wxcrypto.FormatJSON, wxcrypto.Push{ToUserName: "gh", FromUserName: "oUSER", CreateTime: 1482048670, MsgType: "event", Event: "user_enter_tempsession", SessionFrom: "sessionFrom"}, "evt:oUSER:1482048670", true},
		{"unknown type", `{"FromUserName":"oUSER","CreateTime":1,"MsgType":"voice","MediaId":"m","MsgId":7}`, wxcrypto.FormatJSON, wxcrypto.Push{FromUserName: "oUSER", CreateTime: 1, MsgType: "voice", MediaID: "m", MsgID: 7}, "msg:7", false},
		{"unknown event", `<xml><FromUserName>oUSER</FromUserName><CreateTime>2</CreateTime><MsgType>event</MsgType><Event>kf_close_session</Event></xml>`, wxcrypto.FormatXML, wxcrypto.Push{FromUserName: "oUSER", CreateTime: 2, MsgType: "event", Event: "kf_close_session"}, "evt:oUSER:2", false},
		{"bom, whitespace, prolog, comment", "\xef\xbb\xbf \r\n<?xml version=\"1.0\"?><!-- c --><xml><FromUserName>u</FromUserName><MsgType>text</MsgType><Content>hi</Content></xml>\n<!-- end -->\n", wxcrypto.FormatXML, wxcrypto.Push{FromUserName: "u", MsgType: "text", Content: "hi"}, "evt:u:0", true},
		{"json whitespace and extra fields", "\n\t{\"FromUserName\":\"u\",\"MsgType\":\"text\",\"Content\":\"hi\",\"extra\":{\"a\":[1]}}  \n", wxcrypto.FormatJSON, wxcrypto.Push{FromUserName: "u", MsgType: "text", Content: "hi"}, "evt:u:0", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			p, f, err := wxcrypto.DecodePush(body)
			require.NoError(t, err)
			require.Equal(t, tc.format, f)
			require.Equal(t, tc.dedup, p.DedupKey())
			require.Equal(t, tc.known, p.Known())
			require.Equal(t, body, p.Raw)
			body[len(body)-1] = 'X'
			require.NotEqual(t, body, p.Raw, "Raw must not alias the caller's buffer")
			tc.want.Raw, tc.want.Format = p.Raw, tc.format
			require.Equal(t, tc.want, *p)
		})
	}
}

func TestDecodePushMalformed(t *testing.T) {
	cases := []struct {
		name string
		body string
		want error
	}{
		{"empty", "", wxcrypto.ErrMalformed},
		{"spaces", " \n\t", wxcrypto.ErrMalformed},
		{"plain text", "hello", wxcrypto.ErrMalformed},
		{"json array", `[{"MsgType":"text"}]`, wxcrypto.ErrMalformed},
		{"json null", `null`, wxcrypto.ErrMalformed},
		{"json truncated", `{"FromUserName":"u","MsgType":"text"`, wxcrypto.ErrMalformed},
		{"json trailing object", `{"FromUserName":"u","MsgType":"text"}{}`, wxcrypto.ErrMalformed},
		{"json trailing garbage", `{"FromUserName":"u","MsgType":"text"} x`, wxcrypto.ErrMalformed},
		{"json CreateTime string", `{"FromUserName":"u","MsgType":"text","CreateTime":"1"}`, wxcrypto.ErrMalformed},
		{"json MsgId float", `{"FromUserName":"u","MsgType":"text","MsgId":1.5}`, wxcrypto.ErrMalformed},
		{"json missing MsgType", `{"FromUserName":"u","Content":"x"}`, wxcrypto.ErrMalformed},
		{"json missing FromUserName", `{"MsgType":"text","Content":"x"}`, wxcrypto.ErrMalformed},
		{"xml unclosed", `<xml><FromUserName>u</FromUserName><MsgType>text</MsgType>`, wxcrypto.ErrMalformed},
		{"xml mismatched", `<xml><FromUserName>u</MsgType></xml>`, wxcrypto.ErrMalformed},
		{"xml wrong root", `<msg><FromUserName>u</FromUserName><MsgType>text</MsgType></msg>`, wxcrypto.ErrMalformed},
		{"xml trailing element", `<xml><FromUserName>u</FromUserName><MsgType>text</MsgType></xml><xml/>`, wxcrypto.ErrMalformed},
		{"xml trailing text", `<xml><FromUserName>u</FromUserName><MsgType>text</MsgType></xml>junk`, wxcrypto.ErrMalformed},
		{"xml CreateTime text", `<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><CreateTime>noon</CreateTime></xml>`, wxcrypto.ErrMalformed},
		{"xml undefined entity", `<xml><FromUserName>&bad;</FromUserName><MsgType>text</MsgType></xml>`, wxcrypto.ErrMalformed},
		{"xml foreign charset", `<?xml version="1.0" encoding="GBK"?><xml><FromUserName>u</FromUserName><MsgType>text</MsgType></xml>`, wxcrypto.ErrMalformed},
		{"xml missing MsgType", `<xml><FromUserName>u</FromUserName></xml>`, wxcrypto.ErrMalformed},
		{"too large", "{" + strings.Repeat(" ", wxcrypto.MaxPushBytes) + "}", wxcrypto.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := wxcrypto.DecodePush([]byte(tc.body))
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, p)
		})
	}
}

func TestDecodeEncrypted(t *testing.T) {
	cases := []struct {
		name, body, enc, to string
		format              wxcrypto.Format
		wantErr             error
	}{
		{"xml", `<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt></xml>`, "abc=", "gh", wxcrypto.FormatXML, nil},
		{"json", `{"ToUserName":"gh","Encrypt":"abc="}`, "abc=", "gh", wxcrypto.FormatJSON, nil},
		{"json no ToUserName", `{"Encrypt":"abc="}`, "abc=", "", wxcrypto.FormatJSON, nil},
		{"xml no Encrypt", `<xml><ToUserName>gh</ToUserName></xml>`, "", "", wxcrypto.FormatXML, wxcrypto.ErrMalformed},
		{"json empty Encrypt", `{"ToUserName":"gh","Encrypt":""}`, "", "", wxcrypto.FormatJSON, wxcrypto.ErrMalformed},
		{"json Encrypt number", `{"Encrypt":5}`, "", "", wxcrypto.FormatJSON, wxcrypto.ErrMalformed},
		{"xml trailing", `<xml><Encrypt>a</Encrypt></xml><x/>`, "", "", wxcrypto.FormatXML, wxcrypto.ErrMalformed},
		{"neither", `Encrypt=abc`, "", "", wxcrypto.FormatUnknown, wxcrypto.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc, to, f, err := wxcrypto.DecodeEncrypted([]byte(tc.body))
			require.ErrorIs(t, err, tc.wantErr)
			require.Equal(t, tc.format, f)
			require.Equal(t, tc.enc, enc)
			require.Equal(t, tc.to, to)
		})
	}
}

func TestFormatString(t *testing.T) {
	require.Equal(t, "json", wxcrypto.FormatJSON.String())
	require.Equal(t, "xml", wxcrypto.FormatXML.String())
	require.Equal(t, "unknown", wxcrypto.Format(9).String())
}

func BenchmarkDecodePush(b *testing.B) {
	for _, bc := range []struct{ name, body string }{{"xml", textXML}, {"json", imageJSON}} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := wxcrypto.DecodePush(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
