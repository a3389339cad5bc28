// Package page is the citizen's side of the follow-up survey (contract §9):
// the mobile page GET /s/{code} in Chinese and English, its plain form post
// POST /s/{code} (it works without JavaScript), and the JSON answer
// POST /v1/surveys/{code} for apps, the widget and the page's own script.
//
// The code in the URL is the only credential: it is checked for shape before
// any lookup, never logged beyond its first 4 characters, and the pages are
// sent with no-store and no-referrer. The comment is never logged.
package page

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/internal/apierr"
)

// Surveys is what the page needs of the follow-up service
// (*followup.Service implements it). Lookup reports an answered or expired
// survey by View.State or by ErrAnswered / ErrExpired; both are understood.
type Surveys interface {
	Lookup(ctx context.Context, code string) (followup.View, error)
	Answer(ctx context.Context, code string, a followup.Answer) error
}

// DefaultMaxBody bounds a POST body: 500 characters of 4 bytes each,
// percent-encoded (×3) or as JSON surrogate escapes, fit with room to spare.
const DefaultMaxBody = 16 << 10

// Options tune Mount.
type Options struct {
	MaxBody int64        // bytes of a POST body; DefaultMaxBody when 0
	Logger  *slog.Logger // slog.Default() when nil
}

type handler struct {
	s   Surveys
	max int64
	log *slog.Logger
}

// Mount registers GET and POST /s/:code and POST /v1/surveys/:code. None
// takes a token (the code is the credential). The JSON endpoint returns
// *apierr.Error for the gateway's error handler; the HTML routes write
// their own pages.
func Mount(e *echo.Echo, s Surveys, opts Options) {
	h := &handler{s: s, max: opts.MaxBody, log: opts.Logger}
	if h.max <= 0 {
		h.max = DefaultMaxBody
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	e.GET("/s/:code", h.page)
	e.HEAD("/s/:code", h.page)
	e.POST("/s/:code", h.formPost)
	e.POST("/v1/surveys/:code", h.apiPost)
}

// page shows the survey, or why it cannot be answered.
func (h *handler) page(c echo.Context) error {
	t, code := pick(c.Request()), c.Param("code")
	v, status, ok := h.lookup(c, t, code)
	if !ok {
		return write(c, status, v)
	}
	return write(c, http.StatusOK, v)
}

// lookup returns the form for code, or else the page saying why not.
func (h *handler) lookup(c echo.Context, t *texts, code string) (*view, int, bool) {
	v := newView(t, code)
	if !validCode(code) {
		return v.message(t.NotFoundTitle, t.NotFoundText), http.StatusNotFound, false
	}
	sv, err := h.s.Lookup(c.Request().Context(), code)
	switch {
	case err == nil && sv.State == followup.StateAnswered:
		err = followup.ErrAnswered
	case err == nil && sv.State == followup.StateExpired:
		err = followup.ErrExpired
	case err == nil && sv.State == followup.StateNone:
		err = followup.ErrUnknown
	}
	if err != nil {
		status := h.errorPage(c, v, code, err)
		return v, status, false
	}
	return v.form(sv.Number, formAnswer{}, nil), http.StatusOK, true
}

// errorPage turns the service's error into v's message and its status.
func (h *handler) errorPage(c echo.Context, v *view, code string, err error) int {
	t := v.T
	switch {
	case errors.Is(err, followup.ErrUnknown):
		v.message(t.NotFoundTitle, t.NotFoundText)
		return http.StatusNotFound
	case errors.Is(err, followup.ErrAnswered):
		v.message(t.AnsweredTitle, t.AnsweredText)
		return http.StatusConflict
	case errors.Is(err, followup.ErrExpired):
		v.message(t.ExpiredTitle, t.ExpiredText)
		return http.StatusGone
	}
	h.log.Error("survey page failed", "code", codePrefix(code), "method", c.Request().Method, "err", err)
	v.message(t.FailedTitle, t.FailedText)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// formPost takes the plain form (no JavaScript): the thank-you page, the
// form again with its errors (400), or the page saying why not.
func (h *handler) formPost(c echo.Context) error {
	r, t, code := c.Request(), pick(c.Request()), c.Param("code")
	v := newView(t, code)
	if !validCode(code) {
		return write(c, http.StatusNotFound, v.message(t.NotFoundTitle, t.NotFoundText))
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return write(c, http.StatusUnsupportedMediaType, v.message(t.BadFormTitle, t.BadFormText))
	}
	body, err := httpin.ReadBody(r, h.max)
	if err != nil {
		if apierr.From(err).Code == apierr.CodeTooLarge {
			return write(c, http.StatusRequestEntityTooLarge, v.message(t.TooLargeTitle, t.TooLargeText))
		}
		return write(c, http.StatusBadRequest, v.message(t.BadFormTitle, t.BadFormText))
	}
	a, entered, fields, err := decodeForm(body)
	if err != nil {
		return write(c, http.StatusBadRequest, v.message(t.BadFormTitle, t.BadFormText))
	}
	if len(fields) > 0 {
		// The form again, unless the survey cannot be answered anyway.
		fv, status, ok := h.lookup(c, t, code)
		if !ok {
			return write(c, status, fv)
		}
		return write(c, http.StatusBadRequest, fv.form(fv.Number, entered, fields))
	}
	if err := h.s.Answer(r.Context(), code, a); err != nil {
		return write(c, h.errorPage(c, v, code, err), v)
	}
	h.answered(code, "form", a)
	v.Thanks = true
	return write(c, http.StatusOK, v.message(t.ThanksTitle, t.ThanksText))
}

// apiPost is POST /v1/surveys/{code}: 200 {"state":"answered"} or an
// *apierr.Error.
func (h *handler) apiPost(c echo.Context) error {
	code := c.Param("code")
	if !validCode(code) {
		return apierr.New(apierr.CodeNotFound, "no such survey")
	}
	body, err := httpin.ReadJSON(c.Request(), h.max)
	if err != nil {
		return err
	}
	a, err := decodeJSON(body)
	if err != nil {
		return err
	}
	if err := h.s.Answer(c.Request().Context(), code, a); err != nil {
		switch {
		case errors.Is(err, followup.ErrUnknown):
			return apierr.New(apierr.CodeNotFound, "no such survey")
		case errors.Is(err, followup.ErrAnswered):
			return apierr.New(apierr.CodeAnswered, "this survey was already answered")
		case errors.Is(err, followup.ErrExpired):
			return apierr.New(apierr.CodeExpired, "this survey has expired")
		}
		h.log.Error("survey answer failed", "code", codePrefix(code), "err", err)
		return err // the gateway's handler maps shutdown and timeouts to 503
	}
	h.answered(code, "json", a)
	return c.JSON(http.StatusOK, map[string]string{"state": followup.StateAnswered})
}

// answered logs an answer: never the comment, only its length.
func (h *handler) answered(code, via string, a followup.Answer) {
	h.log.Info("survey answered", "code", codePrefix(code), "via", via, "resolved", *a.Resolved,
		"rating", a.Rating, "comment_len", len([]rune(a.Comment)))
}
