// Package followup sends the follow-up survey (回访 / 测评, contract §9) of
// every finished request on the request's own channel, takes the citizen's
// answer, and keeps what the satisfaction report counts.
//
// One Record per finished request, keyed by its envelope id, is created in
// the transaction that learns the request is finished (a ticket event
// resolved or closed, or an agent closing the live chat), together with the
// timer that sends the survey. Sending, reminding and expiring are timers of
// the timers package in the follow-up's own bucket, so each happens once,
// across restarts: a send re-arms its timer before it goes out, and only the
// transaction that records the send stops it.
package followup

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"
)

// Ratings a citizen may give (contract §9).
const (
	RatingSatisfied          = "satisfied"
	RatingBasicallySatisfied = "basically_satisfied"
	RatingDissatisfied       = "dissatisfied"
)

// Ratings lists them, best first.
var Ratings = []string{RatingSatisfied, RatingBasicallySatisfied, RatingDissatisfied}

// How a survey reached the citizen.
const (
	ViaTicket = "ticket" // the ticket system said resolved or closed
	ViaChat   = "chat"   // an agent closed the live chat
)

// States of a follow-up, as View and the status answer show them.
const (
	StateNone     = "none"     // no survey: no_follow_up
	StatePending  = "pending"  // waiting for its send (quiet hours, a retry)
	StateSent     = "sent"     // the citizen has it
	StateFailed   = "failed"   // the channel refused it every time
	StateAnswered = "answered" // single use: no second answer
	StateExpired  = "expired"  // survey.expire passed unanswered
)

// MaxComment bounds the optional comment, in characters.
const MaxComment = 500

// Record is the follow-up of one finished request: what the report counts.
type Record struct {
	EnvelopeID   string `json:"envelope_id"`
	Number       string `json:"number,omitempty"`
	Channel      string `json:"channel"`
	HandlingUnit string `json:"handling_unit,omitempty"`
	District     string `json:"district,omitempty"`
	Repeat       bool   `json:"repeat,omitempty"` // triage found an earlier request of the citizen about it
	// FinishedAt is when the ticket system first said resolved or closed;
	// nil for a chat closed by its agent before that.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	NoFollowUp bool       `json:"no_follow_up,omitempty"`

	// The survey; Code is empty when none is sent (no_follow_up).
	Code      string    `json:"code,omitempty"`
	Via       string    `json:"via,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Sends counts surveys that reached the channel, reminders included
	// (a second follow-up counts as one more).
	Sends       int        `json:"sends,omitempty"`
	FirstSentAt *time.Time `json:"first_sent_at,omitempty"`
	Reminded    bool       `json:"reminded,omitempty"`
	Attempts    int        `json:"attempts,omitempty"` // failed sends in a row
	Failed      bool       `json:"failed,omitempty"`

	AnsweredAt      *time.Time `json:"answered_at,omitempty"`
	Resolved        *bool      `json:"resolved,omitempty"`
	Rating          string     `json:"rating,omitempty"`
	ReviewRequested bool       `json:"review_requested,omitempty"`
	ExpiredAt       *time.Time `json:"expired_at,omitempty"`

	// Where the survey goes: the request's session and channel user.
	SessionID     string `json:"session_id,omitempty"`
	ChannelUserID string `json:"channel_user_id,omitempty"`
}

// State says where the follow-up stands.
func (r *Record) State() string {
	switch {
	case r.Code == "":
		return StateNone
	case r.AnsweredAt != nil:
		return StateAnswered
	case r.ExpiredAt != nil:
		return StateExpired
	case r.Failed:
		return StateFailed
	case r.Sends > 0:
		return StateSent
	}
	return StatePending
}

// StateAt is State as of now: a survey past its expiry is expired even
// before its expiry timer fired.
func (r *Record) StateAt(now time.Time) string {
	s := r.State()
	if s != StateAnswered && s != StateNone && !now.Before(r.ExpiresAt) {
		return StateExpired
	}
	return s
}

// Open reports whether the survey takes an answer at now.
func (r *Record) Open(now time.Time) bool {
	s := r.State()
	return (s == StateSent || s == StatePending || s == StateFailed) && now.Before(r.ExpiresAt)
}

// Answer is what a citizen says (POST /v1/surveys/{code}).
type Answer struct {
	Resolved *bool  `json:"resolved" validate:"required"`
	Rating   string `json:"rating" validate:"required,oneof=satisfied basically_satisfied dissatisfied"`
	Comment  string `json:"comment" validate:"max=500"`
}

// View is what the survey page shows of a code.
type View struct {
	State     string    `json:"state"`
	Number    string    `json:"number,omitempty"` // the request number, so the citizen knows which matter
	Channel   string    `json:"channel"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Errors callers branch on.
var (
	ErrUnknown  = errors.New("followup: no such survey")
	ErrAnswered = errors.New("followup: survey already answered")
	ErrExpired  = errors.New("followup: survey expired")
)

// newCode returns an unguessable survey code: 128 random bits, 22 URL-safe
// characters (short enough for a link in one SMS).
func newCode() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validCode is a cheap shape check before any lookup.
func validCode(code string) bool {
	if len(code) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(code)
	return err == nil
}
