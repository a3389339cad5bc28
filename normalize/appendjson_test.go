package normalize

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize/schemas"
)

// plainEvent has Event's fields and tags but not its MarshalJSON, so that
// json.Marshal of it is encoding/json's own answer, not the code under test.
type plainEvent Event

// wantEvent is what encoding/json writes for e with At in UTC.
func wantEvent(e *Event) ([]byte, error) {
	p := plainEvent(*e)
	p.At = p.At.UTC()
	return json.Marshal(p)
}

// oldEvent carries the MarshalJSON Event had before AppendJSON, for the
// benchmark's baseline.
type oldEvent Event

func (e oldEvent) MarshalJSON() ([]byte, error) {
	p := plainEvent(e)
	p.At = p.At.UTC()
	return json.Marshal(p)
}

// requireAppends checks that appendTo keeps what is already in the buffer
// and adds exactly want, or nothing where encoding/json failed (err).
func requireAppends(t testing.TB, want []byte, err error, appendTo func([]byte) []byte) {
	t.Helper()
	const prefix = "prefix:"
	got := appendTo([]byte(prefix))
	if err != nil {
		require.Equal(t, prefix, string(got), "encoding/json fails (%v): nothing may be appended", err)
		return
	}
	require.Equal(t, prefix+string(want), string(got))
}

var (
	cst    = time.FixedZone("CST", 8*3600)
	t0     = time.Date(2026, 3, 2, 9, 30, 0, 123456789, cst)
	tricky = []string{
		"", "plain ascii", "噪音扰民 noise at night", "<script>alert('x')&</script>",
		"quote \" backslash \\ slash /", "\n\r\t\b\f", "\x00\x01\x1f\x7f", "bad \xff\xfe utf8 \xe4\xb8",
		"truncated \xe4\xb8", "line\u2028para\u2029", "emoji 😀 and \U0010FFFF", "\xed\xa0\x80 surrogate",
		"tail\\", "\"", "a\u0085b\u00a0c",
	}
)

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	in := append([]string(nil), tricky...)
	for c := range 256 {
		in = append(in, string([]byte{byte(c)}), "x"+string(rune(c))+"y")
	}
	for _, s := range in {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendString(nil, s)), "%q", s)
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	tests := []float64{0, math.Copysign(0, -1), 1, -1, 31.23, 121.47, -90, 180, 1e-6, 9.99999e-7, 1e-7,
		1.5e-9, 1e20, 1e21, 123456789012345678901234.0, -1e21, math.MaxFloat64, math.SmallestNonzeroFloat64,
		0.1 + 0.2, 1e-100, 1e100, 5e-324, 123456.789e3, 1 << 53}
	for _, f := range tests {
		want, err := json.Marshal(f)
		require.NoError(t, err)
		got, ok := appendFloat(nil, f)
		require.True(t, ok)
		require.Equal(t, string(want), string(got), "%v", f)
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := json.Marshal(f)
		require.Error(t, err)
		_, ok := appendFloat(nil, f)
		require.False(t, ok, "%v", f)
	}
}

// fullEnvelope has every optional field set.
func fullEnvelope() *Envelope {
	lat, lng := 31.23, 121.47
	sent, occurred := t0.Add(-time.Minute), t0.Add(-time.Hour).UTC()
	return &Envelope{
		Schema: SchemaEnvelope, ID: "0195f0c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d", IdempotencyKey: "web:abc",
		Channel: ChannelWeb, Kind: KindComplaint, ReceivedAt: t0.UTC().Truncate(time.Millisecond),
		ChannelSentAt: &sent, CitizenKey: "0123456789abcdef0123456789abcdef",
		Citizen: Citizen{ChannelUserID: "web-citizen-1", Name: "李雷", Phone: "+8613800138000", Confidential: true, Language: "zh-CN"},
		Content: Content{Text: "噪音扰民 noise at night <b>&</b>", Attachments: []Attachment{
			{Type: "image", URL: "https://img.example/1.jpg?a=1&b=2", MIME: "image/jpeg", Size: 12345, SHA256: strings.Repeat("ab", 32), Title: "照片"},
			{Type: "location", MediaID: "m-1"},
		}},
		Location:   &Location{Address: "1 Renmin Rd", District: "Huangpu", Lat: &lat, Lng: &lng},
		OccurredAt: &occurred, SessionID: "s-1",
		SLA:    SLA{FirstResponseDue: t0.Add(3 * time.Minute), HandlingDue: t0.Add(24 * time.Hour)},
		Source: &Source{NativeID: "n-1", NativeType: "text", Partner: "p", AppKey: "k1"}, TraceID: "t-1",
	}
}

