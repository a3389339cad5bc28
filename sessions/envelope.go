package sessions

import "github.com/hotline12345/gateway/normalize"

// VideoEnvelopeText is the content of the envelope a video session creates.
const VideoEnvelopeText = "手语视频通话请求"

// ConversationEnvelope maps a conversation onto the envelope its first
// citizen message makes (idempotency key "chat:<session id>", kind
// unclassified): the message's text and attachments, the citizen's language,
// the phone and the channel's own ids the session recorded.
func ConversationEnvelope(stamp normalize.Stamp, s *Session, m Message) *normalize.Envelope {
	env := stamp.New(s.Channel, "chat:"+s.ID, s.Citizen)
	env.SessionID = s.ID
	env.Kind = normalize.KindUnclassified
	env.Content = normalize.Content{Text: m.Text, Attachments: m.Attachments}
	env.Citizen.Language = s.Language
	if p := s.Meta["phone"]; p != "" {
		env.Citizen.Phone = p
		// The SMS sender's number is the one the message came from.
		env.Citizen.PhoneVerified = s.Channel == normalize.ChannelSMS
	}
	if s.Meta["native_id"] != "" || s.Meta["native_type"] != "" {
		env.Source = &normalize.Source{NativeID: s.Meta["native_id"], NativeType: s.Meta["native_type"]}
	}
	return env
}

// VideoEnvelope maps a new sign-language video session onto its envelope,
// made when the session opens (a call may carry no message).
func VideoEnvelope(stamp normalize.Stamp, s *Session) *normalize.Envelope {
	env := stamp.New(normalize.ChannelSignLanguage, normalize.ChannelSignLanguage+":video:"+s.ID, s.Citizen)
	env.SessionID = s.ID
	env.Kind = normalize.KindUnclassified
	env.Content = normalize.Content{Text: VideoEnvelopeText}
	env.Citizen.Language = s.Language
	env.Source = &normalize.Source{NativeID: s.ID, NativeType: "video_session"}
	return env
}
