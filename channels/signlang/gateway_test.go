package signlang_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

func bearer(tok string) (string, string) { return "Authorization", "Bearer " + tok }

// The POST answers open or closed by the configured calendar, holidays and
// make-up working days at the gateway's (injected) time; outside the hours
// a video hello is refused while text chat still opens, and a call-back
// request becomes an envelope on intake.envelopes.
func TestSignLanguageCalendarThroughTheGateway(t *testing.T) {
	clk := clock.NewFake(cst(2025, 3, 7, 16, 59))
	g := lt.StartWith(t, t.TempDir(), gateway.Options{Clock: clk},
		"GATEWAY_AGENTS=s1:pw:sign_language:1",
		"GATEWAY_SIGN_LANGUAGE_HOLIDAYS="+strings.Join(nationalDay, ","),
		"GATEWAY_SIGN_LANGUAGE_WORKDAYS="+strings.Join(makeUpDays, ","))
	tests := []struct {
		name  string
		at    time.Time
		open  bool
		opens string
	}{
		// In time order: the gateway's clock only moves forward.
		{"Friday 16:59", cst(2025, 3, 7, 16, 59), true, ""},
		{"Friday 17:01", cst(2025, 3, 7, 17, 1), false, "2025-03-10T09:00:00+08:00"},
		{"make-up working Sunday", cst(2025, 9, 28, 16, 59), true, ""},
		{"National Day holiday", cst(2025, 10, 1, 10, 0), false, "2025-10-09T09:00:00+08:00"},
		{"make-up working Saturday", cst(2025, 10, 11, 10, 0), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk.Set(tc.at)
			h, v := bearer(g.CitizenToken(t))
			var a map[string]any
			require.Equal(t, 200, g.PostJSON(t, "/v1/channels/sign-language/sessions", map[string]any{}, &a, h, v))
			require.Equal(t, tc.open, a["open"], a)
			if tc.open {
				require.EqualValues(t, 1, a["queue_position"])
				require.Equal(t, map[string]any{"channel": "web", "video": true}, a["hello"])
				return
			}
			require.Equal(t, tc.opens, a["opens_at"])
			require.Len(t, a["fallbacks"], 2)
			require.Contains(t, a["message"], "手语视频服务时间为 Mon-Fri 09:00-17:00 Asia/Shanghai")
		})
	}

	// Closed (the make-up Saturday's hours are over): the video hello is
	// refused and says when the service opens; text chat opens.
	clk.Set(cst(2025, 10, 11, 17, 1))
	tok := g.CitizenToken(t)
	h, v := bearer(tok)
	cit := g.MustDial(t, "/v1/ws/citizen", tok)
	cit.SendData(livechat.TypeHello, "", "h1", map[string]any{"channel": "web", "video": true})
	e := lt.Data(t, cit.Expect(livechat.TypeError, 5*time.Second))
	require.Equal(t, "service_closed", e["code"])
	require.Contains(t, e["message"], "2025-10-13T09:00:00+08:00")
	cit.SendData(livechat.TypeHello, "", "h2", map[string]any{"channel": "web"})
	wf := cit.Expect(livechat.TypeWelcome, 5*time.Second)
	w := lt.Data(t, wf)
	require.Equal(t, "new", w["state"], "a text chat opens with its first message")
	require.NotContains(t, w, "ice_servers")
	cit.SendData(livechat.TypeMessage, wf.SessionID, "m1", map[string]string{"text": "我想咨询办事指南"})
	require.Equal(t, "queued", lt.Data(t, cit.Expect(livechat.TypeQueue, 5*time.Second))["state"])

	// The call-back fallback.
	var bad map[string]map[string]any
	require.Equal(t, 400, g.PostJSON(t, "/v1/channels/sign-language/callbacks", map[string]any{"note": "x"}, &bad, h, v))
	require.Equal(t, "invalid_request", bad["error"]["code"])
	require.Contains(t, bad["error"]["fields"], "phone")
	require.Equal(t, 401, g.PostJSON(t, "/v1/channels/sign-language/callbacks", map[string]any{"phone": "13800138000"}, nil))
	require.Equal(t, 401, g.PostJSON(t, "/v1/channels/sign-language/sessions", map[string]any{}, nil, "Authorization", "Bearer x.y"))
	var receipt map[string]any
	require.Equal(t, 202, g.PostJSON(t, "/v1/channels/sign-language/callbacks", map[string]any{
		"phone": "13800138000", "name": "李华", "preferred_time": "2025-03-10T10:00:00+08:00", "note": "请视频回拨"}, &receipt, h, v))
	require.Equal(t, "accepted", receipt["status"])
	id := receipt["id"].(string)

	var found bool
	for _, r := range g.Consume(t, "intake.envelopes", 500*time.Millisecond) {
		if r.Value["id"] != id {
			continue
		}
		found = true
		lt.Validate(t, "envelope", r.Raw)
		require.Equal(t, "sign_language", r.Value["channel"])
		require.Equal(t, "sign_language", r.Headers["channel"])
		require.Equal(t, "help", r.Value["kind"])
		citizen := r.Value["citizen"].(map[string]any)
		require.Equal(t, "13800138000", citizen["phone"])
		require.Equal(t, "李华", citizen["name"])
		text := r.Value["content"].(map[string]any)["text"].(string)
		require.True(t, strings.HasPrefix(text, "手语视频回拨请求 / sign-language call-back request"), text)
		require.Contains(t, text, "请视频回拨")
		require.Contains(t, text, "2025-03-10T10:00:00+08:00")
	}
	require.True(t, found, "the call-back envelope is on intake.envelopes")

	// The requester can follow it like any request.
	var st map[string]any
	require.Equal(t, 200, getJSON(t, g, "/v1/requests/"+id, tok, &st))
	require.Equal(t, id, st["id"])
}

func getJSON(t *testing.T, g *lt.Gateway, path, tok string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.Base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	return resp.StatusCode
}
