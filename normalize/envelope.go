// Package normalize owns the gateway's common language: Envelope v1 (one
// citizen request from any channel), Event v1 and Ticket event v1, exactly as
// the contract's JSON Schemas describe them, plus their validation. Nothing in
// here knows a channel; channels depend on this package, never the reverse.
package normalize

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/google/uuid"
)

// SchemaEnvelope is the value of Envelope.Schema and of the `schema` record header.
const SchemaEnvelope = "envelope/v1"

// Channel names as they appear in envelopes and events.
const (
	ChannelWeb           = "web"
	ChannelApp           = "app"
	ChannelWechat        = "wechat_miniprogram"
	ChannelSuishenban    = "suishenban"
	ChannelYiwangtongban = "yiwangtongban"
	ChannelSignLanguage  = "sign_language"
	ChannelSMS           = "sms"
)

// Channels lists every channel value the contract allows.
var Channels = []string{ChannelWeb, ChannelApp, ChannelWechat, ChannelSuishenban, ChannelYiwangtongban, ChannelSignLanguage, ChannelSMS}

// Kinds of request; "unclassified" is for channels that do not say.
const (
	KindConsultation = "consultation"
	KindHelp         = "help"
	KindComplaint    = "complaint"
	KindSuggestion   = "suggestion"
	KindOther        = "other"
	KindUnclassified = "unclassified"
)

// Envelope is one citizen request, normalized from any channel (envelope/v1).
// Optional fields are pointers or omitempty so that the JSON carries exactly
// what the schema allows.
type Envelope struct {
	Schema string `json:"schema" validate:"eq=envelope/v1"`
	ID     string `json:"id" validate:"min=16,max=64"`
	// Number is the short request number (contract §11, number.go), which
	// the intake log assigns as it accepts the envelope.
	Number         string     `json:"number,omitempty" validate:"omitempty,numeric,min=8,max=14"`
	IdempotencyKey string     `json:"idempotency_key" validate:"min=1,max=256"`
	Channel        string     `json:"channel" validate:"oneof=web app wechat_miniprogram suishenban yiwangtongban sign_language sms"`
	Kind           string     `json:"kind,omitempty" validate:"omitempty,oneof=consultation help complaint suggestion other unclassified"`
	ReceivedAt     time.Time  `json:"received_at" validate:"required"`
	ChannelSentAt  *time.Time `json:"channel_sent_at,omitempty"`
	CitizenKey     string     `json:"citizen_key" validate:"min=1"`
	Citizen        Citizen    `json:"citizen"`
	Content        Content    `json:"content"`
	Location       *Location  `json:"location,omitempty"`
	OccurredAt     *time.Time `json:"occurred_at,omitempty"`
	SessionID      string     `json:"session_id,omitempty"`
	SLA            SLA        `json:"sla"`
	Source         *Source    `json:"source,omitempty"`
	TraceID        string     `json:"trace_id,omitempty"`
	// Triage is what intake noticed (contract §10); nil when nothing.
	Triage *Triage `json:"triage,omitempty"`
}

// Triage is what the gateway noticed at intake.
type Triage struct {
	Priority  string     `json:"priority,omitempty" validate:"omitempty,oneof=normal urgent emergency"`
	Emergency *Emergency `json:"emergency,omitempty"`
	RepeatOf  []string   `json:"repeat_of,omitempty" validate:"max=20"`
	Language  string     `json:"language,omitempty" validate:"max=35"`
}

// Emergency names the category and the rules that matched, never the
// citizen's words.
type Emergency struct {
	Category    string     `json:"category" validate:"oneof=fire medical crime traffic hazard self_harm other"`
	Rules       []string   `json:"rules,omitempty"`
	HandedOffAt *time.Time `json:"handed_off_at,omitempty"`
}

// Citizen is who asked, as the channel knows them.
type Citizen struct {
	ChannelUserID string `json:"channel_user_id" validate:"min=1"`
	Name          string `json:"name,omitempty" validate:"max=200"`
	Phone         string `json:"phone,omitempty" validate:"omitempty,phone"`
	Confidential  bool   `json:"confidential,omitempty"`
	Language      string `json:"language,omitempty" validate:"max=35"`
	// PhoneVerified: the channel vouches for Phone (the SMS sender, an app's
	// or partner's user.verified, WeChat's phone authorisation), so that it
	// links the citizen's requests across channels (contract §10). Not
	// published: the envelope schema has no field for it.
	PhoneVerified bool `json:"-"`
}

// Content is what the citizen said: text, attachments or both.
type Content struct {
	Text        string       `json:"text,omitempty" validate:"max=20000"`
	Attachments []Attachment `json:"attachments,omitempty" validate:"max=20,dive"`
}

