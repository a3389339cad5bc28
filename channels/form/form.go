// Package form is the request body the web form and the mobile app post
// (contract §3), and its mapping onto the envelope.
package form

import (
	"strings"
	"time"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

// Request is the web/app request body.
type Request struct {
	ClientRequestID string                 `json:"client_request_id" validate:"max=128"`
	Kind            string                 `json:"kind" validate:"omitempty,oneof=consultation help complaint suggestion other"`
	Text            string                 `json:"text" validate:"max=20000"`
	Contact         *Contact               `json:"contact"`
	Location        *Location              `json:"location"`
	OccurredAt      string                 `json:"occurred_at"`
	Attachments     []normalize.Attachment `json:"attachments" validate:"max=20,dive"`
	// User is the app's user (app channel only). It is in the body so that
	// the app's signature covers it: two users of one app never share a
	// citizen identity (contract §3).
	User *AppUser `json:"user"`
}

// AppUser is the app's own account of its user, the partners' shape.
type AppUser struct {
	ID       string `json:"id" validate:"max=128"`
	Phone    string `json:"phone" validate:"omitempty,phone"`
	Verified bool   `json:"verified"`
}

// Contact is how to reach the citizen.
type Contact struct {
	Name         string `json:"name" validate:"max=100"`
	Phone        string `json:"phone" validate:"omitempty,phone"`
	Confidential bool   `json:"confidential"`
}

// Location is where it happened.
type Location struct {
	Address  string `json:"address" validate:"max=500"`
	District string `json:"district" validate:"max=100"`
}

// Decode parses and validates a body; every failure is a 400 naming fields.
func Decode(body []byte) (*Request, error) {
	var r Request
	if err := httpin.DecodeStrict(body, &r); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	if err := normalize.Validator().Struct(&r); err != nil {
		for k, v := range normalize.FieldErrors(err) {
			fields[k] = v
		}
	}
	if strings.TrimSpace(r.Text) == "" && len(r.Attachments) == 0 {
		fields["text"] = "required"
	}
	if r.OccurredAt != "" {
		if _, err := time.Parse(time.RFC3339, r.OccurredAt); err != nil {
			fields["occurred_at"] = "must be an RFC 3339 date-time"
		}
	}
	for k, v := range normalize.AttachmentFields("attachments", r.Attachments) {
		fields[k] = v
	}
	if len(fields) > 0 {
		return nil, apierr.Invalid("the request is not valid", fields)
	}
	return &r, nil
}

// Apply copies the request into env.
func (r *Request) Apply(env *normalize.Envelope) {
	env.Kind = r.Kind
	if env.Kind == "" {
		env.Kind = normalize.KindUnclassified
	}
	env.Content.Text = strings.TrimSpace(r.Text)
	env.Content.Attachments = r.Attachments
	if r.Contact != nil {
		env.Citizen.Name = r.Contact.Name
		env.Citizen.Phone = r.Contact.Phone
		env.Citizen.Confidential = r.Contact.Confidential
	}
	// An app's user with a phone the app verified (contract §3): the phone
	// to reach them, and one that links their requests across channels.
	if u := r.User; u != nil && u.Verified && u.Phone != "" {
		if env.Citizen.Phone == "" {
			env.Citizen.Phone = u.Phone
		}
		env.Citizen.PhoneVerified = env.Citizen.Phone == u.Phone
	}
	if r.Location != nil && (r.Location.Address != "" || r.Location.District != "") {
		env.Location = &normalize.Location{Address: r.Location.Address, District: r.Location.District}
	}
	if r.OccurredAt != "" {
		t, _ := time.Parse(time.RFC3339, r.OccurredAt)
		t = t.UTC()
		env.OccurredAt = &t
	}
}
