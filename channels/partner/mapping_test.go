package partner_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

func TestCustomMappingFromConfig(t *testing.T) {
	cfg := configs.Partner{Secret: secretA,
		Mapping: map[string]string{
			"source.native_id":        "meta.serial",
			"citizen.channel_user_id": "user.uid",
			"content.text":            "payload.body",
			"kind":                    "payload.type",
			"location.address":        "payload.places.0.addr",
		},
		Kinds: map[string]string{"ZX": "consultation", "TS": "complaint"},
	}
	f := newFixture(t, map[string]configs.Partner{"yiwangtongban": cfg})
	body := `{"meta": {"serial": 90071992547409931}, "user": {"uid": 42, "name": "李四"},
	          "payload": {"type": "TS", "body": "路灯不亮", "places": [{"addr": "人民路口"}]}, "ignored": [1, 2]}`
	code, out := f.post(t, "yiwangtongban", "msg_c1", f.clk.Now(), body, mustSecret(t, secretA))
	require.Equal(t, http.StatusAccepted, code, out)
	env := f.envelopes(t)[0]
	require.Equal(t, "90071992547409931", env.Source.NativeID, "numbers are kept exact")
	require.Equal(t, "42", env.Citizen.ChannelUserID)
	require.Equal(t, "李四", env.Citizen.Name, "unmapped fields keep their default path")
	require.Equal(t, normalize.KindComplaint, env.Kind)
	require.Equal(t, "路灯不亮", env.Content.Text)
	require.Equal(t, "人民路口", env.Location.Address)

	// The default category codes still work alongside the configured ones.
	m, err := partner.NewMapper(cfg.Mapping, cfg.Kinds)
	require.NoError(t, err)
	r, err := m.Map([]byte(`{"meta":{"serial":"x"},"user":{"uid":"u"},"payload":{"type":"help","body":"b"}}`))
	require.NoError(t, err)
	require.Equal(t, normalize.KindHelp, r.Kind)
}

func TestBodyThatDoesNotMap(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		code   string
		fields map[string]string
	}{
		{"not JSON", `{"request_id":`, "bad_request", nil},
		{"not an object", `["a"]`, "bad_request", nil},
		{"trailing data", `{"request_id":"a"} {}`, "bad_request", nil},
		{"no request_id", `{"user":{"id":"u"},"content":"c"}`, "invalid_request", map[string]string{"request_id": "required"}},
		{"no user id", `{"request_id":"r","content":"c"}`, "invalid_request", map[string]string{"user.id": "required"}},
		{"user is not an object", `{"request_id":"r","user":"u","content":"c"}`, "invalid_request", map[string]string{"user.id": "required"}},
		{"request_id an object", `{"request_id":{},"user":{"id":"u"},"content":"c"}`, "invalid_request",
			map[string]string{"request_id": "must be a string"}},
		{"unknown category", `{"request_id":"r","user":{"id":"u"},"content":"c","category":"praise"}`, "invalid_request",
			map[string]string{"category": "unknown category code; want one of complaint, consultation, help, other, suggestion"}},
		{"bad date", `{"request_id":"r","user":{"id":"u"},"content":"c","occurred_at":"yesterday"}`, "invalid_request",
			map[string]string{"occurred_at": "must be an RFC 3339 date-time"}},
		{"attachments not an array", `{"request_id":"r","user":{"id":"u"},"attachments":{}}`, "invalid_request",
			map[string]string{"attachments": "must be an array of attachments"}},
		{"attachment URL", `{"request_id":"r","user":{"id":"u"},"attachments":[{"type":"image","url":"file:///etc/passwd"}]}`,
			"invalid_request", map[string]string{"attachments[0].url": "must be an https URL"}},
		{"attachment http URL", `{"request_id":"r","user":{"id":"u"},"attachments":[{"type":"image","url":"http://partner.example/a.jpg"}]}`,
			"invalid_request", map[string]string{"attachments[0].url": "must be an https URL"}},
		{"attachment javascript URL", `{"request_id":"r","user":{"id":"u"},"content":"c","attachments":[{"type":"link","url":"javascript:alert(1)"}]}`,
			"invalid_request", map[string]string{"attachments[0].url": "must be an https URL"}},
		// Envelope validation, named by the partner's paths.
		{"no content", `{"request_id":"r","user":{"id":"u"}}`, "invalid_request",
			map[string]string{"content": "required (or at least one attachment)"}},
		{"bad phone", `{"request_id":"r","user":{"id":"u","phone":"call me"},"content":"c"}`, "invalid_request",
			map[string]string{"user.phone": "must be a phone number (digits, optional leading +)"}},
		{"bad attachment type", `{"request_id":"r","user":{"id":"u"},"attachments":[{"type":"hologram"}]}`, "invalid_request",
			map[string]string{"attachments[0].type": "must be one of: image audio video file location link miniprogram_page"}},
	}
	f := newFixture(t, map[string]configs.Partner{"suishenban": {Secret: secretA}})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.post(t, "suishenban", "msg_bad_"+string(rune('a'+i)), f.clk.Now(), tc.body, mustSecret(t, secretA))
			require.Equal(t, http.StatusBadRequest, code, out)
			require.Equal(t, tc.code, errCode(out))
			if tc.fields != nil {
				got := map[string]string{}
				for k, v := range out["error"].(map[string]any)["fields"].(map[string]any) {
					got[k] = v.(string)
				}
				require.Equal(t, tc.fields, got)
			}
		})
	}
	require.Zero(t, f.depth(t))
}