func TestEnvelopeAppendJSONMatchesEncodingJSON(t *testing.T) {
	zero, lat0 := 0.0, math.Copysign(0, -1)
	far, ny := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.FixedZone("EST", -5*3600)
	tests := []struct {
		name  string
		build func(e *Envelope)
	}{
		{"everything", func(e *Envelope) {}},
		{"nothing optional", func(e *Envelope) { *e = Envelope{} }},
		{"required only", func(e *Envelope) {
			*e = Envelope{Schema: SchemaEnvelope, ID: e.ID, Channel: ChannelSMS, ReceivedAt: e.ReceivedAt, SLA: e.SLA}
		}},
		{"attachments without text", func(e *Envelope) { e.Content.Text = "" }},
		{"empty attachments slice", func(e *Envelope) { e.Content.Attachments = []Attachment{} }},
		{"empty attachment", func(e *Envelope) { e.Content = Content{Attachments: []Attachment{{}}} }},
		{"empty location and source", func(e *Envelope) { e.Location, e.Source = &Location{}, &Source{} }},
		{"location lat only, zero", func(e *Envelope) { e.Location = &Location{Lat: &zero} }},
		{"location lng only, negative zero", func(e *Envelope) { e.Location = &Location{Lng: &lat0} }},
		{"location district only", func(e *Envelope) { e.Location = &Location{District: "徐汇"} }},
		{"source app key only", func(e *Envelope) { e.Source = &Source{AppKey: "k"} }},
		{"source partner only", func(e *Envelope) { e.Source = &Source{Partner: "p"} }},
		{"tricky strings", func(e *Envelope) {
			all := strings.Join(tricky, "|")
			e.Content.Text, e.Citizen.Name, e.TraceID, e.Source.NativeID = all, all, all, all
			e.Content.Attachments[0].Title, e.Location.Address = all, all
		}},
		{"zero times", func(e *Envelope) {
			var z time.Time
			e.ReceivedAt, e.ChannelSentAt, e.SLA = z, &z, SLA{}
		}},
		{"non-UTC zones", func(e *Envelope) {
			sent := t0.In(ny)
			e.ReceivedAt, e.ChannelSentAt = t0, &sent
			e.SLA.HandlingDue = t0.In(time.FixedZone("odd", 5*3600+45*60+30))
		}},
		{"monotonic clock reading", func(e *Envelope) { e.ReceivedAt = time.Now() }},
		{"negative size", func(e *Envelope) { e.Content.Attachments[0].Size = -1 }},
		{"year 10000 refused", func(e *Envelope) { e.OccurredAt = &far }},
		{"year -1 refused", func(e *Envelope) { e.ReceivedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"zone offset 24h refused", func(e *Envelope) { e.SLA.FirstResponseDue = t0.In(time.FixedZone("x", 24*3600)) }},
		{"NaN latitude refused", func(e *Envelope) { nan := math.NaN(); e.Location.Lat = &nan }},
		{"Inf longitude refused", func(e *Envelope) { inf := math.Inf(-1); e.Location.Lng = &inf }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := fullEnvelope()
			tc.build(e)
			want, err := json.Marshal(e)
			requireAppends(t, want, err, e.AppendJSON)
		})
	}
	t.Run("nil", func(t *testing.T) {
		var e *Envelope
		want, err := json.Marshal(e)
		requireAppends(t, want, err, e.AppendJSON)
	})
}

