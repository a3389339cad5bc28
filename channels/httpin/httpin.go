// Package httpin holds what every intake endpoint does to its input before
// the channel looks at it: bounded body reads, strict JSON decoding, and
// per-key rate limits. Every failure is an *apierr.Error.
package httpin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/hotline12345/gateway/internal/apierr"
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

// ReadJSON reads a JSON body of at most max bytes. A non-empty body must be
// sent as application/json (415 otherwise): a browser can send text/plain
// across origins without asking, so accepting it would let any web page
// make its visitors file requests.
func ReadJSON(r *http.Request, max int64) ([]byte, error) {
	if err := RequireJSON(r); err != nil && r.ContentLength != 0 {
		return nil, err
	}
	b, err := ReadBody(r, max)
	if err != nil {
		return nil, err
	}
	if len(b) > 0 {
		if err := RequireJSON(r); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// RequireJSON is 415 unless the request's Content-Type is application/json
// (parameters such as charset=utf-8 allowed).
func RequireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !strings.EqualFold(mt, "application/json") {
		if ct == "" {
			ct = "none"
		}
		return apierr.New(apierr.CodeUnsupported, "Content-Type must be application/json (got "+ct+")")
	}
	return nil
}

// DecodeStrict decodes one JSON object into v. It refuses, with a 400 that
// names the field: invalid UTF-8 and lone surrogates, NUL characters,
// duplicate keys, keys that match a field only in another case, unknown
// fields, wrong types, trailing data and an empty body. JSON v1 accepts the
// middle four silently, which lets two parsers of one body disagree.
func DecodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apierr.New(apierr.CodeBadRequest, "empty body; a JSON object is required")
	}
	if !utf8.Valid(body) {
		return apierr.New(apierr.CodeBadRequest, "body is not valid UTF-8")
	}
	if err := CheckJSON(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return decodeError(err)
	}
	return nil
}

// CheckJSON walks a JSON body once and refuses (400) what JSON v1 would let
// through: duplicate names and invalid UTF-8, lone surrogates included
// (jsontext's defaults), and NUL characters. DecodeStrict calls it; a
// channel that decodes into a generic document calls it itself.
func CheckJSON(body []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.ReadToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return decodeError(err)
		}
		if tok.Kind() == '"' && strings.IndexByte(tok.String(), 0) >= 0 {
			ptr := dec.StackPointer()
			e := apierr.New(apierr.CodeBadRequest, "NUL characters are not allowed")
			e.Fields = map[string]string{fieldName(ptr): "NUL characters are not allowed"}
			return e
		}
	}
}

func decodeError(err error) error {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn):
		field := fieldName(syn.JSONPointer)
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			e := apierr.Wrap(apierr.CodeBadRequest, "duplicate key "+field, err)
			e.Fields = map[string]string{field: "duplicate key"}
			return e
		case errors.Is(syn.Err, io.ErrUnexpectedEOF):
			return apierr.Wrap(apierr.CodeBadRequest, "malformed JSON: unexpected end", err)
		}
		// jsontext's own words say what is wrong (a lone surrogate, say).
		return apierr.Wrap(apierr.CodeBadRequest, fmt.Sprintf("malformed JSON at byte %d: %v", syn.ByteOffset, syn.Err), err)
	case errors.As(err, &sem):
		field := fieldName(sem.JSONPointer)
		if errors.Is(sem.Err, json.ErrUnknownName) {
			e := apierr.Wrap(apierr.CodeBadRequest, "unknown field "+field, err)
			e.Fields = map[string]string{field: "unknown field"}
			return e
		}
		want := "a valid value"
		if sem.GoType != nil {
			want = jsonType(sem.GoType.Kind().String())
		}
		msg := fmt.Sprintf("%s must be %s", field, want)
		if got := kindName(sem.JSONKind); got == want {
			msg = field + " is out of range"
		} else if got != "" {
			msg += ", not " + got
		}
		e := apierr.Wrap(apierr.CodeBadRequest, msg, err)
		e.Fields = map[string]string{field: "must be " + want}
		return e
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return apierr.Wrap(apierr.CodeBadRequest, "malformed JSON: unexpected end", err)
	}
	return apierr.Wrap(apierr.CodeBadRequest, "malformed JSON", err)
}

// fieldName turns a JSON Pointer into the names the validation errors use:
// /contact/email → contact.email, /attachments/0/size → attachments[0].size,
// the empty pointer → (body).
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	if b.Len() == 0 {
		return "(body)"
	}
	return b.String()
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return ""
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
