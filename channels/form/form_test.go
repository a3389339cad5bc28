package form_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/form"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
)

func TestDecodeAcceptsTheContractsBody(t *testing.T) {
	body := `{"client_request_id":"c-1","kind":"suggestion","text":"  more buses  ",
		"contact":{"name":"Wang","phone":"13800138000","confidential":true},
		"location":{"address":"2 Nanjing Rd","district":"Jing'an"},"occurred_at":"2026-03-01T08:00:00+08:00",
		"attachments":[{"type":"image","url":"https://img.example/a.jpg","mime":"image/jpeg","size":10}]}`
	r, err := form.Decode([]byte(body))
	require.NoError(t, err)
	require.Equal(t, "c-1", r.ClientRequestID)

	env := &normalize.Envelope{}
	r.Apply(env)
	require.Equal(t, "suggestion", env.Kind)
	require.Equal(t, "more buses", env.Content.Text, "trimmed")
	require.Equal(t, "13800138000", env.Citizen.Phone)
	require.True(t, env.Citizen.Confidential)
	require.Equal(t, "Jing'an", env.Location.District)
	require.Equal(t, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), *env.OccurredAt)
	require.Len(t, env.Content.Attachments, 1)

	// Only text: kind defaults to unclassified, no location.
	r, err = form.Decode([]byte(`{"text":"hi"}`))
	require.NoError(t, err)
	env = &normalize.Envelope{}
	r.Apply(env)
	require.Equal(t, normalize.KindUnclassified, env.Kind)
	require.Nil(t, env.Location)
	require.Nil(t, env.OccurredAt)
}

func TestDecodeRefusesBadBodies(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		code   apierr.Code
		fields map[string]string
	}{
		{"empty", ``, apierr.CodeBadRequest, nil},
		{"whitespace", " \n", apierr.CodeBadRequest, nil},
		{"malformed", `{"text":"a"`, apierr.CodeBadRequest, nil},
		{"array", `[]`, apierr.CodeBadRequest, nil},
		{"null", `null`, apierr.CodeInvalid, map[string]string{"text": "required"}},
		{"trailing", `{"text":"a"}x`, apierr.CodeBadRequest, nil},
		{"two objects", `{"text":"a"}{"text":"b"}`, apierr.CodeBadRequest, nil},
		{"invalid UTF-8", "{\"text\":\"\xff\"}", apierr.CodeBadRequest, nil},
		{"wrong type", `{"text":["a"]}`, apierr.CodeBadRequest, map[string]string{"text": "must be a string"}},
		{"wrong nested type", `{"text":"a","attachments":[{"type":"image","size":"big"}]}`, apierr.CodeBadRequest,
			map[string]string{"attachments[0].size": "must be a number"}},
		{"unknown field", `{"text":"a","priority":1}`, apierr.CodeBadRequest, map[string]string{"priority": "unknown field"}},
		{"unknown nested field", `{"text":"a","contact":{"email":"x@y"}}`, apierr.CodeBadRequest, map[string]string{"contact.email": "unknown field"}},
		{"missing text", `{"kind":"help"}`, apierr.CodeInvalid, map[string]string{"text": "required"}},
		{"bad kind and date", `{"text":"a","kind":"x","occurred_at":"2026-13-01"}`, apierr.CodeInvalid, map[string]string{
			"kind": "must be one of: consultation help complaint suggestion other", "occurred_at": "must be an RFC 3339 date-time"}},
		{"text too long", `{"text":"` + strings.Repeat("a", 20001) + `"}`, apierr.CodeInvalid, map[string]string{"text": "must be at most 20000"}},
		{"too many attachments", `{"attachments":[` + strings.TrimSuffix(strings.Repeat(`{"type":"image"},`, 21), ",") + `]}`,
			apierr.CodeInvalid, map[string]string{"attachments": "must be at most 20"}},
		{"attachment type", `{"attachments":[{"type":"hologram"}]}`, apierr.CodeInvalid, map[string]string{
			"attachments[0].type": "must be one of: image audio video file location link miniprogram_page"}},
		{"attachment url", `{"text":"a","attachments":[{"type":"link","url":"javascript:alert(1)"}]}`, apierr.CodeInvalid,
			map[string]string{"attachments[0].url": "must be an https URL"}},
		// The web form and the app take https only, as the chat and partners do.
		{"attachment http url", `{"text":"a","attachments":[{"type":"image","url":"http://img.example/a.jpg"}]}`, apierr.CodeInvalid,
			map[string]string{"attachments[0].url": "must be an https URL"}},
		{"attachment file url", `{"text":"a","attachments":[{"type":"file","url":"https://ok.example/a"},{"type":"file","url":"file:///etc/passwd"}]}`,
			apierr.CodeInvalid, map[string]string{"attachments[1].url": "must be an https URL"}},
		{"attachment url with credentials", `{"text":"a","attachments":[{"type":"link","url":"https://bank.example@evil.example/"}]}`,
			apierr.CodeInvalid, map[string]string{"attachments[0].url": "must not carry a user name or password"}},
		{"client_request_id too long", `{"text":"a","client_request_id":"` + strings.Repeat("k", 129) + `"}`, apierr.CodeInvalid,
			map[string]string{"client_request_id": "must be at most 128"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := form.Decode([]byte(tc.body))
			var ae *apierr.Error
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, tc.code, ae.Code, ae.Message)
			require.NotEmpty(t, ae.Message)
			if tc.fields != nil {
				require.Equal(t, tc.fields, ae.Fields)
			}
		})
	}
}

// FuzzDecode: whatever the body, Decode returns a request or a client error
// (400), never panics, and an accepted request maps onto a valid envelope.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"text":"hello"}`,
		`{"client_request_id":"c","kind":"help","text":"x","contact":{"name":"n","phone":"+8613800138000","confidential":true},"location":{"address":"a","district":"d"},"occurred_at":"2026-03-01T08:00:00Z","attachments":[{"type":"image","url":"https://a/b","mime":"image/png","size":1}]}`,
		`{"attachments":[{"type":"audio","media_id":"m"}]}`,
		`{"text":"a","user":{"id":"u1","phone":"+8613800138000","verified":true}}`, `{"text":"a","user":{"id":"u1"},"user":{"id":"u2"}}`,
		`{"text":5}`, `{"text":"a","x":1}`, `{"text":`, `[]`, `null`, ``, "{\"text\":\"\xff\"}",
		`{"text":"a"} {}`, `{"occurred_at":"2026-02-30T00:00:00Z","text":"a"}`, `{"text":"\u0000"}`,
		`{"contact":{"phone":"1234"},"text":"a"}`, `{"attachments":[{"type":"image","size":-1}],"text":"a"}`,
	} {
		f.Add([]byte(s))
	}
	stamp := normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: time.Minute,
		Handling: time.Hour, Clock: clock.System}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := form.Decode(body)
		if err != nil {
			var ae *apierr.Error
			if !errors.As(err, &ae) || apierr.Status(ae.Code) != 400 || ae.Message == "" {
				t.Fatalf("Decode(%q) = %v: want a 400 client error with a message", body, err)
			}
			return
		}
		env := stamp.New(normalize.ChannelWeb, "web:fuzz", "web-fuzz")
		r.Apply(env)
		if err := env.Validate(); err != nil {
			t.Fatalf("Decode accepted %q but the envelope is invalid: %v", body, err)
		}
	})
}