// fullEvent has every field set and Data of every shape appendAny knows
// and some it leaves to encoding/json.
func fullEvent() *Event {
	return &Event{Schema: SchemaEvent, ID: "0195f0c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d", Type: EventSLAWarning, At: t0,
		Channel: ChannelWechat, EnvelopeID: "env-1", SessionID: "s-1", AgentID: "a-7",
		Data: map[string]any{
			"clock": "first_response", "due": t0.Add(time.Minute), "seq": 3, "n64": int64(-1 << 62), "ok": true,
			"no": false, "nil": nil, "f": 0.1, "tiny": 1e-9, "huge": 1e22, "tags": []string{"a", "<b>"},
			"none": []string(nil), "list": []any{1, "x", nil, []any{}, map[string]any{}},
			"u8": uint8(7), "nested": map[string]any{"z": 1, "a": map[string]any{"deep": "噪音"}, "m": map[string]any(nil)},
			"f32": float32(0.1), "raw": json.RawMessage(`{"b": 1, "a" : "<"}`),
			"bytes": []byte("hi"), "num": json.Number("12.50"), "dur": time.Second, "due_cst": time.Date(2026, 11, 27, 8, 0, 0, 5, time.FixedZone("CST", 8*3600)), "ints": []int{1, 2},
			"": "empty key", "<key>": "html key", "\xff": "bad key", "Z": 1, "é": 2,
			"struct": struct {
				A string `json:"a"`
			}{"&"},
		}}
}

