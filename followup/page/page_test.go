package page_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/followup/page"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/logtest"
)

// Survey codes of the fake, one per state.
const (
	codeOpen     = "q1w2E3r4T5y6U7i8O9p0Aa"
	codeAnswered = "Answered0000000000000A"
	codeExpired  = "Expired-00000000000000"
	codeGoneErr  = "ExpiredByErr_000000000" // Lookup says so by ErrExpired, not by State
	codeBroken   = "Broken0000000000000000" // the store fails
	codeUnknown  = "Unknown000000000000000"
	number       = "20250612-000123"
)

var errStore = errors.New("store: disk on fire")

// surveys is the in-memory Surveys: each code has a state; Answer takes an
// open one once.
type surveys struct {
	mu      sync.Mutex
	views   map[string]followup.View
	answers map[string]followup.Answer
	calls   int
}

func newSurveys() *surveys {
	v := func(state string) followup.View { return followup.View{State: state, Number: number, Channel: "sms"} }
	return &surveys{answers: map[string]followup.Answer{}, views: map[string]followup.View{
		codeOpen: v(followup.StateSent), codeAnswered: v(followup.StateAnswered), codeExpired: v(followup.StateExpired),
		codeGoneErr: v(followup.StateSent), codeBroken: v(followup.StateSent),
	}}
}

// add makes a survey with code in state.
func (s *surveys) add(code, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.views[code] = followup.View{State: state, Number: number, Channel: "web"}
}

func (s *surveys) Lookup(_ context.Context, code string) (followup.View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	v, ok := s.views[code]
	switch {
	case !ok:
		return followup.View{}, followup.ErrUnknown
	case code == codeGoneErr:
		return followup.View{}, followup.ErrExpired
	case code == codeBroken:
		return followup.View{}, errStore
	}
	return v, nil
}

func (s *surveys) Answer(_ context.Context, code string, a followup.Answer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	v, ok := s.views[code]
	switch {
	case !ok:
		return followup.ErrUnknown
	case code == codeGoneErr || v.State == followup.StateExpired:
		return followup.ErrExpired
	case code == codeBroken:
		return errStore
	case v.State == followup.StateAnswered:
		return followup.ErrAnswered
	}
	v.State = followup.StateAnswered
	s.views[code] = v
	s.answers[code] = a
	return nil
}

func (s *surveys) answer(code string) (followup.Answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.answers[code]
	return a, ok
}

func (s *surveys) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// newEcho mounts the page with the gateway's error shape: an *apierr.Error
// as {"error": …} with apierr.Status.
func newEcho(s page.Surveys, opts page.Options) *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	page.Mount(e, s, opts)
	return e
}

func do(e *echo.Echo, method, path, ctype, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	return w
}

func ptr[T any](v T) *T { return &v }

const formType = "application/x-www-form-urlencoded"