func TestNewMapperErrors(t *testing.T) {
	cases := []struct {
		name    string
		mapping map[string]string
		kinds   map[string]string
		want    string
	}{
		{"unknown target", map[string]string{"citizen.email": "user.mail"}, nil, `unknown envelope field "citizen.email"`},
		{"empty path", map[string]string{"content.text": ""}, nil, "not a dotted JSON path"},
		{"empty segment", map[string]string{"content.text": "payload..body"}, nil, "not a dotted JSON path"},
		{"unknown kind", nil, map[string]string{"X": "praise"}, `"praise" is not an envelope kind`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := partner.NewMapper(tc.mapping, tc.kinds)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestLookup(t *testing.T) {
	var doc any
	require.NoError(t, json.Unmarshal([]byte(`{"a":{"b":[{"c":"x"},{"c":"y"}],"0":"zero"},"n":null}`), &doc))
	cases := []struct {
		path string
		want any
		ok   bool
	}{
		{"a.b.1.c", "y", true},
		{"a.b.0.c", "x", true},
		{"a.0", "zero", true}, // a numeric segment on an object is a member name
		{"n", nil, true},
		{"a.b.2.c", nil, false},
		{"a.b.-1", nil, false},
		{"a.b.x", nil, false},
		{"a.b.0.c.d", nil, false},
		{"missing", nil, false},
		{"", nil, false},
		{"a..b", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			v, ok := partner.Lookup(doc, tc.path)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, v)
		})
	}
}

func TestPartnerFields(t *testing.T) {
	m, err := partner.NewMapper(map[string]string{"citizen.phone": "contact.mobile"}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"contact.mobile": "x", "attachments[3].url": "y", "citizen_key": "z"},
		m.PartnerFields(map[string]string{"citizen.phone": "x", "content.attachments[3].url": "y", "citizen_key": "z"}))
}

func FuzzMapper(f *testing.F) {
	f.Add([]byte(defaultBody))
	f.Add([]byte(`{"request_id":1,"user":{"id":2},"content":"c"}`))
	f.Add([]byte(`{"request_id":"r","user":{"id":"u"},"attachments":[{"type":"image","size":-1}]}`))
	f.Add([]byte(`{"a":[[[[]]]]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("\xff"))
	f.Add([]byte(`{"request_id":"r","user":{"id":"u"},"occurred_at":"2025-13-01T00:00:00Z"}`))
	def, err := partner.NewMapper(nil, nil)
	require.NoError(f, err)
	custom, err := partner.NewMapper(map[string]string{"content.text": "a.0.b", "citizen.channel_user_id": "a.1"}, nil)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range []*partner.Mapper{def, custom} {
			r, err := m.Map(body)
			if err != nil {
				var ae *apierr.Error
				require.ErrorAs(t, err, &ae)
				require.Contains(t, []apierr.Code{apierr.CodeBadRequest, apierr.CodeInvalid}, ae.Code)
				continue
			}
			require.NotEmpty(t, r.RequestID)
			require.NotEmpty(t, r.UserID)
			env := &normalize.Envelope{}
			r.Apply(env, "suishenban")
			require.Equal(t, r.RequestID, env.Source.NativeID)
		}
	})
}

func BenchmarkMapDefaultBody(b *testing.B) {
	m, err := partner.NewMapper(nil, nil)
	require.NoError(b, err)
	body := []byte(defaultBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := m.Map(body); err != nil {
			b.Fatal(err)
		}
	}
}
