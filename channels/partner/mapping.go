package partner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

// Envelope fields a partner mapping may fill (the keys of
// channels.<partner>.mapping). Each maps to a dotted JSON path in the
// partner's body.
const (
	TargetRequestID   = "source.native_id"        // the partner's request id; required
	TargetUserID      = "citizen.channel_user_id" // the partner's user id; required
	TargetKind        = "kind"                    // a category code, translated by Kinds
	TargetTitle       = "content.title"           // prepended to the text: "title\ntext"
	TargetText        = "content.text"
	TargetAttachments = "content.attachments" // an array of envelope attachments
	TargetName        = "citizen.name"
	TargetPhone       = "citizen.phone"
	TargetAddress     = "location.address"
	TargetDistrict    = "location.district"
	TargetOccurredAt  = "occurred_at"     // RFC 3339
	TargetSentAt      = "channel_sent_at" // RFC 3339, when the partner received it
	// TargetPhoneVerified is true when the partner verified the user's
	// phone: it links the citizen's requests across channels (contract §10).
	TargetPhoneVerified = "citizen.phone_verified"
)

// Targets lists every mapping target.
var Targets = []string{TargetRequestID, TargetUserID, TargetKind, TargetTitle, TargetText, TargetAttachments,
	TargetName, TargetPhone, TargetAddress, TargetDistrict, TargetOccurredAt, TargetSentAt, TargetPhoneVerified}

// DefaultMapping returns the mapping of the contract's default partner body
// (request_id, user{id,name,phone,verified}, category, title, content,
// address, district, occurred_at, submitted_at, attachments).
func DefaultMapping() map[string]string {
	return map[string]string{
		TargetRequestID:   "request_id",
		TargetUserID:      "user.id",
		TargetKind:        "category",
		TargetTitle:       "title",
		TargetText:        "content",
		TargetAttachments: "attachments",
		TargetName:        "user.name",
		TargetPhone:       "user.phone",
		TargetAddress:     "address",
		TargetDistrict:    "district",
		TargetOccurredAt:  "occurred_at",
		TargetSentAt:      "submitted_at",

		TargetPhoneVerified: "user.verified",
	}
}

// DefaultKinds maps the contract's category codes to themselves.
func DefaultKinds() map[string]string {
	return map[string]string{
		normalize.KindConsultation: normalize.KindConsultation, normalize.KindHelp: normalize.KindHelp,
		normalize.KindComplaint: normalize.KindComplaint, normalize.KindSuggestion: normalize.KindSuggestion,
		normalize.KindOther: normalize.KindOther,
	}
}

// Limits on the partner's identifiers (they become keys and headers).
const (
	maxRequestIDLen = 128
	maxUserIDLen    = 128
)

// Mapper turns a partner's JSON body into a Request. It is immutable and
// safe for concurrent use.
type Mapper struct {
	paths map[string]string   // target → dotted path
	segs  map[string][]string // target → path segments
	kinds map[string]string   // category code → envelope kind
}

// NewMapper returns the default mapping overridden field by field by
// mapping (target → path), with kinds (category code → envelope kind) added
// to the default codes. Unknown targets, empty paths or segments and
// unknown kinds are errors.
func NewMapper(mapping, kinds map[string]string) (*Mapper, error) {
	m := &Mapper{paths: DefaultMapping(), segs: map[string][]string{}, kinds: DefaultKinds()}
	for _, target := range sortedKeys(mapping) {
		if !slices.Contains(Targets, target) {
			return nil, fmt.Errorf("mapping: unknown envelope field %q; want one of %s", target, strings.Join(Targets, ", "))
		}
		m.paths[target] = mapping[target]
	}
	for target, path := range m.paths {
		segs := strings.Split(path, ".")
		if path == "" || slices.Contains(segs, "") {
			return nil, fmt.Errorf("mapping: %s: %q is not a dotted JSON path such as \"payload.body\" or \"items.0.id\"", target, path)
		}
		m.segs[target] = segs
	}
	for _, code := range sortedKeys(kinds) {
		kind := kinds[code]
		if !slices.Contains([]string{normalize.KindConsultation, normalize.KindHelp, normalize.KindComplaint,
			normalize.KindSuggestion, normalize.KindOther, normalize.KindUnclassified}, kind) {
			return nil, fmt.Errorf("kinds: category %q: %q is not an envelope kind", code, kind)
		}
		m.kinds[code] = kind
	}
	return m, nil
}

// Path returns the JSON path a target is read from.
func (m *Mapper) Path(target string) string { return m.paths[target] }

// Request is a partner's request, mapped but not yet an envelope.
type Request struct {
	RequestID   string
	UserID      string
	Kind        string
	Text        string // with the title prepended
	Name, Phone string
	// PhoneVerified: the partner vouches for Phone.
	PhoneVerified bool
	Address       string
	District      string
	OccurredAt    *time.Time
	SentAt        *time.Time
	Attachments   []normalize.Attachment
}

