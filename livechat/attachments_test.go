package livechat_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

// The chat takes the attachments every channel takes: https links and the
// gateway's own media references, from the widget and from channels alike.
func TestChatAttachmentsAreChecked(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "")
	cit, sid := citizenUp(t, h, "attacher")
	tests := []struct {
		name string
		att  normalize.Attachment
		ok   bool
	}{
		{"https", normalize.Attachment{Type: "image", URL: "https://img.example/1.jpg"}, true},
		{"media reference", normalize.Attachment{Type: "image", MediaID: "MEDIA_1"}, true},
		{"javascript", normalize.Attachment{Type: "link", URL: "javascript:alert(document.cookie)"}, false},
		{"file", normalize.Attachment{Type: "file", URL: "file:///etc/passwd"}, false},
		{"http", normalize.Attachment{Type: "image", URL: "http://img.example/1.jpg"}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name+" on the websocket", func(t *testing.T) {
			id := "att-" + itoa(i)
			cit.SendData(livechat.TypeMessage, sid, id, map[string]any{"text": "see", "attachments": []normalize.Attachment{tc.att}})
			if tc.ok {
				require.Equal(t, id, cit.ExpectFrom("citizen", wait).ID)
				return
			}
			e := cit.Expect(livechat.TypeError, wait)
			require.Equal(t, id, e.ID)
			require.Equal(t, "bad_frame", lt.Data(t, e)["code"])
			require.Contains(t, lt.Data(t, e)["message"], "attachments[0].url")
		})
		t.Run(tc.name+" from a channel", func(t *testing.T) {
			_, err := h.CitizenMessage(context.Background(), channels.InboundMessage{Channel: normalize.ChannelSMS,
				ChannelUserID: "+8613800138000", DedupKey: "att-" + itoa(i), Text: "see", Attachments: []normalize.Attachment{tc.att}})
			if tc.ok {
				require.NoError(t, err)
				return
			}
			var ve *normalize.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Contains(t, ve.Fields, "attachments[0].url")
		})
	}
}
