package sessions_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

func TestEnvelopes(t *testing.T) {
	stamp := normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: 3 * time.Minute,
		Handling: 24 * time.Hour, Clock: clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))}
	sms := &sessions.Session{ID: "s-1", Channel: normalize.ChannelSMS, Citizen: "+8613800138000", Language: "zh-CN",
		Meta: map[string]string{"phone": "+8613800138000", "native_id": "m-9", "native_type": "sms"}}
	att := []normalize.Attachment{{Type: "image", MediaID: "MEDIA_1"}}
	tests := []struct {
		name  string
		env   *normalize.Envelope
		check func(t *testing.T, e *normalize.Envelope)
	}{
		{"conversation", sessions.ConversationEnvelope(stamp, sms, sessions.Message{Text: "路灯不亮", Attachments: att}),
			func(t *testing.T, e *normalize.Envelope) {
				require.Equal(t, "chat:s-1", e.IdempotencyKey)
				require.Equal(t, normalize.ChannelSMS, e.Channel)
				require.Equal(t, "路灯不亮", e.Content.Text)
				require.Equal(t, att, e.Content.Attachments)
				require.Equal(t, "+8613800138000", e.Citizen.Phone)
				require.Equal(t, "zh-CN", e.Citizen.Language)
				require.Equal(t, &normalize.Source{NativeID: "m-9", NativeType: "sms"}, e.Source)
			}},
		{"video", sessions.VideoEnvelope(stamp, &sessions.Session{ID: "v-1", Channel: normalize.ChannelSignLanguage, Citizen: "web-c"}),
			func(t *testing.T, e *normalize.Envelope) {
				require.Equal(t, "sign_language:video:v-1", e.IdempotencyKey)
				require.Equal(t, sessions.VideoEnvelopeText, e.Content.Text)
				require.Equal(t, &normalize.Source{NativeID: "v-1", NativeType: "video_session"}, e.Source)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.env.Validate())
			require.Equal(t, normalize.KindUnclassified, tc.env.Kind)
			tc.check(t, tc.env)
		})
	}
}
