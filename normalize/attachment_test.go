package normalize_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize"
)

// One check for every channel and the chat: https links, the gateway's own
// media references (a media_id, no url) and mini-program page paths only.
func TestAttachmentURLCheck(t *testing.T) {
	tests := []struct {
		name string
		a    normalize.Attachment
		ok   bool
	}{
		{"https", normalize.Attachment{Type: "image", URL: "https://img.example/1.jpg?a=1"}, true},
		{"HTTPS upper case", normalize.Attachment{Type: "image", URL: "HTTPS://img.example/1.jpg"}, true},
		{"media reference only", normalize.Attachment{Type: "image", MediaID: "MEDIA_1"}, true},
		{"wechat image", normalize.Attachment{Type: "image", URL: "https://mmbiz.qpic.cn/pic", MediaID: "MEDIA_1"}, true},
		{"mini-program page path", normalize.Attachment{Type: "miniprogram_page", URL: "pages/guide?id=7", MediaID: "THUMB_1"}, true},
		{"mini-program page as https", normalize.Attachment{Type: "miniprogram_page", URL: "https://example.gov.cn/p"}, true},
		{"javascript", normalize.Attachment{Type: "link", URL: "javascript:alert(1)"}, false},
		{"javascript mixed case", normalize.Attachment{Type: "link", URL: "JaVaScRiPt:alert(1)"}, false},
		{"javascript with a tab", normalize.Attachment{Type: "link", URL: "java\tscript:alert(1)"}, false},
		{"javascript after a space", normalize.Attachment{Type: "link", URL: " javascript:alert(1)"}, false},
		{"javascript as a page", normalize.Attachment{Type: "miniprogram_page", URL: "javascript:alert(1)"}, false},
		{"file", normalize.Attachment{Type: "file", URL: "file:///etc/passwd"}, false},
		{"data", normalize.Attachment{Type: "image", URL: "data:text/html;base64,PHNjcmlwdD4="}, false},
		{"http", normalize.Attachment{Type: "image", URL: "http://img.example/1.jpg"}, false},
		{"scheme-relative", normalize.Attachment{Type: "image", URL: "//evil.example/x"}, false},
		{"relative path", normalize.Attachment{Type: "image", URL: "/v1/media/1"}, false},
		{"page path from the root", normalize.Attachment{Type: "miniprogram_page", URL: "//evil.example/x"}, false},
		{"https without host", normalize.Attachment{Type: "image", URL: "https:/x"}, false},
		{"https opaque", normalize.Attachment{Type: "image", URL: "https:evil.example"}, false},
		{"user and password", normalize.Attachment{Type: "link", URL: "https://bank.example@evil.example/"}, false},
		{"backslash", normalize.Attachment{Type: "link", URL: `https:\\evil.example`}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := normalize.AttachmentURLProblem(tc.a)
			if tc.ok {
				require.Empty(t, p)
			} else {
				require.NotEmpty(t, p)
			}
			e := stamp().New(normalize.ChannelWeb, "web:abc", "web-citizen-1")
			e.Content.Attachments = []normalize.Attachment{{Type: "image", URL: "https://img.example/0.jpg"}, tc.a}
			err := e.Validate()
			if tc.ok {
				require.NoError(t, err)
				return
			}
			var ve *normalize.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, map[string]string{"content.attachments[1].url": p}, ve.Fields)
			require.ErrorAs(t, normalize.CheckAttachments("attachments", e.Content.Attachments), &ve)
			require.Equal(t, map[string]string{"attachments[1].url": p}, ve.Fields)
		})
	}
}
