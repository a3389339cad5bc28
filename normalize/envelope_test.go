package normalize_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/normalize/schemas"
)

func compile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	b, ok := schemas.Get(name)
	require.True(t, ok)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	u := "https://schemas.test/" + name + ".schema.json"
	require.NoError(t, c.AddResource(u, doc))
	s, err := c.Compile(u)
	require.NoError(t, err)
	return s
}

func validateJSON(t *testing.T, s *jsonschema.Schema, v any) error {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return s.Validate(doc)
}

var now = time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.FixedZone("CST", 8*3600))

func stamp() normalize.Stamp {
	return normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("salt")}, FirstResponse: 3 * time.Minute,
		Handling: 24 * time.Hour, Clock: clock.NewFake(now)}
}

// What Envelope.Validate accepts, the contract's schema accepts too, and the
// stamp sets ids, times and due dates as the contract says.
func TestEnvelopesMatchTheSchema(t *testing.T) {
	s := compile(t, "envelope")
	lat, lng := 31.23, 121.47
	occurred := now.Add(-time.Hour).UTC()
	tests := []struct {
		name  string
		build func(e *normalize.Envelope)
	}{
		{"minimal web", func(e *normalize.Envelope) { e.Content.Text = "street light out" }},
		{"attachment only", func(e *normalize.Envelope) {
			e.Content.Attachments = []normalize.Attachment{{Type: "image", URL: "https://img.example/1.jpg", MIME: "image/jpeg", Size: 12345}}
		}},
		{"everything", func(e *normalize.Envelope) {
			e.Kind = normalize.KindComplaint
			e.Content.Text = "噪音扰民 noise at night"
			e.Citizen.Name, e.Citizen.Phone, e.Citizen.Confidential, e.Citizen.Language = "Li", "+8613800138000", true, "zh-CN"
			e.Location = &normalize.Location{Address: "1 Renmin Rd", District: "Huangpu", Lat: &lat, Lng: &lng}
			e.OccurredAt, e.ChannelSentAt = &occurred, &occurred
			e.SessionID, e.TraceID = "s-1", "t-1"
			e.Source = &normalize.Source{NativeID: "n-1", AppKey: "k1"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := stamp().New(normalize.ChannelWeb, "web:abc", "web-citizen-1")
			tc.build(e)
			require.NoError(t, e.Validate())
			require.NoError(t, validateJSON(t, s, e))
		})
	}
}

func TestStampSetsIdsTimesAndDues(t *testing.T) {
	e := stamp().New(normalize.ChannelApp, "app:k1:r1", "k1:user")
	require.Equal(t, normalize.SchemaEnvelope, e.Schema)
	require.Len(t, e.ID, 36)
	require.Equal(t, byte('7'), e.ID[14], "UUIDv7: time-ordered")
	require.Equal(t, time.UTC, e.ReceivedAt.Location())
	require.Equal(t, now.UTC().Truncate(time.Millisecond), e.ReceivedAt)
	require.Equal(t, e.ReceivedAt.Add(3*time.Minute), e.SLA.FirstResponseDue)
	require.Equal(t, e.ReceivedAt.Add(24*time.Hour), e.SLA.HandlingDue)
	require.Equal(t, stamp().Keyer.Key(normalize.ChannelApp, "k1:user"), e.CitizenKey, "stable per channel and user")
	require.NotEqual(t, stamp().Keyer.Key(normalize.ChannelWeb, "k1:user"), e.CitizenKey, "differs between channels")
	require.Len(t, e.CitizenKey, 32)
	ids := map[string]bool{}
	for range 1000 {
		ids[normalize.NewID()] = true
	}
	require.Len(t, ids, 1000)
}

// Envelope.Validate refuses what the schema refuses, naming the field.
func TestEnvelopeValidateRejectsWhatTheSchemaRejects(t *testing.T) {
	s := compile(t, "envelope")
	tests := []struct {
		name  string
		field string
		build func(e *normalize.Envelope)
	}{
		{"no content", "content.text", func(e *normalize.Envelope) {}},
		{"unknown channel", "channel", func(e *normalize.Envelope) { e.Content.Text = "x"; e.Channel = "fax" }},
		{"unknown kind", "kind", func(e *normalize.Envelope) { e.Content.Text = "x"; e.Kind = "praise" }},
		{"bad phone", "citizen.phone", func(e *normalize.Envelope) { e.Content.Text = "x"; e.Citizen.Phone = "call me" }},
		{"no idempotency key", "idempotency_key", func(e *normalize.Envelope) { e.Content.Text = "x"; e.IdempotencyKey = "" }},
		{"text too long", "content.text", func(e *normalize.Envelope) { e.Content.Text = string(make([]byte, 20001)) }},
		{"bad attachment type", "content.attachments[0].type", func(e *normalize.Envelope) {
			e.Content.Attachments = []normalize.Attachment{{Type: "hologram"}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := stamp().New(normalize.ChannelWeb, "web:abc", "web-citizen-1")
			tc.build(e)
			err := e.Validate()
			var ve *normalize.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Contains(t, ve.Fields, tc.field)
			require.Error(t, validateJSON(t, s, e), "the schema must refuse it too")
		})
	}
}

func TestEventsMatchTheSchema(t *testing.T) {
	s := compile(t, "event")
	ev := normalize.NewEvent(normalize.EventRequestAccepted, now)
	ev.Channel, ev.EnvelopeID = normalize.ChannelWeb, normalize.NewID()
	require.NoError(t, validateJSON(t, s, ev))
	require.Equal(t, ev.EnvelopeID, ev.Key())
	ev.SessionID = "s-1"
	ev.Data = map[string]any{"seq": 3}
	require.NoError(t, validateJSON(t, s, ev))
	require.Equal(t, "s-1", ev.Key())
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	require.Contains(t, string(b), `"at":"2026-03-02T01:30:00.123456789Z"`, "times in UTC")
}
