package smsformat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// shanghai is China Standard Time. China has had no daylight saving since
// 1991, so a fixed zone is exact and needs no tzdata on the host.
var shanghai = time.FixedZone("CST", 8*3600)

// localLayout is the "2017-01-01 00:00:00" wall-clock format used by Aliyun
// and Tencent callbacks, in Asia/Shanghai time.
const localLayout = "2006-01-02 15:04:05"

// item is one object of a callback, with the path prefix used in errors.
type item struct {
	prefix string
	fields map[string]json.RawMessage
}

// splitItems accepts either a JSON object or an array of objects and returns
// them as items. Providers document one or the other; accepting both costs
// nothing and spares an outage when a provider changes batching.
func splitItems(body []byte) ([]item, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if !json.Valid(trimmed) {
		return nil, fmt.Errorf("%w: not valid JSON", ErrMalformed)
	}
	switch trimmed[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return []item{{fields: m}}, nil
	case '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if len(raws) > MaxBatch {
			return nil, fmt.Errorf("%w: more than %d items", ErrMalformed, MaxBatch)
		}
		items := make([]item, 0, len(raws))
		for i, raw := range raws {
			prefix := "[" + strconv.Itoa(i) + "]."
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil || m == nil {
				return nil, &FieldError{Field: "[" + strconv.Itoa(i) + "]", Reason: "not an object"}
			}
			items = append(items, item{prefix: prefix, fields: m})
		}
		return items, nil
	default:
		return nil, fmt.Errorf("%w: want a JSON object or array", ErrMalformed)
	}
}

func (it item) err(field, reason string) *FieldError { return fieldErr(it.prefix, field, reason) }

func (it item) has(key string) bool {
	raw, ok := it.fields[key]
	return ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// str reads a string field; numbers are accepted as their decimal text since
// providers are inconsistent about quoting ids. Absent or null gives "".
func (it item) str(key string) (string, error) {
	raw, ok := it.fields[key]
	if !ok {
		return "", nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", it.err(key, "invalid string")
		}
		return s, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", it.err(key, "invalid number")
		}
		return n.String(), nil
	default:
		return "", it.err(key, "want a string")
	}
}

// requiredStr is str that refuses an absent, null or blank field.
func (it item) requiredStr(key string) (string, error) {
	s, err := it.str(key)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", it.err(key, "required")
	}
	return s, nil
}

// integer reads a whole number given as a JSON number or a numeric string.
func (it item) integer(key string) (int64, bool, error) {
	s, err := it.str(key)
	if err != nil {
		return 0, false, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true, nil
	}
	// 1.47e9 or 1470000000.0: accept exact integers only.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, it.err(key, "want an integer")
	}
	return int64(f), true, nil
}

// boolean reads true/false, also as the strings "true"/"false".
func (it item) boolean(key string) (bool, bool, error) {
	raw, ok := it.fields[key]
	if !ok {
		return false, false, nil
	}
	switch string(bytes.TrimSpace(raw)) {
	case "true", `"true"`:
		return true, true, nil
	case "false", `"false"`:
		return false, true, nil
	case "null":
		return false, false, nil
	default:
		return false, false, it.err(key, "want true or false")
	}
}

// localTime parses "2006-01-02 15:04:05" in Asia/Shanghai; RFC 3339 is also
// accepted. An absent field gives the zero time.
func (it item) localTime(key string) (time.Time, error) {
	s, err := it.str(key)
	if err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(localLayout, s, shanghai); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, it.err(key, "want time as 2006-01-02 15:04:05 (Asia/Shanghai)")
}

// rfc3339 parses an RFC 3339 time; an absent field gives the zero time.
func (it item) rfc3339(key string) (time.Time, error) {
	s, err := it.str(key)
	if err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, it.err(key, "want an RFC 3339 time")
	}
	return t, nil
}

// phone reads and normalises a phone field. nationcodeKey, when not empty,
// names the field holding its country calling code (Tencent).
func (it item) phone(key, nationcodeKey string, required bool) (string, error) {
	nationcode := ""
	if nationcodeKey != "" {
		var err error
		if nationcode, err = it.str(nationcodeKey); err != nil {
			return "", err
		}
		if _, err := normNationcode(nationcode); err != nil {
			return "", it.err(nationcodeKey, reasonOf(err))
		}
	}
	raw, err := it.str(key)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(raw) == "" {
		if required {
			return "", it.err(key, "required")
		}
		return "", nil
	}
	p, err := NormalizePhone(raw, nationcode)
	if err != nil {
		return "", it.err(key, reasonOf(err))
	}
	return p, nil
}

// object returns a nested object field as an item, or nil when absent.
func (it item) object(key string) (*item, error) {
	if !it.has(key) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(it.fields[key], &m); err != nil || m == nil {
		return nil, it.err(key, "want an object")
	}
	return &item{prefix: it.prefix + key + ".", fields: m}, nil
}

// reasonOf strips the sentinel's prefix from a phone error for FieldError.
func reasonOf(err error) string {
	return strings.TrimPrefix(err.Error(), ErrInvalidPhone.Error()+": ")
}
