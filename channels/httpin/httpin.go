// Package httpin holds what every intake endpoint does to its input before
// the channel looks at it: bounded body reads, strict JSON decoding, and
// per-key rate limits. Every failure is an *apierr.Error.
package httpin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/hotline12345/gateway/normalize/apierr"
)

// ReadBody reads at most max bytes; a larger body is 413.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, apierr.New(apierr.CodeTooLarge, fmt.Sprintf("body larger than %d bytes", max))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, apierr.Wrap(apierr.CodeBadRequest, "cannot read body", err)
	}
	if int64(len(b)) > max {
		return nil, apierr.New(apierr.CodeTooLarge, fmt.Sprintf("body larger than %d bytes", max))
	}
	return b, nil
}

// DecodeStrict decodes one JSON object into v: invalid UTF-8, unknown fields,
// wrong types, trailing data and an empty body are 400 with a clear message.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apierr.New(apierr.CodeBadRequest, "empty body; a JSON object is required")
	}
	if !utf8.Valid(body) {
		return apierr.New(apierr.CodeBadRequest, "body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return apierr.New(apierr.CodeBadRequest, "trailing data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return apierr.New(apierr.CodeBadRequest, "trailing data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apierr.Wrap(apierr.CodeBadRequest, fmt.Sprintf("malformed JSON at byte %d", syn.Offset), err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		e := apierr.Wrap(apierr.CodeBadRequest, fmt.Sprintf("%s must be %s, not %s", field, jsonType(typ.Type.Kind().String()), typ.Value), err)
		e.Fields = map[string]string{field: "must be " + jsonType(typ.Type.Kind().String())}
		return e
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return apierr.Wrap(apierr.CodeBadRequest, "malformed JSON: unexpected end", err)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		e := apierr.Wrap(apierr.CodeBadRequest, "unknown field "+f, err)
		e.Fields = map[string]string{f: "unknown field"}
		return e
	}
	return apierr.Wrap(apierr.CodeBadRequest, "malformed JSON", err)
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "float64", "float32":
		return "a number"
	}
	return kind
}