// Attachment is a picture, recording, file, page or place the citizen sent.
type Attachment struct {
	Type    string `json:"type" validate:"oneof=image audio video file location link miniprogram_page"`
	URL     string `json:"url,omitempty" validate:"max=2048"`
	MediaID string `json:"media_id,omitempty" validate:"max=256"`
	MIME    string `json:"mime,omitempty" validate:"max=128"`
	Size    int64  `json:"size,omitempty" validate:"min=0"`
	SHA256  string `json:"sha256,omitempty" validate:"max=64"`
	Title   string `json:"title,omitempty" validate:"max=500"`
}

// Location is where it happened.
type Location struct {
	Address  string   `json:"address,omitempty" validate:"max=500"`
	District string   `json:"district,omitempty" validate:"max=100"`
	Lat      *float64 `json:"lat,omitempty" validate:"omitempty,min=-90,max=90"`
	Lng      *float64 `json:"lng,omitempty" validate:"omitempty,min=-180,max=180"`
}

// SLA carries the two due times every request starts with.
type SLA struct {
	FirstResponseDue time.Time `json:"first_response_due" validate:"required"`
	HandlingDue      time.Time `json:"handling_due" validate:"required"`
}

// Source records what the channel itself said, for tracing.
type Source struct {
	NativeID   string `json:"native_id,omitempty"`
	NativeType string `json:"native_type,omitempty"`
	Partner    string `json:"partner,omitempty"`
	AppKey     string `json:"app_key,omitempty"`
}

// NewID returns a time-ordered identifier (UUIDv7), as envelope and event ids
// must be. It panics only if the system's random source fails, as uuid does.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// CitizenKeyer derives the stable pseudonymous citizen_key from a channel and
// the channel's user id. The salt is kept in the data directory so the key is
// stable across restarts but cannot be reversed by hashing every phone number.
type CitizenKeyer struct{ Salt []byte }

// Key returns hex(HMAC-SHA256(salt, channel + ":" + userID))[:32].
func (k CitizenKeyer) Key(channel, userID string) string {
	m := hmac.New(sha256.New, k.Salt)
	m.Write([]byte(channel))
	m.Write([]byte{':'})
	m.Write([]byte(userID))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// Receipt is what an intake endpoint answers once the envelope is durable.
type Receipt struct {
	ID string `json:"id"`
	// Number is the request number the citizen quotes (contract §11); empty
	// only for a repeat of a request accepted before numbers existed.
	Number           string    `json:"number,omitempty"`
	Status           string    `json:"status"`
	ReceivedAt       time.Time `json:"received_at"`
	FirstResponseDue time.Time `json:"first_response_due"`
	HandlingDue      time.Time `json:"handling_due"`
	// Notice is what the citizen must read at once (contract §10: in an
	// emergency, to call 110 / 119 / 120).
	Notice string `json:"notice,omitempty"`
}

// ReceiptFor returns the receipt of an accepted envelope.
func ReceiptFor(e *Envelope) Receipt {
	return Receipt{ID: e.ID, Number: e.Number, Status: StatusAccepted, ReceivedAt: e.ReceivedAt,
		FirstResponseDue: e.SLA.FirstResponseDue, HandlingDue: e.SLA.HandlingDue, Notice: NoticeFor(e)}
}

// EmergencyNotice tells a citizen in danger where to call, in Chinese and
// English: a call is faster than any request. HandedOffNotice adds that the
// request went to the emergency centre, said only when it did.
const (
	EmergencyNotice = "如您正处于危险之中，请立即拨打 110（报警）、119（火警）或 120（急救）。" +
		" If you are in danger, call 110 (police), 119 (fire) or 120 (ambulance) now."
	HandedOffNotice = "如您正处于危险之中，请立即拨打 110（报警）、119（火警）或 120（急救）。您的诉求已转交市应急联动中心。" +
		" If you are in danger, call 110 (police), 119 (fire) or 120 (ambulance) now. Your request has been passed to the city's emergency centre."
)

// NoticeFor is the notice an envelope's citizen is shown, or "".
func NoticeFor(e *Envelope) string {
	if e.Triage == nil || e.Triage.Priority != PriorityEmergency {
		return ""
	}
	if em := e.Triage.Emergency; em != nil && em.HandedOffAt != nil {
		return HandedOffNotice
	}
	return EmergencyNotice
}

// PriorityEmergency is triage.priority of an emergency.
const PriorityEmergency = "emergency"

// Request statuses, as GET /v1/requests/{id} reports them.
const (
	StatusAccepted     = "accepted"
	StatusAcknowledged = "acknowledged"
	StatusAnswered     = "answered"
	StatusDispatched   = "dispatched"
	StatusResolved     = "resolved"
	StatusRejected     = "rejected"
	StatusClosed       = "closed"
)
