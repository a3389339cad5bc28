package livechat_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
	"github.com/hotline12345/gateway/connectors/wechatapi"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

var pngBytes = []byte("\x89PNG\r\n\x1a\nnot really a picture")

// thirdParty is a TLS server where citizens' attachments live.
func thirdParty(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/p.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pngBytes)
		case "/f.html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<script>alert(1)</script>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// safeClient is the gateway's safe client trusting srv's certificate, with
// allow as webhooks.allow_hosts.
func safeClient(srv *httptest.Server, allow ...string) *http.Client {
	c := safehttp.NewClient(safehttp.Options{AllowHosts: allow})
	c.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	return c
}

func mediaURL(h *lt.Hub, sid string, seq int64, index int) string {
	return h.Base + "/v1/agents/media?" + url.Values{"session_id": {sid}, "seq": {strconv.FormatInt(seq, 10)}, "index": {strconv.Itoa(index)}}.Encode()
}

func TestAttachmentsThroughTheGateway(t *testing.T) {
	src := thirdParty(t)
	h := lt.StartHub(t, deskAgents, clock.NewFake(t0), "", func(c *livechat.Config) {
		c.MediaClient = safeClient(src, "127.0.0.1")
	})
	a1 := agentUp(t, h, "a1")
	cit, sid := citizenUp(t, h, "photographer")
	acceptOffer(t, a1, sid)
	cit.SendData(livechat.TypeMessage, sid, "pic", map[string]any{"text": "照片", "attachments": []normalize.Attachment{
		{Type: "image", URL: src.URL + "/p.png"}, {Type: "file", URL: src.URL + "/f.html"}, {Type: "image", MediaID: "MEDIA_1"}}})
	echo := cit.ExpectFrom("citizen", wait)
	seq := echo.Seq
	require.Equal(t, src.URL+"/p.png", lt.Data(t, echo)["attachments"].([]any)[0].(map[string]any)["url"], "the citizen sees what they sent")
	// The agent's console gets no third party's URL: it opens them here.
	seen := a1.ExpectFrom("citizen", wait)
	require.Equal(t, seq, seen.Seq)
	for i, a := range lt.Data(t, seen)["attachments"].([]any) {
		require.NotContains(t, a.(map[string]any), "url", "attachment %d", i)
	}
	_, _, detail := call(t, http.MethodGet, h.Base+"/v1/agents/chats/"+sid, h.AgentToken("a1"), nil)
	require.NotContains(t, string(detail), src.URL)

	tests := []struct {
		name   string
		token  string
		index  int
		status int
		ctype  string
		disp   bool
	}{
		{"an image, inline", h.AgentToken("a1"), 0, 200, "image/png", false},
		{"a supervisor too", h.AgentToken("sup"), 0, 200, "image/png", false},
		{"any other file, as a download", h.AgentToken("a1"), 1, 200, "text/html", true},
		{"a media reference of a channel without a fetcher", h.AgentToken("a1"), 2, 400, "", false},
		{"no such attachment", h.AgentToken("a1"), 3, 404, "", false},
		{"someone else's chat", h.AgentToken("a2"), 0, 404, "", false},
		{"no token", "", 0, 401, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, hdr, body := call(t, http.MethodGet, mediaURL(h, sid, seq, tc.index), tc.token, nil)
			require.Equal(t, tc.status, st, string(body))
			if st != 200 {
				return
			}
			require.Equal(t, tc.ctype, hdr.Get("Content-Type"))
			require.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
			if tc.disp {
				require.Contains(t, hdr.Get("Content-Disposition"), "attachment")
			} else {
				require.Empty(t, hdr.Get("Content-Disposition"))
				require.Equal(t, pngBytes, body)
			}
		})
	}
	// A token in the URL is refused: proxies and browsers keep URLs.
	st, _, _ := call(t, http.MethodGet, mediaURL(h, sid, seq, 0)+"&token="+url.QueryEscape(h.AgentToken("a1")), "", nil)
	require.Equal(t, 401, st)

	// Whatever got into a transcript, only https is ever fetched.
	a1.Send(livechat.Frame{Type: livechat.TypeClose, SessionID: sid})
	require.Eventually(t, func() bool { r, _ := h.SessionInfo(sid); return r.State == sessions.StateClosed }, wait, 5*time.Millisecond)
	require.NoError(t, h.DB.Update(context.Background(), func(tx *store.Tx) error {
		r, err := sessions.Get(tx, sid)
		if err != nil {
			return err
		}
		return sessions.Append(tx, r, &sessions.Message{From: "citizen", At: t0, Attachments: []normalize.Attachment{
			{Type: "image", URL: "http://" + src.Listener.Addr().String() + "/p.png"}}})
	}))
	st, _, body := call(t, http.MethodGet, mediaURL(h, sid, seq+1, 0), h.AgentToken("a1"), nil)
	require.Equal(t, http.StatusBadRequest, st, string(body))
}

