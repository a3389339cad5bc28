package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/livechat"
)

// A node that is not the chat home relays its clients' websockets to the
// home over one link (livechat.Relay, ADR 0003), and their REST reads as a
// reverse proxy.

// dialLink opens this node's link to the home at addr.
func (ch *chatHome) dialLink(ctx context.Context, addr string) (*websocket.Conn, error) {
	hdr := http.Header{}
	ch.peerHeaders(hdr, "")
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 16 << 10, WriteBufferSize: 16 << 10}
	ws, resp, err := d.DialContext(ctx, (&url.URL{Scheme: "ws", Host: addr, Path: livechat.LinkPath}).String(), hdr)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: link to the chat home %s: %w", addr, err)
	}
	return ws, nil
}

// relayWS relays the client's websocket to the home at addr.
func (ch *chatHome) relayWS(c echo.Context, addr string) error {
	err := ch.relay.Serve(c, addr, ch.g.clientIP(c.Request()))
	var refused *apierr.Error
	if err == nil || errors.As(err, &refused) {
		return err
	}
	return unavailable(err)
}

// proxy relays a REST request to the home.
func (ch *chatHome) proxy(c echo.Context, addr string) error {
	var failed error
	ip := ch.g.clientIP(c.Request())
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "http", Host: addr})
			pr.Out.Host = pr.In.Host
			ch.peerHeaders(pr.Out.Header, ip)
		},
		Transport:    ch.transport,
		ErrorLog:     slog.NewLogLogger(ch.g.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(_ http.ResponseWriter, _ *http.Request, err error) { failed = err },
	}
	p.ServeHTTP(c.Response(), c.Request())
	if failed != nil && !c.Response().Committed {
		return unavailable(failed)
	}
	return nil
}