func TestSurveyPage(t *testing.T) {
	tests := []struct {
		name, path, acceptLang string
		status                 int
		lang                   string   // the html lang attribute
		want                   []string // in the body
		noLookup               bool     // the code's shape alone answers
	}{
		{name: "zh by default", path: "/s/" + codeOpen, status: 200, lang: "zh-CN", want: []string{
			"<h1>服务满意度回访</h1>", "工单编号：<strong>" + number + "</strong>", "<legend>您反映的问题是否已解决？</legend>",
			"<span>满意</span>", "<span>基本满意</span>", "<span>不满意</span>", `maxlength="500"`,
			`<form id="survey" method="post" action="/s/` + codeOpen + `?lang=zh" data-api="/v1/surveys/` + codeOpen + `"`,
			`<a class="lang" href="/s/` + codeOpen + `?lang=en" lang="en" hreflang="en">English</a>`}},
		{name: "en by query", path: "/s/" + codeOpen + "?lang=en", status: 200, lang: "en", want: []string{
			"<h1>Satisfaction survey</h1>", "Request number: <strong>" + number + "</strong>", "<legend>Was your matter resolved?</legend>",
			"<span>Satisfied</span>", "<span>Basically satisfied</span>", "<span>Dissatisfied</span>",
			`action="/s/` + codeOpen + `?lang=en"`, `href="/s/` + codeOpen + `?lang=zh" lang="zh-CN" hreflang="zh-CN">中文</a>`}},
		{name: "en by Accept-Language", path: "/s/" + codeOpen, acceptLang: "en-GB,en;q=0.9", status: 200, lang: "en",
			want: []string{"Satisfaction survey"}},
		{name: "en preferred over zh", path: "/s/" + codeOpen, acceptLang: "fr-FR, en;q=0.8, zh-CN;q=0.5", status: 200, lang: "en"},
		{name: "zh preferred over en", path: "/s/" + codeOpen, acceptLang: "zh-TW,zh;q=0.9,en;q=0.8", status: 200, lang: "zh-CN"},
		{name: "neither: zh", path: "/s/" + codeOpen, acceptLang: "de-DE,fr;q=0.5", status: 200, lang: "zh-CN"},
		{name: "query wins", path: "/s/" + codeOpen + "?lang=zh", acceptLang: "en", status: 200, lang: "zh-CN"},
		{name: "unknown zh", path: "/s/" + codeUnknown, status: 404, lang: "zh-CN", want: []string{"<h1>链接无效</h1>"}},
		{name: "unknown en", path: "/s/" + codeUnknown + "?lang=en", status: 404, lang: "en", want: []string{"<h1>This link is not valid</h1>"}},
		{name: "too short", path: "/s/abc", status: 404, lang: "zh-CN", want: []string{"链接无效"}, noLookup: true},
		{name: "too long", path: "/s/" + codeOpen + "A", status: 404, lang: "zh-CN", noLookup: true},
		{name: "not base64url", path: "/s/q1w2E3r4T5y6U7i8O9p0A%2B?lang=en", status: 404, lang: "en",
			want: []string{"This link is not valid", `href="/s/q1w2E3r4T5y6U7i8O9p0A&#43;?lang=zh"`}, noLookup: true},
		{name: "answered zh", path: "/s/" + codeAnswered, status: 409, lang: "zh-CN", want: []string{"<h1>感谢您，已完成评价</h1>"}},
		{name: "answered en", path: "/s/" + codeAnswered + "?lang=en", status: 409, lang: "en", want: []string{"<h1>Thank you, already answered</h1>"}},
		{name: "expired zh", path: "/s/" + codeExpired, status: 410, lang: "zh-CN", want: []string{"<h1>本次回访已过期</h1>"}},
		{name: "expired en", path: "/s/" + codeExpired, acceptLang: "en", status: 410, lang: "en", want: []string{"<h1>This survey has expired</h1>"}},
		{name: "expired by error", path: "/s/" + codeGoneErr, status: 410, lang: "zh-CN", want: []string{"本次回访已过期"}},
		{name: "store fails", path: "/s/" + codeBroken + "?lang=en", status: 500, lang: "en", want: []string{"Service temporarily unavailable"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSurveys()
			w := do(newEcho(s, page.Options{}), http.MethodGet, tc.path, "", "", "Accept-Language", tc.acceptLang)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			require.Equal(t, "text/html; charset=UTF-8", w.Header().Get("Content-Type"))
			body := w.Body.String()
			require.Contains(t, body, `<html lang="`+tc.lang+`">`)
			require.Equal(t, tc.lang, w.Header().Get("Content-Language"))
			for _, want := range tc.want {
				require.Contains(t, body, want)
			}
			require.Equal(t, tc.status == 200, strings.Contains(body, `<form id="survey"`))
			if tc.noLookup {
				require.Zero(t, s.callCount(), "a code of the wrong shape reached the service")
			}
		})
	}
}

