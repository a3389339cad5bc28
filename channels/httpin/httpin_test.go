package httpin_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
)

func code(t *testing.T, err error) apierr.Code {
	t.Helper()
	var ae *apierr.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	require.NotEmpty(t, ae.Message)
	return ae.Code
}

func TestReadBodyBoundsTheBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		chunked bool
		want    apierr.Code // "" = accepted
	}{
		{"empty", "", false, ""},
		{"at the limit", strings.Repeat("a", 10), false, ""},
		{"over, length announced", strings.Repeat("a", 11), false, apierr.CodeTooLarge},
		{"at the limit, chunked", strings.Repeat("a", 10), true, ""},
		{"over, chunked", strings.Repeat("a", 1000), true, apierr.CodeTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body)
			}
			r := httptest.NewRequest("POST", "/", body)
			b, err := httpin.ReadBody(r, 10)
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, tc.body, string(b))
				return
			}
			require.Equal(t, tc.want, code(t, err))
			require.Equal(t, 413, apierr.Status(tc.want))
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadBodyReportsBrokenUploads(t *testing.T) {
	r := httptest.NewRequest("POST", "/", failingReader{})
	_, err := httpin.ReadBody(r, 10)
	require.Equal(t, apierr.CodeBadRequest, code(t, err))
}

func TestDecodeStrict(t *testing.T) {
	type inner struct {
		N int `json:"n"`
	}
	type target struct {
		S  string `json:"s"`
		B  bool   `json:"b"`
		In inner  `json:"in"`
	}
	tests := []struct {
		name   string
		body   string
		want   apierr.Code
		fields map[string]string
	}{
		{"ok", `{"s":"x","b":true,"in":{"n":1}}`, "", nil},
		{"ok with whitespace", " {\"s\":\"x\"}\n", "", nil},
		{"empty", "", apierr.CodeBadRequest, nil},
		{"syntax", `{"s":}`, apierr.CodeBadRequest, nil},
		{"truncated", `{"s":"x"`, apierr.CodeBadRequest, nil},
		{"wrong type", `{"s":1}`, apierr.CodeBadRequest, map[string]string{"s": "must be a string"}},
		{"wrong bool", `{"b":"yes"}`, apierr.CodeBadRequest, map[string]string{"b": "must be a boolean"}},
		{"wrong nested", `{"in":{"n":"1"}}`, apierr.CodeBadRequest, map[string]string{"in.n": "must be a number"}},
		{"object expected", `{"in":[]}`, apierr.CodeBadRequest, map[string]string{"in": "must be an object"}},
		{"top level not an object", `"s"`, apierr.CodeBadRequest, map[string]string{"(body)": "must be an object"}},
		{"unknown", `{"s":"x","t":1}`, apierr.CodeBadRequest, map[string]string{"t": "unknown field"}},
		{"unknown nested, named by its path", `{"in":{"n":1,"m":2}}`, apierr.CodeBadRequest, map[string]string{"in.m": "unknown field"}},
		{"duplicate key", `{"s":"x","s":"y"}`, apierr.CodeBadRequest, map[string]string{"s": "duplicate key"}},
		{"duplicate nested key", `{"in":{"n":1,"n":2}}`, apierr.CodeBadRequest, map[string]string{"in.n": "duplicate key"}},
		{"case variant of a field", `{"S":"x"}`, apierr.CodeBadRequest, map[string]string{"S": "unknown field"}},
		{"case variant beside the field", `{"s":"x","S":"y"}`, apierr.CodeBadRequest, map[string]string{"S": "unknown field"}},
		{"NUL escaped", `{"s":"a\u0000b"}`, apierr.CodeBadRequest, map[string]string{"s": "NUL characters are not allowed"}},
		{"NUL in a key", `{"in":{"\u0000":1}}`, apierr.CodeBadRequest, nil},
		{"lone high surrogate", `{"s":"\ud800"}`, apierr.CodeBadRequest, nil},
		{"lone low surrogate", `{"s":"x\udc00y"}`, apierr.CodeBadRequest, nil},
		{"surrogate pair is fine", `{"s":"\ud83d\ude00"}`, "", nil},
		{"escaped backslash before u0000 is fine", `{"s":"\\u0000"}`, "", nil},
		{"out of range", `{"in":{"n":1e400}}`, apierr.CodeBadRequest, map[string]string{"in.n": "must be a number"}},
		{"trailing object", `{"s":"x"}{}`, apierr.CodeBadRequest, nil},
		{"trailing garbage", `{"s":"x"} x`, apierr.CodeBadRequest, nil},
		{"invalid UTF-8", "{\"s\":\"\xc3\x28\"}", apierr.CodeBadRequest, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v target
			err := httpin.DecodeStrict([]byte(tc.body), &v)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.want, code(t, err))
			if tc.fields != nil {
				var ae *apierr.Error
				errors.As(err, &ae)
				require.Equal(t, tc.fields, ae.Fields)
			}
		})
	}
}

