// Package web serves the live-chat pages from the binary: the agent console
// at /console/ and the citizen chat widget at /widget/ (with /widget/embed.js,
// which a website includes to open the widget in an iframe bubble).
//
// The pages are plain HTML, JavaScript and CSS embedded with go:embed; there
// is no build step. They speak only to their own origin: the REST calls of
// contract §4 (POST /v1/agents/login, POST /v1/citizen/sessions) and the
// websockets /v1/ws/agent and /v1/ws/citizen. Every UI string lives in a
// per-page dictionary (i18n.json) with a Chinese and an English column.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed static
var static embed.FS

// Apps are the page trees Mount serves, each at "/<app>/".
var Apps = []string{"console", "widget"}

// sharedDir holds files served under every app (the i18n and websocket helper).
const sharedDir = "shared"

type asset struct {
	body  []byte
	ctype string
	etag  string
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// pageCSP keeps the pages to their own origin. 'self' covers ws(s):// to the
// same host (CSP level 3). The console may not be framed; the widget must be,
// by any website that embeds it.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'"

// assets maps "<app>/<file>" to its content. Built once; the FS is read-only.
var assets = sync.OnceValue(func() map[string]asset {
	out := map[string]asset{}
	add := func(key, file string) {
		b, err := static.ReadFile(file)
		if err != nil {
			panic(err) // embedded at build time: cannot fail
		}
		sum := sha256.Sum256(b)
		ct := contentTypes[path.Ext(file)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[key] = asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	walk := func(dir string, each func(rel, file string)) {
		_ = fs.WalkDir(static, "static/"+dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				each(strings.TrimPrefix(p, "static/"+dir+"/"), p)
			}
			return err
		})
	}
	for _, app := range Apps {
		walk(sharedDir, func(rel, file string) { add(app+"/"+rel, file) })
		walk(app, func(rel, file string) { add(app+"/"+rel, file) })
	}
	return out
})

// Files lists the served paths ("console/index.html", …), for tests and docs.
func Files() []string {
	var out []string
	for k := range assets() {
		out = append(out, k)
	}
	return out
}

// Mount registers GET /console, /console/, /console/* and /widget, /widget/,
// /widget/*. "/<app>" redirects to "/<app>/" (relative URLs in the pages need
// the slash). Unknown files are 404. Every answer carries an ETag and
// Cache-Control: no-cache, so a new binary's pages are picked up at once while
// unchanged files cost a 304.
func Mount(e *echo.Echo) {
	for _, app := range Apps {
		h := serve(app)
		e.GET("/"+app, func(c echo.Context) error {
			to := "/" + app + "/"
			if q := c.Request().URL.RawQuery; q != "" {
				to += "?" + q
			}
			return c.Redirect(http.StatusMovedPermanently, to)
		})
		e.GET("/"+app+"/", h)
		e.GET("/"+app+"/*", h)
	}
}

func serve(app string) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := c.Param("*")
		if name == "" {
			name = "index.html"
		}
		a, ok := assets()[app+"/"+name]
		if !ok {
			return echo.ErrNotFound
		}
		h := c.Response().Header()
		h.Set("Content-Type", a.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(name, ".html") {
			csp := pageCSP
			if app == "console" {
				csp += "; frame-ancestors 'none'"
				h.Set("X-Frame-Options", "DENY")
			}
			h.Set("Content-Security-Policy", csp)
			h.Set("Referrer-Policy", "same-origin")
		}
		// ServeContent answers If-None-Match with 304 and handles HEAD and ranges.
		http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(a.body))
		return nil
	}
}
