package normalize

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Append-style JSON encoders for the two records the gateway writes on every
// intake request. encoding/json spends most of its time on reflection and on
// re-compacting the output of every json.Marshaler (time.Time included); these
// write the same bytes straight into the caller's buffer. Their output is
// byte-for-byte json.Marshal's, which appendjson_test.go checks, so readers,
// schemas and stored records cannot tell the two apart.

// AppendJSON appends to b exactly what json.Marshal(e) returns and returns the
// extended buffer; with a reused buffer it allocates nothing.
//
// Where json.Marshal(e) fails (a time outside years 0–9999 or with a zone
// offset of 24 h or more; Validate does not catch those) nothing is appended:
// callers that need the reason call json.Marshal.
func (e *Envelope) AppendJSON(b []byte) []byte {
	if e == nil {
		return append(b, "null"...)
	}
	if out, ok := e.appendJSON(b); ok {
		return out
	}
	// Asking encoding/json itself keeps the two identical even on a case
	// this file judged refused wrongly.
	out, err := json.Marshal(e)
	if err != nil {
		return b
	}
	return append(b, out...)
}

// AppendJSON appends to b exactly what json.Marshal(e) returns (At in UTC,
// as MarshalJSON has it) and returns the extended buffer. It allocates only
// for Data values other than string, bool, nil, int, int64, float64,
// []string, []any and map[string]any (those go through json.Marshal) and for
// maps of more than 16 keys (sorting them).
//
// Where json.Marshal(e) fails (a time encoding/json refuses, a NaN or
// infinite float, a value in Data it cannot encode) nothing is appended.
func (e *Event) AppendJSON(b []byte) []byte {
	if e == nil {
		return append(b, "null"...)
	}
	if out, ok := e.appendJSON(b); ok {
		return out
	}
	out, err := e.marshalSlow()
	if err != nil {
		return b
	}
	return append(b, out...)
}

