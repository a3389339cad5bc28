package livechat

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
)

// The home may send frames, and close, before the relaying node has
// upgraded its client: the client gets them all, in order, then the close,
// also when the link drops right after (the home's word wins over "the
// connection was lost").
func TestRelayPassesOnFramesSentBeforeTheUpgrade(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(map[bool]string{false: "link stays", true: "link drops"}[drop], func(t *testing.T) {
			relayEarlyFrames(t, drop)
		})
	}
}

func relayEarlyFrames(t *testing.T, dropLink bool) {
	const frames = 50
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			kind, id, _, err := parseLinkFrame(b)
			if err != nil || kind != linkOpen {
				continue
			}
			// All at once, right behind the acceptance.
			send := func(kind byte, payload []byte) bool {
				return ws.WriteMessage(websocket.BinaryMessage, appendLinkFrame(nil, kind, id, payload)) == nil
			}
			ok := send(linkAccept, nil)
			for i := 0; ok && i < frames; i++ {
				ok = send(linkText, []byte(strconv.Itoa(i)))
			}
			if !ok || !send(linkClose, websocket.FormatCloseMessage(CloseAuth, "log in again")) || dropLink {
				return
			}
		}
	}))
	defer home.Close()
	addr := strings.TrimPrefix(home.URL, "http://")

	r := NewRelay(configs.Default().LiveChat, slog.New(slog.NewTextHandler(io.Discard, nil)),
		func(ctx context.Context, addr string) (*websocket.Conn, error) {
			ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+LinkPath, nil)
			return ws, err
		})
	e := echo.New()
	e.GET("/v1/ws/citizen", func(c echo.Context) error { return r.Serve(c, addr, "127.0.0.1") })
	srv := httptest.NewServer(e)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, r.Close(ctx))
	}()

	for range 3 { // the first dials the link, the others reuse it
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/ws/citizen", nil)
		require.NoError(t, err)
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := range frames {
			_, b, err := ws.ReadMessage()
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(i), string(b))
		}
		_, _, err = ws.ReadMessage()
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, CloseAuth, ce.Code)
		require.Equal(t, "log in again", ce.Text)
		ws.Close()
	}
}
