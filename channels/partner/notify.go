package partner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
)

// StatusWebhook is the body of a request.status webhook (contract §3).
type StatusWebhook struct {
	Type      string     `json:"type"` // "request.status"
	Timestamp time.Time  `json:"timestamp"`
	Data      StatusData `json:"data"`
}

// StatusData says what became of a forwarded request.
type StatusData struct {
	ID        string    `json:"id"`               // envelope id
	Number    string    `json:"number,omitempty"` // the request number the citizen quotes (contract §11)
	RequestID string    `json:"request_id"`       // the partner's id
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
	Reply     string    `json:"reply,omitempty"`
}

// TimelinessWebhook is the body of a request.timeliness webhook.
type TimelinessWebhook struct {
	Type      string         `json:"type"` // "request.timeliness"
	Timestamp time.Time      `json:"timestamp"`
	Data      TimelinessData `json:"data"`
}

// TimelinessData is a warning or breach of one of the request's clocks.
type TimelinessData struct {
	ID        string    `json:"id"`
	Number    string    `json:"number,omitempty"`
	RequestID string    `json:"request_id"`
	Clock     string    `json:"clock"` // first_response, next_response, handling
	State     string    `json:"state"` // warning, breached
	Due       time.Time `json:"due"`
}

// SurveyWebhook is the body of a request.survey webhook (contract §9): the
// partner shows the citizen the survey of a finished request.
type SurveyWebhook struct {
	Type      string     `json:"type"` // "request.survey"
	Timestamp time.Time  `json:"timestamp"`
	Data      SurveyData `json:"data"`
}