// appendJSON is AppendJSON's fast path; false means encoding/json would
// refuse something and whatever was appended must be dropped.
func (e *Envelope) appendJSON(b []byte) ([]byte, bool) {
	var ok bool
	b = append(b, `{"schema":`...)
	b = appendString(b, e.Schema)
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"idempotency_key":`...)
	b = appendString(b, e.IdempotencyKey)
	b = append(b, `,"channel":`...)
	b = appendString(b, e.Channel)
	if e.Kind != "" {
		b = append(b, `,"kind":`...)
		b = appendString(b, e.Kind)
	}
	b = append(b, `,"received_at":`...)
	if b, ok = appendTime(b, e.ReceivedAt); !ok {
		return b, false
	}
	if e.ChannelSentAt != nil {
		b = append(b, `,"channel_sent_at":`...)
		if b, ok = appendTime(b, *e.ChannelSentAt); !ok {
			return b, false
		}
	}
	b = append(b, `,"citizen_key":`...)
	b = appendString(b, e.CitizenKey)
	b = append(b, `,"citizen":`...)
	b = e.Citizen.appendJSON(b)
	b = append(b, `,"content":`...)
	b = e.Content.appendJSON(b)
	if e.Location != nil {
		b = append(b, `,"location":`...)
		if b, ok = e.Location.appendJSON(b); !ok {
			return b, false
		}
	}
	if e.OccurredAt != nil {
		b = append(b, `,"occurred_at":`...)
		if b, ok = appendTime(b, *e.OccurredAt); !ok {
			return b, false
		}
	}
	if e.SessionID != "" {
		b = append(b, `,"session_id":`...)
		b = appendString(b, e.SessionID)
	}
	b = append(b, `,"sla":{"first_response_due":`...)
	if b, ok = appendTime(b, e.SLA.FirstResponseDue); !ok {
		return b, false
	}
	b = append(b, `,"handling_due":`...)
	if b, ok = appendTime(b, e.SLA.HandlingDue); !ok {
		return b, false
	}
	b = append(b, '}')
	if e.Source != nil {
		b = append(b, `,"source":`...)
		b = e.Source.appendJSON(b)
	}
	if e.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = appendString(b, e.TraceID)
	}
	return append(b, '}'), true
}

func (c *Citizen) appendJSON(b []byte) []byte {
	b = append(b, `{"channel_user_id":`...)
	b = appendString(b, c.ChannelUserID)
	if c.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, c.Name)
	}
	if c.Phone != "" {
		b = append(b, `,"phone":`...)
		b = appendString(b, c.Phone)
	}
	if c.Confidential {
		b = append(b, `,"confidential":true`...)
	}
	if c.Language != "" {
		b = append(b, `,"language":`...)
		b = appendString(b, c.Language)
	}
	return append(b, '}')
}

// appendJSON writes Content; every field is omitempty, so commas depend on
// what came before, unlike the structs that open with a required field.
func (c *Content) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if c.Text != "" {
		b = append(b, `"text":`...)
		b = appendString(b, c.Text)
	}
	if len(c.Attachments) > 0 {
		if c.Text != "" {
			b = append(b, ',')
		}
		b = append(b, `"attachments":[`...)
		for i := range c.Attachments {
			if i > 0 {
				b = append(b, ',')
			}
			b = c.Attachments[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func (a *Attachment) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, a.Type)
	b = appendOptString(b, `,"url":`, a.URL)
	b = appendOptString(b, `,"media_id":`, a.MediaID)
	b = appendOptString(b, `,"mime":`, a.MIME)
	if a.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, a.Size, 10)
	}
	b = appendOptString(b, `,"sha256":`, a.SHA256)
	b = appendOptString(b, `,"title":`, a.Title)
	return append(b, '}')
}

func (l *Location) appendJSON(b []byte) ([]byte, bool) {
	var ok bool
	b = append(b, '{')
	n := len(b) // nothing written yet: no comma before the first field
	if l.Address != "" {
		b = append(b, `"address":`...)
		b = appendString(b, l.Address)
	}
	if l.District != "" {
		b = appendComma(b, n)
		b = append(b, `"district":`...)
		b = appendString(b, l.District)
	}
	if l.Lat != nil {
		b = appendComma(b, n)
		b = append(b, `"lat":`...)
		if b, ok = appendFloat(b, *l.Lat); !ok {
			return b, false
		}
	}
	if l.Lng != nil {
		b = appendComma(b, n)
		b = append(b, `"lng":`...)
		if b, ok = appendFloat(b, *l.Lng); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func (s *Source) appendJSON(b []byte) []byte {
	b = append(b, '{')
	n := len(b)
	for _, f := range [...]struct{ key, val string }{
		{`"native_id":`, s.NativeID},
		{`"native_type":`, s.NativeType},
		{`"partner":`, s.Partner},
		{`"app_key":`, s.AppKey},
	} {
		if f.val != "" {
			b = appendComma(b, n)
			b = append(b, f.key...)
			b = appendString(b, f.val)
		}
	}
	return append(b, '}')
}

// appendJSON is Event's fast path; At is written in UTC as MarshalJSON
// promises. False means encoding/json would refuse something.
func (e *Event) appendJSON(b []byte) ([]byte, bool) {
	var ok bool
	b = append(b, `{"schema":`...)
	b = appendString(b, e.Schema)
	b = append(b, `,"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"at":`...)
	if b, ok = appendTime(b, e.At.UTC()); !ok {
		return b, false
	}
	b = appendOptString(b, `,"channel":`, e.Channel)
	b = appendOptString(b, `,"envelope_id":`, e.EnvelopeID)
	b = appendOptString(b, `,"session_id":`, e.SessionID)
	b = appendOptString(b, `,"agent_id":`, e.AgentID)
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		if b, ok = appendMap(b, e.Data, 1); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// marshalSlow is encoding/json's own answer for e with At in UTC, without
// going through MarshalJSON (which would come back here). It serves the
// values the fast path leaves to encoding/json, so errors stay its errors.
func (e *Event) marshalSlow() ([]byte, error) {
	type plain Event
	p := plain(*e)
	p.At = p.At.UTC()
	return json.Marshal(p)
}

// maxDataDepth bounds how deep appendAny recurses into Data before handing
// the value to encoding/json, which detects cycles (a map holding itself)
// where plain recursion would overflow the stack.
const maxDataDepth = 32

// appendAny writes one Data value; the common shapes are encoded here and
// anything else by json.Marshal, which gives the same bytes as encoding/json
// writing it inside the map.
func appendAny(b []byte, v any, depth int) ([]byte, bool) {
	var ok bool
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendString(b, v), true
	case bool:
		return strconv.AppendBool(b, v), true
	case int:
		return strconv.AppendInt(b, int64(v), 10), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case float64:
		return appendFloat(b, v)
	case time.Time: // due times in request.acknowledged
		return appendTime(b, v)
	case []string:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), true
	case []any:
		if v == nil {
			return append(b, "null"...), true
		}
		if depth >= maxDataDepth {
			return b, false
		}
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendAny(b, x, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		if v == nil {
			return append(b, "null"...), true
		}
		return appendMap(b, v, depth+1)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, out...), true
}

// appendMap writes m with its keys sorted bytewise, as encoding/json does.
// Up to 16 entries are sorted in a stack array, so small maps cost nothing.
func appendMap(b []byte, m map[string]any, depth int) ([]byte, bool) {
	if depth > maxDataDepth {
		return b, false
	}
	type entry struct {
		k string
		v any
	}
	var arr [16]entry
	kv := arr[:0]
	for k, v := range m {
		kv = append(kv, entry{k, v})
	}
	slices.SortFunc(kv, func(x, y entry) int { return strings.Compare(x.k, y.k) })
	var ok bool
	b = append(b, '{')
	for i := range kv {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, kv[i].k)
		b = append(b, ':')
		if b, ok = appendAny(b, kv[i].v, depth); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendTime writes t as time.Time.MarshalJSON does: quoted RFC 3339 with
// nanoseconds. AppendText applies the same range checks without allocating.
func appendTime(b []byte, t time.Time) ([]byte, bool) {
	b = append(b, '"')
	b, err := t.AppendText(b)
	if err != nil {
		return b, false
	}
	return append(b, '"'), true
}

// appendFloat is encoding/json's floatEncoder for float64: ES6 number
// formatting ('e' below 1e-6 and from 1e21) with the exponent's leading zero
// dropped. NaN and ±Inf are refused, as encoding/json refuses them.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendOptString writes key and s unless s is empty (omitempty), for
// fields that follow one that is always present.
func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, s)
}

// appendComma separates fields of an object whose fields are all optional:
// a comma is needed once anything was written after the brace at b[:n].
func appendComma(b []byte, n int) []byte {
	if len(b) > n {
		b = append(b, ',')
	}
	return b
}

// htmlSafe marks the ASCII bytes encoding/json writes as they are, with its
// default HTML escaping: everything from space up except " \ < > &.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = !strings.ContainsRune(`"\<>&`, c)
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString writes s quoted and escaped as encoding/json does by default:
// \" \\ \b \f \n \r \t, \u00xx for other control bytes and for < > &, \ufffd
// for each invalid UTF-8 byte, and \u2028 \u2029, which break JSONP.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
