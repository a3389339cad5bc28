package signlang

import (
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

// CallbackText starts the text of a call-back request's envelope.
const CallbackText = "手语视频回拨请求 / sign-language call-back request"

// Limits of a call-back request's fields.
const (
	maxName     = 100
	maxNote     = 2000
	maxClientID = 128
)

var phonePattern = regexp.MustCompile(`^\+?[0-9]{5,16}$`)

// CallbackRequest is the body of POST /v1/channels/sign-language/callbacks.
type CallbackRequest struct {
	// ClientRequestID is the optional idempotency key from the client.
	ClientRequestID string `json:"client_request_id"`
	Phone           string `json:"phone"`
	Name            string `json:"name"`
	PreferredTime   string `json:"preferred_time"` // RFC 3339
	Note            string `json:"note"`

	preferred time.Time
}

// DecodeCallback parses and validates a call-back body. Every failure is a
// 400: bad JSON or unknown fields (bad_request), or invalid_request naming
// each bad field.
func DecodeCallback(body []byte) (*CallbackRequest, error) {
	var r CallbackRequest
	if err := httpin.DecodeStrict(body, &r); err != nil {
		return nil, err
	}
	r.Phone = strings.Join(strings.FieldsFunc(r.Phone, func(c rune) bool { return c == ' ' || c == '-' }), "")
	r.Name, r.Note = strings.TrimSpace(r.Name), strings.TrimSpace(r.Note)
	fields := map[string]string{}
	switch {
	case r.Phone == "":
		fields["phone"] = "required"
	case !phonePattern.MatchString(r.Phone):
		fields["phone"] = "must be a phone number (5 to 16 digits, optional leading +)"
	}
	if utf8.RuneCountInString(r.Name) > maxName {
		fields["name"] = "at most 100 characters"
	}
	if utf8.RuneCountInString(r.Note) > maxNote {
		fields["note"] = "at most 2000 characters"
	}
	if len(r.ClientRequestID) > maxClientID {
		fields["client_request_id"] = "at most 128 characters"
	}
	if r.PreferredTime != "" {
		t, err := time.Parse(time.RFC3339, r.PreferredTime)
		if err != nil {
			fields["preferred_time"] = "must be an RFC 3339 date-time"
		}
		r.preferred = t
	}
	if len(fields) > 0 {
		return nil, apierr.Invalid("the call-back request is not valid", fields)
	}
	return &r, nil
}

// Text is the envelope text: the fixed request line, the preferred time and
// the citizen's note.
func (r *CallbackRequest) Text(loc *time.Location) string {
	var b strings.Builder
	b.WriteString(CallbackText)
	if !r.preferred.IsZero() {
		b.WriteString("\n希望回拨时间 / preferred time: " + r.preferred.In(loc).Format(time.RFC3339))
	}
	if r.Note != "" {
		b.WriteString("\n" + r.Note)
	}
	return b.String()
}

// Envelope maps the request of citizen sub onto a new envelope (kind help,
// the citizen's phone). now is the receiving time.
func (c *Channel) Envelope(r *CallbackRequest, sub string) *normalize.Envelope {
	env := c.d.Stamp.New(normalize.ChannelSignLanguage, "", sub)
	if r.ClientRequestID != "" {
		env.IdempotencyKey = normalize.ChannelSignLanguage + ":callback:" + sub + ":" + r.ClientRequestID
	} else {
		env.IdempotencyKey = normalize.ChannelSignLanguage + ":callback:" + env.ID
	}
	env.Kind = normalize.KindHelp
	env.Citizen.Phone = r.Phone
	env.Citizen.Name = r.Name
	env.Content = normalize.Content{Text: r.Text(c.cal.Location())}
	env.Source = &normalize.Source{NativeType: "callback_request"}
	return env
}

func (c *Channel) callback(ec echo.Context) error {
	hr := ec.Request()
	cl, err := c.guard(hr)
	if err != nil {
		return err
	}
	body, err := httpin.ReadJSON(hr, c.d.MaxBody)
	if err != nil {
		return err
	}
	req, err := DecodeCallback(body)
	if err != nil {
		return err
	}
	env := c.Envelope(req, cl.Sub)
	if err := env.Validate(); err != nil {
		return err // the request was validated: a failure here is ours
	}
	ev := normalize.NewEvent(normalize.EventRequestAccepted, env.ReceivedAt)
	ev.Channel, ev.EnvelopeID = env.Channel, env.ID
	ev.Data = map[string]any{"callback": true}
	res, err := c.d.Intake.Accept(hr.Context(), env, intakelog.AcceptOptions{
		Fingerprint: intakelog.Fingerprint(body), Owner: "citizen:" + cl.Sub, Events: []*normalize.Event{ev},
	})
	if err != nil {
		return err
	}
	c.d.Logger.Info("sign-language call-back requested", "envelope", res.Receipt.ID, "duplicate", res.Duplicate)
	return ec.JSON(http.StatusAccepted, res.Receipt)
}