// Map decodes body and applies the mapping. Every failure is an
// *apierr.Error: 400 bad_request for a body that is not one JSON object,
// 400 invalid_request with Fields keyed by the partner's JSON paths
// otherwise.
func (m *Mapper) Map(body []byte) (*Request, error) {
	doc, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	str := func(target string) string {
		v, ok := lookup(doc, m.segs[target])
		if !ok || v == nil {
			return ""
		}
		switch x := v.(type) {
		case string:
			return strings.TrimSpace(x)
		case json.Number:
			return x.String()
		}
		fields[m.paths[target]] = "must be a string"
		return ""
	}
	r := &Request{RequestID: str(TargetRequestID), UserID: str(TargetUserID)}
	for _, id := range []struct {
		target, val string
		max         int
	}{{TargetRequestID, r.RequestID, maxRequestIDLen}, {TargetUserID, r.UserID, maxUserIDLen}} {
		switch path := m.paths[id.target]; {
		case fields[path] != "":
		case id.val == "":
			fields[path] = "required"
		case len(id.val) > id.max:
			fields[path] = "must be at most " + strconv.Itoa(id.max) + " bytes"
		}
	}
	r.Kind = normalize.KindUnclassified
	if code := str(TargetKind); code != "" {
		if k, ok := m.kinds[code]; ok {
			r.Kind = k
		} else {
			fields[m.paths[TargetKind]] = "unknown category code; want one of " + strings.Join(sortedKeys(m.kinds), ", ")
		}
	}
	title, text := str(TargetTitle), str(TargetText)
	switch {
	case title != "" && text != "":
		r.Text = title + "\n" + text
	default:
		r.Text = title + text
	}
	r.Name = str(TargetName)
	r.Phone = strings.NewReplacer(" ", "", "-", "").Replace(str(TargetPhone))
	if v, ok := lookup(doc, m.segs[TargetPhoneVerified]); ok {
		r.PhoneVerified = v == true
	}
	r.Address, r.District = str(TargetAddress), str(TargetDistrict)
	for _, tt := range []struct {
		target string
		dst    **time.Time
	}{{TargetOccurredAt, &r.OccurredAt}, {TargetSentAt, &r.SentAt}} {
		if s := str(tt.target); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				fields[m.paths[tt.target]] = "must be an RFC 3339 date-time"
				continue
			}
			t = t.UTC()
			*tt.dst = &t
		}
	}
	r.Attachments = m.attachments(doc, fields)
	if len(fields) > 0 {
		return nil, apierr.Invalid("the request does not map to a valid request", fields)
	}
	return r, nil
}

func (m *Mapper) attachments(doc any, fields map[string]string) []normalize.Attachment {
	path := m.paths[TargetAttachments]
	v, ok := lookup(doc, m.segs[TargetAttachments])
	if !ok || v == nil {
		return nil
	}
	if _, isArr := v.([]any); !isArr {
		fields[path] = "must be an array of attachments"
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		fields[path] = "must be an array of attachments"
		return nil
	}
	var out []normalize.Attachment
	if err := json.Unmarshal(raw, &out); err != nil {
		fields[path] = "must be an array of attachments {type, url, mime, size, …}"
		return nil
	}
	for k, v := range normalize.AttachmentFields(path, out) {
		fields[k] = v
	}
	return out
}

// PartnerFields renames envelope validation fields ("citizen.phone") to the
// partner's JSON paths ("user.phone") so that the partner learns which of
// its fields is wrong. Fields with no mapping keep their envelope name.
func (m *Mapper) PartnerFields(envFields map[string]string) map[string]string {
	targets := slices.Clone(Targets)
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	out := make(map[string]string, len(envFields))
	for k, v := range envFields {
		name := k
		for _, t := range targets {
			if rest, ok := strings.CutPrefix(k, t); ok && (rest == "" || rest[0] == '.' || rest[0] == '[') {
				name = m.paths[t] + rest
				break
			}
		}
		out[name] = v
	}
	return out
}

// Apply copies the request into a stamped envelope.
func (r *Request) Apply(env *normalize.Envelope, partner string) {
	env.Kind = r.Kind
	env.Content.Text = r.Text
	env.Content.Attachments = r.Attachments
	env.Citizen.Name, env.Citizen.Phone = r.Name, r.Phone
	env.Citizen.PhoneVerified = r.PhoneVerified && r.Phone != ""
	if r.Address != "" || r.District != "" {
		env.Location = &normalize.Location{Address: r.Address, District: r.District}
	}
	env.OccurredAt, env.ChannelSentAt = r.OccurredAt, r.SentAt
	env.Source = &normalize.Source{NativeID: r.RequestID, NativeType: "partner_request", Partner: partner}
}

// decodeObject decodes exactly one JSON object, numbers kept exact.
func decodeObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, apierr.New(apierr.CodeBadRequest, "empty body; a JSON object is required")
	}
	if !utf8.Valid(body) {
		return nil, apierr.New(apierr.CodeBadRequest, "body is not valid UTF-8")
	}
	if err := httpin.CheckJSON(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, apierr.Wrap(apierr.CodeBadRequest, "malformed JSON", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, apierr.New(apierr.CodeBadRequest, "trailing data after the JSON object")
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, apierr.New(apierr.CodeBadRequest, "the body must be a JSON object")
	}
	return obj, nil
}

// Lookup resolves a dotted path ("user.id", "items.0.url") in a decoded
// JSON document: a segment names an object member, or indexes an array
// with a decimal number. ok is false when any step is missing.
func Lookup(doc any, path string) (v any, ok bool) {
	if path == "" {
		return nil, false
	}
	return lookup(doc, strings.Split(path, "."))
}

func lookup(doc any, segs []string) (any, bool) {
	cur := doc
	for _, s := range segs {
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			if s == "" || strings.TrimLeft(s, "0123456789") != "" || len(s) > 9 {
				return nil, false
			}
			i, _ := strconv.Atoi(s)
			if i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