// FuzzDecodeStrict: any body gives a decoded value or a 400, never a panic.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"s":"x","in":{"n":1}}`, `{"s":1}`, `{"t":1}`, `{}{}`, `[`, "\xff", `null`, `{"in":{"n":1e400}}`,
		`{"s":"a","s":"b"}`, `{"S":"x"}`, `{"s":"\u0000"}`, `{"s":"\ud800"}`, `{"in":{"n":1,"N":2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v struct {
			S  string `json:"s"`
			In struct {
				N int `json:"n"`
			} `json:"in"`
		}
		if err := httpin.DecodeStrict(body, &v); err != nil {
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Code != apierr.CodeBadRequest || ae.Message == "" {
				t.Fatalf("DecodeStrict(%q) = %v", body, err)
			}
		}
	})
}

func TestReadJSONWantsApplicationJSON(t *testing.T) {
	tests := []struct {
		name, ctype, body string
		want              apierr.Code // "" = accepted
	}{
		{"json", "application/json", `{}`, ""},
		{"json with charset", "application/json; charset=utf-8", `{}`, ""},
		{"json, other case", "Application/JSON", `{}`, ""},
		{"text/plain, a browser's simple cross-origin POST", "text/plain", `{}`, apierr.CodeUnsupported},
		{"form encoded", "application/x-www-form-urlencoded", `{}`, apierr.CodeUnsupported},
		{"none", "", `{}`, apierr.CodeUnsupported},
		{"malformed", "application/json;;;", `{}`, apierr.CodeUnsupported},
		{"empty body needs no type", "", ``, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			b, err := httpin.ReadJSON(r, 100)
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, tc.body, string(b))
				return
			}
			require.Equal(t, tc.want, code(t, err))
			require.Equal(t, 415, apierr.Status(tc.want))
		})
	}
}

func TestLimiterTokenBucket(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := httpin.NewLimiter(2, 3, clk) // 2/s, burst 3
	for i := range 3 {
		ok, _ := l.Allow("a")
		require.True(t, ok, "burst token %d", i)
	}
	ok, wait := l.Allow("a")
	require.False(t, ok)
	require.Equal(t, time.Second, wait, "Retry-After is at least a second")
	ok, _ = l.Allow("b")
	require.True(t, ok, "keys are independent")

	clk.Advance(500 * time.Millisecond) // one token back at 2/s
	ok, _ = l.Allow("a")
	require.True(t, ok)
	ok, _ = l.Allow("a")
	require.False(t, ok)

	clk.Advance(time.Hour) // refills to the burst, not beyond; idle buckets are swept
	for range 3 {
		ok, _ = l.Allow("a")
		require.True(t, ok)
	}
	ok, _ = l.Allow("a")
	require.False(t, ok)
}

func TestLimiterLongWaitAndDisabled(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := httpin.NewLimiter(0.1, 1, clk) // one per 10 s
	ok, _ := l.Allow("a")
	require.True(t, ok)
	ok, wait := l.Allow("a")
	require.False(t, ok)
	require.InDelta(t, 10*time.Second, wait, float64(10*time.Millisecond))

	for _, off := range []*httpin.Limiter{nil, httpin.NewLimiter(0, 1, clk)} {
		for range 100 {
			ok, _ := off.Allow("a")
			require.True(t, ok)
		}
	}
}