// TestPageIsSelfContained checks the headers and that the page needs
// nothing from elsewhere: its inline style and script are exactly what the
// CSP allows by hash, and every control has a label.
func TestPageIsSelfContained(t *testing.T) {
	w := do(newEcho(newSurveys(), page.Options{}), http.MethodGet, "/s/"+codeOpen, "", "")
	require.Equal(t, 200, w.Code)
	h, body := w.Header(), w.Body.String()
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	require.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", h.Get("X-Frame-Options"))
	csp := h.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'none'")
	require.Contains(t, csp, "form-action 'self'")
	require.NotContains(t, csp, "unsafe-inline")
	for _, tag := range []string{"style", "script"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(body, -1)
		require.Len(t, m, 1, tag)
		sum := sha256.Sum256([]byte(m[0][1]))
		require.Contains(t, csp, tag+"-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", tag)
	}
	require.Contains(t, body, `<meta name="viewport" content="width=device-width, initial-scale=1">`)
	require.NotRegexp(t, `(src|href)="(https?:)?//`, body, "an external resource")
	require.Equal(t, 2, strings.Count(body, "<fieldset"))
	require.Equal(t, 2, strings.Count(body, "<legend>"))
	require.Equal(t, 5, strings.Count(body, `<label class="choice"><input type="radio"`), "each radio inside its label")
	require.Contains(t, body, `<label for="comment">`)
	require.Contains(t, body, `<textarea id="comment" name="comment"`)

	head := do(newEcho(newSurveys(), page.Options{}), http.MethodHead, "/s/"+codeOpen, "", "")
	require.Equal(t, 200, head.Code)
	require.Empty(t, head.Body.String())
}