// SurveyData is where the citizen rates the handling of the request.
type SurveyData struct {
	ID        string    `json:"id"`
	Number    string    `json:"number,omitempty"`
	RequestID string    `json:"request_id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	// Reminder: the second follow-up of the same survey (same link).
	Reminder bool `json:"reminder"`
}

// SurveyNotice is a survey to tell the partner of.
type SurveyNotice struct {
	EnvelopeID, URL string
	ExpiresAt       time.Time
	Reminder        bool
}

var (
	clocks      = []string{"first_response", "next_response", "handling"}
	clockStates = []string{"warning", "breached"}
)

// Webhooks reports whether the partner receives status webhooks
// (channels.<name>.callback_url is set).
func (c *Channel) Webhooks() bool { return c.q != nil }

// OnAccept runs inside the Accept transaction of every new envelope: for
// this partner's, the "accepted" webhook becomes exactly as durable as the
// envelope.
func (c *Channel) OnAccept(tx *store.Tx, env *normalize.Envelope) error {
	if c.q == nil || env.Channel != c.name || env.Source == nil {
		return nil
	}
	// The gateway acknowledges every request at once (its automatic
	// receipt), so the partner hears both, in order, from this transaction.
	for _, status := range []string{normalize.StatusAccepted, normalize.StatusAcknowledged} {
		m, err := c.statusMessage(env.ID, env.Number, env.Source.NativeID, status, env.ReceivedAt, "")
		if err != nil {
			return err
		}
		if err := c.q.EnqueueTx(tx, m); err != nil {
			return err
		}
	}
	return nil
}

// Deliver enqueues a request.status webhook for m.EnvelopeID with m.Status
// (the request's current status when empty) and m.Text as the reply. It
// returns once the webhook is durable; delivery itself is the queue's. With
// no callback_url it does nothing.
func (c *Channel) Deliver(ctx context.Context, m channels.Outbound) error {
	req, err := c.request(m.EnvelopeID)
	if err != nil {
		return err
	}
	status := m.Status
	if status == "" {
		status = req.Status
	}
	return c.notifyStatus(ctx, req, status, c.d.Clock.Now(), m.Text)
}

// NotifyStatus enqueues a request.status webhook: the request's status
// changed to status at at, with an optional reply for the citizen. It fails
// with ErrForeign for a request of another channel and ErrBadStatus for an
// unknown status; with no callback_url it does nothing.
func (c *Channel) NotifyStatus(ctx context.Context, envelopeID, status string, at time.Time, reply string) error {
	req, err := c.request(envelopeID)
	if err != nil {
		return err
	}
	return c.notifyStatus(ctx, req, status, at, reply)
}

func (c *Channel) notifyStatus(ctx context.Context, req *intakelog.Request, status string, at time.Time, reply string) error {
	if !validStatus(status) {
		return fmt.Errorf("%w: status %q", ErrBadStatus, status)
	}
	if c.q == nil {
		return nil
	}
	m, err := c.statusMessage(req.ID, req.Number, req.Extra["request_id"], status, at, reply)
	if err != nil {
		return err
	}
	return c.q.Enqueue(ctx, m)
}

// NotifyTimeliness enqueues a request.timeliness webhook: clock
// (first_response, next_response, handling) reached state (warning,
// breached) with due time due. Errors as NotifyStatus.
func (c *Channel) NotifyTimeliness(ctx context.Context, envelopeID, clock, state string, due time.Time) error {
	if !slices.Contains(clocks, clock) || !slices.Contains(clockStates, state) {
		return fmt.Errorf("%w: clock %q state %q", ErrBadStatus, clock, state)
	}
	req, err := c.request(envelopeID)
	if err != nil {
		return err
	}
	if c.q == nil {
		return nil
	}
	payload, err := json.Marshal(TimelinessWebhook{Type: delivery.TypeTimeliness, Timestamp: c.d.Clock.Now().UTC(),
		Data: TimelinessData{ID: req.ID, Number: req.Number, RequestID: req.Extra["request_id"], Clock: clock, State: state, Due: due.UTC()}})
	if err != nil {
		return err
	}
	return c.q.Enqueue(ctx, c.message(req.ID, delivery.TypeTimeliness, payload))
}

// NotifySurvey enqueues a request.survey webhook carrying the survey's link.
// Errors as NotifyStatus; with no callback_url it does nothing.
func (c *Channel) NotifySurvey(ctx context.Context, n SurveyNotice) error {
	req, err := c.request(n.EnvelopeID)
	if err != nil {
		return err
	}
	if c.q == nil {
		return nil
	}
	payload, err := json.Marshal(SurveyWebhook{Type: delivery.TypeSurvey, Timestamp: c.d.Clock.Now().UTC(),
		Data: SurveyData{ID: req.ID, Number: req.Number, RequestID: req.Extra["request_id"], URL: n.URL, ExpiresAt: n.ExpiresAt.UTC(), Reminder: n.Reminder}})
	if err != nil {
		return err
	}
	return c.q.Enqueue(ctx, c.message(req.ID, delivery.TypeSurvey, payload))
}

// request returns a request this partner forwarded.
func (c *Channel) request(envelopeID string) (*intakelog.Request, error) {
	req, err := c.log.Request(envelopeID)
	if err != nil {
		return nil, fmt.Errorf("partner %s: %w", c.name, err)
	}
	if req.Channel != c.name {
		return nil, fmt.Errorf("%w: %s came through %s", ErrForeign, envelopeID, req.Channel)
	}
	return req, nil
}

func (c *Channel) statusMessage(envelopeID, number, requestID, status string, at time.Time, reply string) (delivery.Message, error) {
	payload, err := json.Marshal(StatusWebhook{Type: delivery.TypeStatus, Timestamp: c.d.Clock.Now().UTC(),
		Data: StatusData{ID: envelopeID, Number: number, RequestID: requestID, Status: status, At: at.UTC(), Reply: reply}})
	if err != nil {
		return delivery.Message{}, err
	}
	return c.message(envelopeID, delivery.TypeStatus, payload), nil
}

// message addresses a webhook to the partner; the envelope id orders the
// webhooks of one request.
func (c *Channel) message(envelopeID, typ string, payload []byte) delivery.Message {
	return delivery.Message{Endpoint: c.name, URL: c.cfg.CallbackURL, RequestKey: envelopeID, Type: typ, Payload: payload}
}
