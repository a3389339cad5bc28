package smsformat

import (
	"fmt"
	"strconv"
	"time"
)

// MaxParts is the largest part count a concatenated SMS can declare (the UDH
// total is one octet).
const MaxParts = 255

// Inbound is one uplink message from a citizen, provider-neutral.
type Inbound struct {
	// ProviderID is the provider's own id for the message (Aliyun
	// sequence_id, generic id); empty when the provider gives none (Tencent).
	ProviderID string
	// Phone is the citizen's number in E.164 ("+8613812345678").
	Phone string
	// Text is the message body, UTF-8.
	Text string
	// SentAt is when the citizen's handset sent it, as reported by the
	// provider; zero when the provider did not say.
	SentAt time.Time
	// DestCode is the number or extension the citizen wrote to (Aliyun
	// dest_code, Tencent extend, generic to).
	DestCode string
	// Part is set when this is one part of a longer message still to be
	// reassembled (generic udh); nil for a whole message.
	Part *Part
	// Incomplete is set by reassembly when a long message was released
	// after waiting although some parts never arrived.
	Incomplete bool
	// MissingParts lists the 1-based sequence numbers that never arrived.
	MissingParts []int
}

// Part identifies one part of a concatenated SMS: all parts of a message
// share Ref and Total, and Seq runs from 1 to Total.
type Part struct {
	Ref   string
	Total int
	Seq   int
}

// DecodeInbound parses an uplink callback body of the given provider. It
// returns every message in the batch or an error for the whole batch: a
// provider retries a refused batch as a unit, so partial acceptance would
// only cause duplicates. Errors match ErrMalformed (or ErrUnknownProvider).
func DecodeInbound(provider string, body []byte) ([]Inbound, error) {
	var decode func(item) (Inbound, error)
	switch provider {
	case ProviderAliyun:
		decode = decodeAliyunUp
	case ProviderTencent:
		decode = decodeTencentUp
	case ProviderGeneric:
		decode = decodeGenericUp
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownProvider, provider)
	}
	items, err := splitItems(body)
	if err != nil {
		return nil, err
	}
	out := make([]Inbound, 0, len(items))
	for _, it := range items {
		in, err := decode(it)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// decodeAliyunUp maps one Aliyun SmsUp object:
// {"phone_number","content","send_time","dest_code","sign_name","sequence_id"}.
func decodeAliyunUp(it item) (Inbound, error) {
	var in Inbound
	var err error
	if in.Phone, err = it.phone("phone_number", "", true); err != nil {
		return in, err
	}
	if !it.has("content") {
		return in, it.err("content", "required")
	}
	if in.Text, err = it.str("content"); err != nil {
		return in, err
	}
	if in.SentAt, err = it.localTime("send_time"); err != nil {
		return in, err
	}
	if in.SentAt.IsZero() {
		return in, it.err("send_time", "required")
	}
	if in.DestCode, err = it.str("dest_code"); err != nil {
		return in, err
	}
	if in.ProviderID, err = it.str("sequence_id"); err != nil {
		return in, err
	}
	if _, err = it.str("sign_name"); err != nil {
		return in, err
	}
	return in, nil
}

// decodeTencentUp maps one Tencent reply callback object:
// {"mobile","nationcode","text","sign","time","extend"}.
func decodeTencentUp(it item) (Inbound, error) {
	var in Inbound
	var err error
	if in.Phone, err = it.phone("mobile", "nationcode", true); err != nil {
		return in, err
	}
	if !it.has("text") {
		return in, it.err("text", "required")
	}
	if in.Text, err = it.str("text"); err != nil {
		return in, err
	}
	sec, ok, err := it.integer("time")
	if err != nil {
		return in, err
	}
	if !ok || sec <= 0 {
		return in, it.err("time", "required (unix seconds)")
	}
	in.SentAt = time.Unix(sec, 0).UTC()
	if in.DestCode, err = it.str("extend"); err != nil {
		return in, err
	}
	if _, err = it.str("sign"); err != nil {
		return in, err
	}
	return in, nil
}

// decodeGenericUp maps one generic object (see FORMAT.md):
// {"id","from","to","text","sent_at","udh":{"ref","total","seq"}}.
func decodeGenericUp(it item) (Inbound, error) {
	var in Inbound
	var err error
	if in.ProviderID, err = it.str("id"); err != nil {
		return in, err
	}
	if in.Phone, err = it.phone("from", "", true); err != nil {
		return in, err
	}
	if in.DestCode, err = it.str("to"); err != nil {
		return in, err
	}
	if !it.has("text") {
		return in, it.err("text", "required")
	}
	if in.Text, err = it.str("text"); err != nil {
		return in, err
	}
	if in.SentAt, err = it.rfc3339("sent_at"); err != nil {
		return in, err
	}
	if in.SentAt.IsZero() {
		return in, it.err("sent_at", "required")
	}
	udh, err := it.object("udh")
	if err != nil || udh == nil {
		return in, err
	}
	if in.Part, err = decodeUDH(*udh); err != nil {
		return in, err
	}
	return in, nil
}

func decodeUDH(u item) (*Part, error) {
	ref, err := u.requiredStr("ref")
	if err != nil {
		return nil, err
	}
	if len(ref) > 64 {
		return nil, u.err("ref", "longer than 64 bytes")
	}
	total, ok, err := u.integer("total")
	if err != nil {
		return nil, err
	}
	if !ok || total < 1 || total > MaxParts {
		return nil, u.err("total", "want 1.."+strconv.Itoa(MaxParts))
	}
	seq, ok, err := u.integer("seq")
	if err != nil {
		return nil, err
	}
	if !ok || seq < 1 || seq > total {
		return nil, u.err("seq", "want 1..total")
	}
	if total == 1 {
		return nil, nil // a one-part "concatenation" is a whole message
	}
	return &Part{Ref: ref, Total: int(total), Seq: int(seq)}, nil
}
