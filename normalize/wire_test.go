package normalize_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/normalize/schemas"
)

// fullEnvelope sets every field of the envelope; requireFull checks that
// none was forgotten, so that a field added to the struct must be added
// here, and then reaches the wire checks below.
func fullEnvelope() *normalize.Envelope {
	lat, lng := 31.23, 121.47
	at := now.UTC()
	e := stamp().New(normalize.ChannelApp, "app:k1:r1", "k1:u1")
	e.Number = "20260302000017"
	e.Kind = normalize.KindComplaint
	e.ChannelSentAt, e.OccurredAt = &at, &at
	e.Citizen.Name, e.Citizen.Phone, e.Citizen.Confidential, e.Citizen.Language = "Li", "+8613800138000", true, "zh-CN"
	e.Citizen.PhoneVerified = true // in-process only (json:"-"), set so that the walk passes
	e.Content.Text = "噪音扰民 noise at night"
	e.Content.Attachments = []normalize.Attachment{{Type: "image", URL: "https://img.example/1.jpg", MediaID: "m-1",
		MIME: "image/jpeg", Size: 12345, SHA256: strings.Repeat("ab", 32), Title: "photo"}}
	e.Location = &normalize.Location{Address: "1 Renmin Rd", District: "Huangpu", Lat: &lat, Lng: &lng}
	e.SessionID, e.TraceID = "s-1", "t-1"
	e.Source = &normalize.Source{NativeID: "n-1", NativeType: "app_request", Partner: "suishenban", AppKey: "k1"}
	e.Triage = &normalize.Triage{Priority: "emergency", RepeatOf: []string{normalize.NewID()}, Language: "zh",
		Emergency: &normalize.Emergency{Category: "fire", Rules: []string{"fire.zh.smoke"}, HandedOffAt: &at}}
	return e
}

func fullEvent() *normalize.Event {
	ev := normalize.NewEvent(normalize.EventSLAWarning, now)
	ev.Channel, ev.EnvelopeID, ev.SessionID, ev.AgentID = normalize.ChannelWeb, normalize.NewID(), "s-1", "a-1"
	ev.Data = map[string]any{"clock": "first_response", "due": now.Add(time.Minute)}
	return ev
}

// requireFull fails on any zero field, following pointers, structs and the
// first element of slices.
func requireFull(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		require.False(t, v.IsNil(), "%s is not set", path)
		requireFull(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			require.False(t, v.Interface().(time.Time).IsZero(), "%s is not set", path)
			return
		}
		for i := range v.NumField() {
			requireFull(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice, reflect.Map:
		require.Positive(t, v.Len(), "%s is empty", path)
		if v.Kind() == reflect.Slice {
			requireFull(t, v.Index(0), path+"[0]")
		}
	default:
		require.False(t, v.IsZero(), "%s is not set", path)
	}
}

// jsonNames lists the wire names of t's fields, dotted, as the struct tags
// say.
func jsonNames(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "-" || name == "" {
			continue
		}
		out = append(out, prefix+name)
		out = append(out, jsonNames(t.Field(i).Type, prefix+name+".")...)
	}
	return out
}

// wireNames lists the dotted member names of a decoded JSON document
// (arrays: their first element).
func wireNames(v any, prefix string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			out = append(out, prefix+k)
			out = append(out, wireNames(c, prefix+k+".")...)
		}
	case []any:
		if len(v) > 0 {
			out = append(out, wireNames(v[0], prefix)...)
		}
	}
	return out
}

// Every field of a fully populated envelope and event reaches the wire, and
// the wire form is what the contract's schemas accept: a field that the
// encoder dropped, or that the schema does not know, fails here.
func TestFullyPopulatedRecordsReachTheWire(t *testing.T) {
	tests := []struct {
		schema string
		value  any
	}{
		{"envelope", fullEnvelope()},
		{"event", fullEvent()},
	}
	for _, tc := range tests {
		t.Run(tc.schema, func(t *testing.T) {
			requireFull(t, reflect.ValueOf(tc.value), tc.schema)
			b, err := json.Marshal(tc.value)
			require.NoError(t, err)
			var doc map[string]any
			require.NoError(t, json.Unmarshal(b, &doc))
			got := wireNames(doc, "")
			for _, name := range jsonNames(reflect.TypeOf(tc.value), "") {
				if strings.HasPrefix(name, "data.") {
					continue
				}
				require.Contains(t, got, name, "%s is missing on the wire: %s", name, b)
			}
			require.NoError(t, validateJSON(t, compile(t, tc.schema), tc.value))
		})
	}
}

// Every property the envelope schema defines is a field of the struct, so
// that the gateway can carry all of it.
func TestEnvelopeStructCoversTheSchema(t *testing.T) {
	raw, ok := schemas.Get("envelope")
	require.True(t, ok)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(raw, &schema))
	var props func(s map[string]any, prefix string) []string
	props = func(s map[string]any, prefix string) []string {
		var out []string
		if items, ok := s["items"].(map[string]any); ok {
			s = items
		}
		p, _ := s["properties"].(map[string]any)
		for k, v := range p {
			out = append(out, prefix+k)
			if sub, ok := v.(map[string]any); ok {
				out = append(out, props(sub, prefix+k+".")...)
			}
		}
		return out
	}
	fields := jsonNames(reflect.TypeOf(normalize.Envelope{}), "")
	for _, p := range props(schema, "") {
		require.Contains(t, fields, p, "the schema's %s has no field in normalize.Envelope", p)
	}
}