func TestFormPost(t *testing.T) {
	long := strings.Repeat("好", followup.MaxComment+1)
	tests := []struct {
		name, code, query, ctype, body string
		status                         int
		want                           []string // in the body
		answer                         *followup.Answer
		form                           bool // the survey form is shown again
	}{
		{name: "zh thanks", code: codeOpen, body: "resolved=yes&rating=satisfied&comment=%E8%B7%AF%E7%81%AF%E4%BF%AE%E5%A5%BD%E4%BA%86",
			status: 200, want: []string{`<div class="thanks" id="thanks">`, "<h1>感谢您的评价！</h1>", `<html lang="zh-CN">`},
			answer: &followup.Answer{Resolved: ptr(true), Rating: "satisfied", Comment: "路灯修好了"}},
		{name: "en thanks, CRLF kept as one line end", code: codeOpen, query: "?lang=en", body: "resolved=no&rating=basically_satisfied&comment=a%0D%0Ab",
			status: 200, want: []string{"<h1>Thank you for your feedback!</h1>", `<html lang="en">`},
			answer: &followup.Answer{Resolved: ptr(false), Rating: "basically_satisfied", Comment: "a\nb"}},
		{name: "charset parameter", code: codeOpen, ctype: formType + "; charset=UTF-8", body: "resolved=no&rating=dissatisfied",
			status: 200, answer: &followup.Answer{Resolved: ptr(false), Rating: "dissatisfied"}},
		{name: "nothing chosen", form: true, code: codeOpen, body: "comment=%3Cb%3Ehi", status: 400, want: []string{
			`role="alert"`, "提交未成功", `id="resolved-error" data-msg="请选择问题是否已解决。">请选择问题是否已解决。</p>`,
			`id="rating-error" data-msg="请选择您的满意程度。">请选择您的满意程度。</p>`, `value="yes" required aria-invalid="true">`,
			"&lt;b&gt;hi</textarea>", "工单编号：<strong>" + number}},
		{name: "what was entered is kept", form: true, code: codeOpen, query: "?lang=en", body: "resolved=no&rating=great&comment=street+light",
			status: 400, want: []string{`value="no" required checked>`, "street light</textarea>",
				`id="rating-error" data-msg="Please choose how satisfied you are.">Please choose how satisfied you are.</p>`,
				`<p class="error" id="resolved-error" data-msg="Please say whether your matter was resolved."></p>`}},
		{name: "comment too long", form: true, code: codeOpen, query: "?lang=en", body: "resolved=yes&rating=satisfied&comment=" + long,
			status: 400, want: []string{`value="satisfied" required checked>`, ">Comments can be at most 500 characters.</p>"}},
		{name: "resolved not yes or no", form: true, code: codeOpen, body: "resolved=maybe&rating=satisfied", status: 400,
			want: []string{">请选择问题是否已解决。</p>"}},
		{name: "resolved twice", form: true, code: codeOpen, body: "resolved=yes&resolved=no&rating=satisfied", status: 400,
			want: []string{">请选择问题是否已解决。</p>"}},
		{name: "answered", code: codeAnswered, body: "resolved=yes&rating=satisfied", status: 409, want: []string{"感谢您，已完成评价"}},
		{name: "answered, form invalid too", code: codeAnswered, query: "?lang=en", body: "rating=x", status: 409,
			want: []string{"Thank you, already answered"}},
		{name: "expired", code: codeExpired, query: "?lang=en", body: "resolved=yes&rating=satisfied", status: 410,
			want: []string{"This survey has expired"}},
		{name: "expired by error", code: codeGoneErr, body: "resolved=yes&rating=satisfied", status: 410, want: []string{"本次回访已过期"}},
		{name: "unknown", code: codeUnknown, body: "resolved=yes&rating=satisfied", status: 404, want: []string{"链接无效"}},
		{name: "bad shape", code: "nope", body: "resolved=yes&rating=satisfied", status: 404, want: []string{"链接无效"}},
		{name: "store fails", code: codeBroken, body: "resolved=yes&rating=satisfied", status: 500, want: []string{"服务暂时不可用"}},
		{name: "JSON to the form", code: codeOpen, ctype: "application/json", body: `{"resolved":true,"rating":"satisfied"}`,
			status: 415, want: []string{"无法读取提交的内容"}},
		{name: "no content type", code: codeOpen, ctype: "-", body: "resolved=yes&rating=satisfied", status: 415},
		{name: "too large", code: codeOpen, query: "?lang=en", body: "resolved=yes&rating=satisfied&comment=" + strings.Repeat("a", page.DefaultMaxBody),
			status: 413, want: []string{"Your answer is too long"}},
		{name: "not urlencoded", code: codeOpen, body: "resolved=%zz", status: 400, want: []string{"无法读取提交的内容"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSurveys()
			ctype := tc.ctype
			switch ctype {
			case "":
				ctype = formType
			case "-":
				ctype = ""
			}
			w := do(newEcho(s, page.Options{}), http.MethodPost, "/s/"+tc.code+tc.query, ctype, tc.body)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			require.Contains(t, w.Header().Get("Content-Type"), "text/html")
			require.NotEmpty(t, w.Header().Get("Content-Security-Policy"))
			for _, want := range tc.want {
				require.Contains(t, w.Body.String(), want)
			}
			got, ok := s.answer(tc.code)
			require.Equal(t, tc.answer != nil, ok, "answer recorded")
			if tc.answer != nil {
				require.Equal(t, *tc.answer, got)
			}
			require.Equal(t, tc.form, strings.Contains(w.Body.String(), `<form id="survey"`))
			if tc.form {
				require.Equal(t, 5, strings.Count(w.Body.String(), `<input type="radio"`))
			}
		})
	}
}

// errorBody decodes the contract's error body.
func errorBody(t *testing.T, w *httptest.ResponseRecorder) *apierr.Error {
	t.Helper()
	var b apierr.Body
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), w.Body.String())
	require.NotNil(t, b.Error, w.Body.String())
	require.NotEmpty(t, b.Error.Message)
	return b.Error
}