// Without webhooks.allow_hosts the gateway does not fetch from its own
// network, whatever the attachment says.
func TestAttachmentsFromPrivateAddressesAreRefused(t *testing.T) {
	src := thirdParty(t)
	h := lt.StartHub(t, deskAgents, clock.NewFake(t0), "", func(c *livechat.Config) { c.MediaClient = safeClient(src) })
	a1 := agentUp(t, h, "a1")
	cit, sid := citizenUp(t, h, "insider")
	acceptOffer(t, a1, sid)
	cit.SendData(livechat.TypeMessage, sid, "pic", map[string]any{"attachments": []normalize.Attachment{{Type: "image", URL: src.URL + "/p.png"}}})
	seq := cit.ExpectFrom("citizen", wait).Seq
	st, _, body := call(t, http.MethodGet, mediaURL(h, sid, seq, 0), h.AgentToken("a1"), nil)
	require.Equal(t, http.StatusServiceUnavailable, st, string(body))
}

// A WeChat picture is its media_id, fetched through the WeChat API with the
// gateway's access token.
func TestWeChatMediaThroughTheAPI(t *testing.T) {
	var tokens atomic.Int32
	wx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/cgi-bin/token":
			n := tokens.Add(1)
			_, _ = fmt.Fprintf(w, `{"access_token":"TOKEN%d","expires_in":7200}`, n)
		case r.URL.Path != "/cgi-bin/media/get":
			http.Error(w, "bad call", http.StatusBadRequest)
		case r.URL.Query().Get("access_token") == "TOKEN1": // rotated elsewhere meanwhile
			_, _ = w.Write([]byte(`{"errcode":40001,"errmsg":"invalid credential"}`))
		case r.URL.Query().Get("media_id") != "MEDIA_1":
			_, _ = w.Write([]byte(`{"errcode":40007,"errmsg":"invalid media_id"}`))
		default:
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(pngBytes)
		}
	}))
	t.Cleanup(wx.Close)
	api, err := wechatapi.New(wechatapi.Config{AppID: "wxapp", AppSecret: "secret", APIBase: wx.URL})
	require.NoError(t, err)
	h := lt.StartHub(t, deskAgents, clock.NewFake(t0), "")
	h.RegisterMedia(normalize.ChannelWechat, func(ctx context.Context, id string) ([]byte, string, error) {
		return api.GetMedia(ctx, id, livechat.MaxMediaBytes)
	})
	a1 := agentUp(t, h, "a1")
	res, err := h.CitizenMessage(context.Background(), channels.InboundMessage{Channel: normalize.ChannelWechat, ChannelUserID: "openid-1",
		DedupKey: "wx-1", Text: "看图", Attachments: []normalize.Attachment{{Type: "image", MediaID: "MEDIA_1"}, {Type: "image", MediaID: "GONE"}}})
	require.NoError(t, err)
	acceptOffer(t, a1, res.SessionID)
	st, hdr, body := call(t, http.MethodGet, mediaURL(h, res.SessionID, 1, 0), h.AgentToken("a1"), nil)
	require.Equal(t, 200, st, string(body))
	require.Equal(t, "image/jpeg", hdr.Get("Content-Type"))
	require.Equal(t, pngBytes, body)
	require.EqualValues(t, 2, tokens.Load(), "a refused token is replaced once")
	st, _, body = call(t, http.MethodGet, mediaURL(h, res.SessionID, 1, 1), h.AgentToken("a1"), nil)
	require.Equal(t, http.StatusServiceUnavailable, st, string(body))
	require.NotContains(t, h.Log.String(), "TOKEN", "the access token is never logged")
}
