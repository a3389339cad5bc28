package page

import (
	"encoding/base64"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

// validCode is the shape of a survey code (22 characters of base64url), so
// that junk from the internet never reaches the store.
func validCode(code string) bool {
	if len(code) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(code)
	return err == nil
}

// codePrefix is all of a code that may be logged: the code is a bearer secret.
func codePrefix(code string) string {
	if !validCode(code) {
		return ""
	}
	return code[:4]
}

// decodeJSON reads the API's body: a strict decode (httpin), then the tags
// on followup.Answer. Every failure is a 400 *apierr.Error.
func decodeJSON(body []byte) (followup.Answer, error) {
	var a followup.Answer
	if err := httpin.DecodeStrict(body, &a); err != nil {
		return followup.Answer{}, err
	}
	if fields := validate(&a); len(fields) > 0 {
		return followup.Answer{}, apierr.Invalid("the answer is not valid", fields)
	}
	return a, nil
}

// formAnswer is what the no-JS form sent, kept as entered so that a form
// with errors is shown again as the citizen left it.
type formAnswer struct {
	Resolved string // "yes", "no" or what came
	Rating   string
	Comment  string
}

// decodeForm parses an urlencoded body. It returns the answer, or the
// fields in error (JSON names, the API's reasons) with what was entered.
// A body that is not urlencoded at all is a 400 *apierr.Error.
func decodeForm(body []byte) (followup.Answer, formAnswer, map[string]string, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return followup.Answer{}, formAnswer{}, nil, apierr.Wrap(apierr.CodeBadRequest, "the form is not urlencoded", err)
	}
	fields := map[string]string{}
	one := func(name string) string {
		v := vals[name]
		if len(v) > 1 {
			fields[name] = "given more than once"
		}
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	// A textarea posts CRLF line ends; the page's maxlength counted one
	// character for each.
	f := formAnswer{Resolved: one("resolved"), Rating: one("rating"), Comment: strings.ReplaceAll(one("comment"), "\r\n", "\n")}
	a := followup.Answer{Rating: f.Rating, Comment: f.Comment}
	switch f.Resolved {
	case "yes", "no":
		yes := f.Resolved == "yes"
		a.Resolved = &yes
	case "":
	default:
		fields["resolved"] = "must be yes or no"
	}
	if !utf8.ValidString(f.Comment) || strings.IndexByte(f.Comment, 0) >= 0 {
		fields["comment"] = "must be text (UTF-8, no NUL)"
	}
	for k, v := range validate(&a) {
		if _, ok := fields[k]; !ok {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return followup.Answer{}, f, fields, nil
	}
	return a, f, nil, nil
}

// validate checks the tags on followup.Answer; keys are the JSON names.
func validate(a *followup.Answer) map[string]string {
	if err := normalize.Validator().Struct(a); err != nil {
		return normalize.FieldErrors(err)
	}
	return nil
}