func TestAPIAnswer(t *testing.T) {
	cjk500 := strings.Repeat("好", followup.MaxComment)
	tests := []struct {
		name, code, ctype, body string
		status                  int
		code2                   apierr.Code // the error's code
		fields                  []string    // the error's fields
		answer                  *followup.Answer
		noCall                  bool
	}{
		{name: "answered", code: codeOpen, body: `{"resolved": true, "rating": "satisfied", "comment": "谢谢"}`, status: 200,
			answer: &followup.Answer{Resolved: ptr(true), Rating: "satisfied", Comment: "谢谢"}},
		{name: "not resolved, no comment", code: codeOpen, body: `{"resolved": false, "rating": "dissatisfied"}`, status: 200,
			answer: &followup.Answer{Resolved: ptr(false), Rating: "dissatisfied"}},
		{name: "500 characters", code: codeOpen, ctype: "application/json; charset=utf-8",
			body: `{"resolved": true, "rating": "basically_satisfied", "comment": "` + cjk500 + `"}`, status: 200,
			answer: &followup.Answer{Resolved: ptr(true), Rating: "basically_satisfied", Comment: cjk500}},
		{name: "501 characters", code: codeOpen, body: `{"resolved": true, "rating": "satisfied", "comment": "` + cjk500 + `好"}`,
			status: 400, code2: apierr.CodeInvalid, fields: []string{"comment"}},
		{name: "rating missing", code: codeOpen, body: `{"resolved": true}`, status: 400, code2: apierr.CodeInvalid, fields: []string{"rating"}},
		{name: "rating unknown", code: codeOpen, body: `{"resolved": true, "rating": "great"}`, status: 400, code2: apierr.CodeInvalid, fields: []string{"rating"}},
		{name: "resolved null", code: codeOpen, body: `{"resolved": null, "rating": ""}`, status: 400, code2: apierr.CodeInvalid,
			fields: []string{"resolved", "rating"}},
		{name: "resolved a string", code: codeOpen, body: `{"resolved": "yes", "rating": "satisfied"}`, status: 400,
			code2: apierr.CodeBadRequest, fields: []string{"resolved"}},
		{name: "unknown field", code: codeOpen, body: `{"resolved": true, "rating": "satisfied", "score": 5}`, status: 400,
			code2: apierr.CodeBadRequest, fields: []string{"score"}},
		{name: "bad JSON", code: codeOpen, body: `{"resolved": true,`, status: 400, code2: apierr.CodeBadRequest},
		{name: "empty body", code: codeOpen, body: ``, status: 400, code2: apierr.CodeBadRequest},
		{name: "form to the API", code: codeOpen, ctype: formType, body: "resolved=yes&rating=satisfied", status: 415, code2: apierr.CodeUnsupported},
		{name: "text/plain", code: codeOpen, ctype: "text/plain", body: `{"resolved": true, "rating": "satisfied"}`, status: 415, code2: apierr.CodeUnsupported},
		{name: "too large", code: codeOpen, body: `{"resolved": true, "rating": "satisfied", "comment": "` + strings.Repeat("a", page.DefaultMaxBody) + `"}`,
			status: 413, code2: apierr.CodeTooLarge},
		{name: "unknown code", code: codeUnknown, body: `{"resolved": true, "rating": "satisfied"}`, status: 404, code2: apierr.CodeNotFound},
		{name: "already answered", code: codeAnswered, body: `{"resolved": true, "rating": "satisfied"}`, status: 409, code2: apierr.CodeAnswered},
		{name: "expired", code: codeExpired, body: `{"resolved": true, "rating": "satisfied"}`, status: 410, code2: apierr.CodeExpired},
		{name: "store fails", code: codeBroken, body: `{"resolved": true, "rating": "satisfied"}`, status: 500, code2: apierr.CodeInternal},
		{name: "short code", code: "abc", body: `{"resolved": true, "rating": "satisfied"}`, status: 404, code2: apierr.CodeNotFound, noCall: true},
		{name: "code with padding", code: "q1w2E3r4T5y6U7i8O9p0A=", body: `{"resolved": true, "rating": "satisfied"}`, status: 404,
			code2: apierr.CodeNotFound, noCall: true},
		{name: "23 characters", code: codeOpen + "A", body: `{"resolved": true, "rating": "satisfied"}`, status: 404,
			code2: apierr.CodeNotFound, noCall: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSurveys()
			ctype := tc.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			w := do(newEcho(s, page.Options{}), http.MethodPost, "/v1/surveys/"+tc.code, ctype, tc.body)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			got, ok := s.answer(tc.code)
			require.Equal(t, tc.answer != nil, ok, "answer recorded")
			if tc.noCall {
				require.Zero(t, s.callCount())
			}
			if tc.status == 200 {
				require.JSONEq(t, `{"state":"answered"}`, w.Body.String())
				require.Equal(t, *tc.answer, got)
				return
			}
			e := errorBody(t, w)
			require.Equal(t, tc.code2, e.Code)
			require.Equal(t, tc.status, apierr.Status(e.Code))
			for _, f := range tc.fields {
				require.Contains(t, e.Fields, f)
			}
			if len(tc.fields) > 0 {
				require.Len(t, e.Fields, len(tc.fields), "%v", e.Fields)
			}
		})
	}
}

