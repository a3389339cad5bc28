package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/followup"
)

//go:embed static
var static embed.FS

// The CSS and the script are inlined: a single-use page on a phone's
// network costs one round trip. The CSP allows exactly these two by hash.
var (
	pageCSS = mustRead("static/survey.css")
	pageJS  = mustRead("static/survey.js")
	tmpl    = template.Must(template.New("page.html").ParseFS(static, "static/page.html"))
	csp     = "default-src 'none'; script-src '" + sha(pageJS) + "'; style-src '" + sha(pageCSS) + "'; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

func mustRead(name string) string {
	b, err := static.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return string(b)
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

type choice struct{ Value, Label string }

// view is what the template shows: the form (Form), the thank-you page
// (Thanks) or a message page (Title and Text).
type view struct {
	T           *texts
	Title, Text string
	Form        bool
	Thanks      bool
	Number      string
	Action, API string
	SwitchURL   string
	Entered     formAnswer
	Errors      map[string]string
	Ratings     []choice
	MaxComment  int
	CSS         template.CSS
	JS          template.JS
}

// newView starts a view of the page of code in t's language. code is the
// path parameter as echo gives it, escaped or not: it may be anything the
// citizen typed, so it is unescaped once and escaped again.
func newView(t *texts, code string) *view {
	if u, err := url.PathUnescape(code); err == nil {
		code = u
	}
	p := "/s/" + url.PathEscape(code)
	return &view{T: t, SwitchURL: p + "?lang=" + t.OtherParam, Action: p + "?lang=" + t.Param,
		API: "/v1/surveys/" + url.PathEscape(code), CSS: template.CSS(pageCSS)}
}

// form sets the survey form up, with what was entered and its errors.
func (v *view) form(number string, entered formAnswer, errs map[string]string) *view {
	v.Form, v.Title, v.Number, v.Entered, v.Errors = true, v.T.SurveyTitle, number, entered, errs
	v.MaxComment, v.JS = followup.MaxComment, template.JS(pageJS)
	v.Ratings = make([]choice, 0, len(followup.Ratings))
	for _, r := range followup.Ratings {
		v.Ratings = append(v.Ratings, choice{Value: r, Label: v.T.Ratings[r]})
	}
	return v
}

func (v *view) message(title, text string) *view {
	v.Title, v.Text = title, text
	return v
}

// write renders v with status and the page headers: no caching and no
// referrer (the URL holds a bearer code), no framing, no indexing.
func write(c echo.Context, status int, v *view) error {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("Content-Language", v.T.Lang)
	h.Add("Vary", "Accept-Language")
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.HTMLBlob(status, b.Bytes())
}
