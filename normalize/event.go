package normalize

import (
	"encoding/json"
	"time"
)

// SchemaEvent is the value of Event.Schema and of the `schema` record header.
const SchemaEvent = "event/v1"

// Event types (event.schema.json).
const (
	EventRequestAccepted       = "request.accepted"
	EventRequestAcknowledged   = "request.acknowledged"
	EventRequestDuplicate      = "request.duplicate"
	EventSessionOpened         = "session.opened"
	EventSessionQueued         = "session.queued"
	EventSessionOffered        = "session.offered"
	EventSessionAssigned       = "session.assigned"
	EventSessionTransferred    = "session.transferred"
	EventSessionClosed         = "session.closed"
	EventMessageCitizen        = "message.citizen"
	EventMessageAgent          = "message.agent"
	EventMessageDeliveryFailed = "message.delivery_failed"
	EventSLAWarning            = "sla.warning"
	EventSLABreached           = "sla.breached"
	EventSLAMet                = "sla.met"
	EventTicketUpdated         = "ticket.updated"
	// EventRequestEmergency: triage found an emergency (contract §10); the
	// request is being handed to the emergency linkage centre.
	EventRequestEmergency = "request.emergency"
	// EventRequestRepeat: the same citizen wrote about the same matter before.
	EventRequestRepeat = "request.repeat"

	// Follow-up and satisfaction (contract §9).
	EventSurveySent      = "survey.sent"
	EventSurveyAnswered  = "survey.answered"
	EventSurveyExpired   = "survey.expired"
	EventReviewRequested = "review.requested"
)

// Event is something that happened to a request or a live-chat session (event/v1).
type Event struct {
	Schema     string         `json:"schema"`
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	At         time.Time      `json:"at"`
	Channel    string         `json:"channel,omitempty"`
	EnvelopeID string         `json:"envelope_id,omitempty"`
	SessionID  string         `json:"session_id,omitempty"`
	AgentID    string         `json:"agent_id,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
}

// NewEvent returns an event with a fresh time-ordered id.
func NewEvent(typ string, at time.Time) *Event {
	return &Event{Schema: SchemaEvent, ID: NewID(), Type: typ, At: at.UTC()}
}

// Key is the Kafka record key: the session id, else the envelope id, else the event id.
func (e *Event) Key() string {
	switch {
	case e.SessionID != "":
		return e.SessionID
	case e.EnvelopeID != "":
		return e.EnvelopeID
	}
	return e.ID
}

// SchemaTicketEvent is the value of TicketEvent.Schema.
const SchemaTicketEvent = "ticket-event/v1"

// TicketEvent is what the downstream ticket system tells the gateway (ticket-event/v1).
type TicketEvent struct {
	Schema     string    `json:"schema"`
	EnvelopeID string    `json:"envelope_id"`
	TicketID   string    `json:"ticket_id,omitempty"`
	Status     string    `json:"status"`
	At         time.Time `json:"at"`
	// HandlingUnit is the district or department that handled the matter.
	HandlingUnit string `json:"handling_unit,omitempty"`
	// NoFollowUp marks a matter unsuitable for a follow-up survey.
	NoFollowUp bool         `json:"no_follow_up,omitempty"`
	Reply      *TicketReply `json:"reply,omitempty"`
}

// TicketReply is a message for the citizen on the channel the request came from.
type TicketReply struct {
	Text string `json:"text"`
}

// MarshalJSON writes the event with its time in UTC.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // the same fields, without this method
	e.At = e.At.UTC()
	return json.Marshal(plain(e))
}
