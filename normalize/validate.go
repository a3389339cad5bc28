package normalize

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// ValidationError says which fields of an envelope are wrong and why. Keys are
// JSON paths such as "content.text" so that callers can name them to clients.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for k, v := range e.Fields {
		parts = append(parts, k+": "+v)
	}
	return "invalid envelope: " + strings.Join(parts, "; ")
}

var phonePattern = regexp.MustCompile(`^\+?[0-9]{5,16}$`)

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

// Validator returns the shared validator with the gateway's custom rules
// (`phone`) and JSON field names in its errors.
func Validator() *validator.Validate {
	validateOnce.Do(func() {
		v := validator.New(validator.WithRequiredStructEnabled())
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				return ""
			}
			return name
		})
		_ = v.RegisterValidation("phone", func(fl validator.FieldLevel) bool {
			return phonePattern.MatchString(fl.Field().String())
		})
		validate = v
	})
	return validate
}

// FieldErrors turns validator errors into JSON-path → reason, dropping the
// top-level struct name.
func FieldErrors(err error) map[string]string {
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return map[string]string{"": err.Error()}
	}
	out := make(map[string]string, len(verrs))
	for _, fe := range verrs {
		ns := fe.Namespace()
		if i := strings.IndexByte(ns, '.'); i >= 0 {
			ns = ns[i+1:]
		}
		out[ns] = reason(fe)
	}
	return out
}

func reason(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "required"
	case "min":
		if fe.Kind() == reflect.String {
			return "required"
		}
		return "must be at least " + fe.Param()
	case "max":
		return "must be at most " + fe.Param()
	case "oneof":
		return "must be one of: " + fe.Param()
	case "eq":
		return "must be " + fe.Param()
	case "phone":
		return "must be a phone number (digits, optional leading +)"
	}
	return fmt.Sprintf("failed %s", fe.Tag())
}

// Validate checks an envelope against envelope/v1, including the rules that
// struct tags cannot say (content needs text or an attachment; strings are
// valid UTF-8).
func (e *Envelope) Validate() error {
	fields := map[string]string{}
	if err := Validator().Struct(e); err != nil {
		for k, v := range FieldErrors(err) {
			fields[k] = v
		}
	}
	if e.Content.Text == "" && len(e.Content.Attachments) == 0 {
		fields["content.text"] = "required (or at least one attachment)"
	}
	for k, v := range AttachmentFields("content.attachments", e.Content.Attachments) {
		fields[k] = v
	}
	if !utf8.ValidString(e.Content.Text) || !utf8.ValidString(e.Citizen.Name) {
		fields["content.text"] = "must be valid UTF-8"
	}
	if e.SLA.FirstResponseDue.IsZero() {
		fields["sla.first_response_due"] = "required"
	}
	if e.SLA.HandlingDue.IsZero() {
		fields["sla.handling_due"] = "required"
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// TicketStatuses lists the statuses a ticket event may carry.
var TicketStatuses = []string{"accepted", "answered", "dispatched", "resolved", "rejected", "closed"}

// Validate checks a ticket event against ticket-event/v1.
func (t *TicketEvent) Validate() error {
	fields := map[string]string{}
	if t.Schema != SchemaTicketEvent {
		fields["schema"] = "must be " + SchemaTicketEvent
	}
	if t.EnvelopeID == "" {
		fields["envelope_id"] = "required"
	}
	ok := false
	for _, s := range TicketStatuses {
		ok = ok || s == t.Status
	}
	if !ok {
		fields["status"] = "must be one of: " + strings.Join(TicketStatuses, " ")
	}
	if t.At.IsZero() {
		fields["at"] = "required"
	}
	if utf8.RuneCountInString(t.HandlingUnit) > 200 {
		fields["handling_unit"] = "must be at most 200 characters"
	}
	if t.Reply != nil {
		n := utf8.RuneCountInString(t.Reply.Text)
		if n < 1 || n > 2000 {
			fields["reply.text"] = "must be 1 to 2000 characters"
		}
	}
	if len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}