// TestSingleUse: an answer by either route closes the survey for both.
func TestSingleUse(t *testing.T) {
	for _, first := range []string{"form", "json"} {
		t.Run(first, func(t *testing.T) {
			e := newEcho(newSurveys(), page.Options{})
			post := func(route string) int {
				if route == "form" {
					return do(e, http.MethodPost, "/s/"+codeOpen, formType, "resolved=yes&rating=satisfied").Code
				}
				return do(e, http.MethodPost, "/v1/surveys/"+codeOpen, "application/json", `{"resolved":true,"rating":"satisfied"}`).Code
			}
			require.Equal(t, 200, post(first))
			require.Equal(t, 409, post("form"))
			require.Equal(t, 409, post("json"))
			require.Equal(t, 409, do(e, http.MethodGet, "/s/"+codeOpen, "", "").Code)
		})
	}
}

// TestLogsNeitherCommentNorCode: the code is a bearer secret (its first 4
// characters at most) and the comment is the citizen's words.
func TestLogsNeitherCommentNorCode(t *testing.T) {
	var buf logtest.Buffer
	e := newEcho(newSurveys(), page.Options{Logger: buf.Logger()})
	const comment = "我的邻居张三的电话是13800138000"
	require.Equal(t, 200, do(e, http.MethodPost, "/s/"+codeOpen, formType, "resolved=no&rating=dissatisfied&comment="+comment).Code)
	require.Equal(t, 500, do(e, http.MethodPost, "/v1/surveys/"+codeBroken, "application/json",
		`{"resolved":true,"rating":"satisfied","comment":"`+comment+`"}`).Code)
	require.Equal(t, 500, do(e, http.MethodPost, "/s/"+codeBroken, formType, "resolved=no&rating=dissatisfied&comment="+comment).Code)

	lines := buf.Lines(t, "survey answered")
	require.Len(t, lines, 1)
	require.Equal(t, codeOpen[:4], lines[0]["code"])
	require.Equal(t, "form", lines[0]["via"])
	require.Equal(t, false, lines[0]["resolved"])
	require.Equal(t, "dissatisfied", lines[0]["rating"])
	require.EqualValues(t, len([]rune(comment)), lines[0]["comment_len"])
	failed := buf.Lines(t, "survey answer failed", "survey page failed")
	require.Len(t, failed, 2)
	for _, l := range failed {
		require.Equal(t, codeBroken[:4], l["code"])
	}
	out := buf.String()
	for _, secret := range []string{codeOpen, codeBroken, codeOpen[:5], codeBroken[:5], "13800138000", "张三"} {
		require.NotContains(t, out, secret)
	}
}