func TestEventAppendJSONMatchesEncodingJSON(t *testing.T) {
	self := map[string]any{}
	self["self"] = self
	var deep any = "leaf"
	for i := range 3 * maxDataDepth {
		if i%2 == 0 {
			deep = map[string]any{"d": deep, "n": i}
		} else {
			deep = []any{i, deep}
		}
	}
	tests := []struct {
		name  string
		build func(e *Event)
	}{
		{"everything", func(e *Event) {}},
		{"nothing optional", func(e *Event) { *e = Event{} }},
		{"nil data", func(e *Event) { e.Data = nil }},
		{"empty data", func(e *Event) { e.Data = map[string]any{} }},
		{"new event", func(e *Event) { *e = *NewEvent(EventRequestAccepted, t0) }},
		{"at in another zone", func(e *Event) { e.At = t0.In(time.FixedZone("EST", -5*3600)) }},
		{"at zero", func(e *Event) { e.At = time.Time{} }},
		{"tricky strings", func(e *Event) {
			all := strings.Join(tricky, "|")
			e.Type, e.AgentID = all, all
			for _, s := range tricky {
				e.Data[s] = s
			}
		}},
		{"many keys", func(e *Event) {
			for i := range 100 {
				e.Data[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune('0'+i%10))] = i
			}
		}},
		{"deep nesting left to encoding/json", func(e *Event) { e.Data = map[string]any{"deep": deep} }},
		{"cycle refused", func(e *Event) { e.Data = self }},
		{"NaN refused", func(e *Event) { e.Data["x"] = map[string]any{"y": []any{math.NaN()}} }},
		{"channel value refused", func(e *Event) { e.Data["c"] = make(chan int) }},
		{"year 10000 refused", func(e *Event) { e.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"year 10000 in data refused", func(e *Event) { e.Data["t"] = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := fullEvent()
			tc.build(e)
			want, err := wantEvent(e)
			requireAppends(t, want, err, e.AppendJSON)

			// MarshalJSON, through json.Marshal, writes the same and fails
			// with the error it failed with before AppendJSON.
			got, gotErr := json.Marshal(*e)
			old, oldErr := json.Marshal(oldEvent(*e))
			require.Equal(t, string(old), string(got))
			if oldErr != nil {
				require.EqualError(t, gotErr, strings.Replace(oldErr.Error(), "oldEvent", "Event", 1))
			} else {
				require.NoError(t, gotErr)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		var e *Event
		want, err := json.Marshal(e)
		requireAppends(t, want, err, e.AppendJSON)
	})
}

// Envelopes, and events with the usual small Data, cost no allocation
// beyond the buffer the caller reuses.
func TestAppendJSONDoesNotAllocate(t *testing.T) {
	e := fullEnvelope()
	ev := &Event{Schema: SchemaEvent, ID: "id", Type: EventSLAWarning, At: t0, EnvelopeID: "env-1",
		Data: map[string]any{"clock": "handling", "seq": 3, "f": 1.5, "tags": []string{"a"}, "m": map[string]any{"k": nil}}}
	buf := make([]byte, 0, 4096)
	tests := []struct {
		name string
		run  func()
	}{
		{"envelope", func() { buf = e.AppendJSON(buf[:0]) }},
		{"event", func() { buf = ev.AppendJSON(buf[:0]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Zero(t, testing.AllocsPerRun(100, tc.run))
		})
	}
}

// What AppendJSON writes for typical records is what the contract's schemas
// accept (equality with json.Marshal says as much; this checks it outright).
func TestAppendJSONMatchesTheSchema(t *testing.T) {
	ev := NewEvent(EventSLAWarning, t0)
	ev.EnvelopeID, ev.Data = "env-1", map[string]any{"clock": "first_response", "due": t0.Add(time.Minute)}
	env := fullEnvelope()
	env.Citizen.Name = "Li"
	require.NoError(t, env.Validate())
	tests := []struct {
		schema string
		json   []byte
	}{
		{"envelope", env.AppendJSON(nil)},
		{"event", ev.AppendJSON(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.schema, func(t *testing.T) {
			src, ok := schemas.Get(tc.schema)
			require.True(t, ok)
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
			require.NoError(t, err)
			c := jsonschema.NewCompiler()
			c.AssertFormat()
			u := "https://schemas.test/" + tc.schema + ".schema.json"
			require.NoError(t, c.AddResource(u, doc))
			s, err := c.Compile(u)
			require.NoError(t, err)
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(tc.json))
			require.NoError(t, err)
			require.NoError(t, s.Validate(inst))
		})
	}
}

// fuzzTime makes a time from fuzzed numbers, often outside what
// encoding/json accepts (years, zone offsets).
func fuzzTime(sec int64, nsec int32, offset int32) time.Time {
	return time.Unix(sec, int64(nsec)).In(time.FixedZone("z", int(offset)))
}

func FuzzEnvelopeAppendJSON(f *testing.F) {
	f.Add("噪音扰民 <noise>", "Li", "\xff\u2028\n", 31.23, 121.47, int64(12345), int64(1772415000), int32(123456789), int32(8*3600), uint16(0xffff))
	f.Add("", "", "", 0.0, -0.0, int64(0), int64(0), int32(0), int32(0), uint16(0))
	f.Add("x", "\x00", "&", 1e-7, 1e21, int64(-1), int64(253402300800), int32(0), int32(0), uint16(0x5555))
	f.Add("y", "z", "w", math.NaN(), math.Inf(1), int64(1), int64(1), int32(1), int32(24*3600), uint16(0xaaaa))
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, lat, lng float64, size, sec int64, nsec, offset int32, flags uint16) {
		at := fuzzTime(sec, nsec, offset)
		on := func(bit int) bool { return flags&(1<<bit) != 0 }
		e := &Envelope{Schema: s1, ID: s2, IdempotencyKey: s3, Channel: s1 + s2, ReceivedAt: at, CitizenKey: s3,
			Citizen: Citizen{ChannelUserID: s2, Name: s1, Confidential: on(0)},
			SLA:     SLA{FirstResponseDue: at.UTC(), HandlingDue: at.Add(time.Hour)}}
		if on(1) {
			e.Kind, e.Citizen.Phone, e.Citizen.Language, e.SessionID, e.TraceID = s3, s2, s1, s2, s3
		}
		if on(2) {
			e.ChannelSentAt, e.OccurredAt = &at, &at
		}
		if on(3) {
			e.Content.Text = s1
		}
		if on(4) {
			e.Content.Attachments = []Attachment{{Type: s2, URL: s3, Size: size}, {MediaID: s1, MIME: s2, SHA256: s3, Title: s1}}
		}
		if on(5) {
			e.Location = &Location{Address: s2}
		}
		if on(6) {
			e.Location = &Location{District: s3, Lat: &lat}
		}
		if on(7) {
			e.Location = &Location{Lng: &lng}
		}
		if on(8) {
			e.Source = &Source{NativeID: s1, NativeType: s2}
		}
		if on(9) {
			e.Source = &Source{Partner: s3, AppKey: s1}
		}
		want, err := json.Marshal(e)
		requireAppends(t, want, err, e.AppendJSON)
	})
}

func FuzzEventAppendJSON(f *testing.F) {
	f.Add("clock", "first_response", "<due>", 1.5, int64(3), int64(1772415000), int32(5), int32(8*3600), uint8(0xff))
	f.Add("", "", "", 0.0, int64(0), int64(0), int32(0), int32(0), uint8(0))
	f.Add("\xff", "\u2029", "a\"b", 1e-7, int64(math.MinInt64), int64(-62135596801), int32(0), int32(-3600), uint8(0x55))
	f.Add("k", "v", "w", math.Inf(-1), int64(1), int64(1), int32(1), int32(90000), uint8(0xaa))
	f.Fuzz(func(t *testing.T, k1, k2, s string, x float64, n, sec int64, nsec, offset int32, flags uint8) {
		at := fuzzTime(sec, nsec, offset)
		on := func(bit int) bool { return flags&(1<<bit) != 0 }
		e := &Event{Schema: s, ID: k1, Type: k2, At: at}
		if on(0) {
			e.Channel, e.EnvelopeID, e.SessionID, e.AgentID = s, k1, k2, s
		}
		if on(1) {
			e.Data = map[string]any{k1: s, k2: x, s: n}
		}
		if on(2) {
			e.Data = map[string]any{k1: int(n), "b": on(5), "nil": nil, k2: []string{k1, s},
				"m": map[string]any{s: []any{x, s, nil, on(6), map[string]any{k2: k1}}}}
		}
		if on(3) {
			e.Data = map[string]any{k1: at, k2: float32(x), "s": struct{ S string }{s}, "n": json.Number(s)}
		}
		if on(4) {
			e.Data = map[string]any{}
		}
		want, err := wantEvent(e)
		requireAppends(t, want, err, e.AppendJSON)
		got, gotErr := json.Marshal(e)
		require.Equal(t, err == nil, gotErr == nil, "MarshalJSON fails where encoding/json does")
		if err == nil {
			require.Equal(t, string(want), string(got))
		}
	})
}

func BenchmarkEnvelopeJSON(b *testing.B) {
	e := fullEnvelope()
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf = e.AppendJSON(buf[:0])
		}
	})
}

func BenchmarkEventJSON(b *testing.B) {
	ev := NewEvent(EventSLAWarning, t0)
	ev.Channel, ev.EnvelopeID = ChannelWeb, NewID()
	ev.Data = map[string]any{"clock": "first_response", "due": t0.Add(3 * time.Minute).UTC().Format(time.RFC3339Nano), "seq": 3}
	tests := []struct {
		name string
		run  func(buf []byte) []byte
	}{
		// encoding/json with the MarshalJSON Event had before.
		{"encoding_json", func([]byte) []byte { out, _ := json.Marshal(oldEvent(*ev)); return out }},
		// encoding/json calling today's MarshalJSON: no reflection, still
		// a copy and a re-compaction.
		{"marshal", func([]byte) []byte { out, _ := json.Marshal(ev); return out }},
		{"append", func(buf []byte) []byte { return ev.AppendJSON(buf[:0]) }},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				buf = tc.run(buf)
			}
		})
	}
}
