package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/app"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/internal/clock"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/normalize"
)

func withAgent(c *configs.Config) { c.Agents = "a1:pw1:general:3" }

// numbered is the part of a 202 or a status this file reads.
type numbered struct {
	ID           string `json:"id"`
	Number       string `json:"number"`
	CitizenToken string `json:"citizen_token"`
}

func decode(t *testing.T, w *httptest.ResponseRecorder, status int) numbered {
	t.Helper()
	require.Equal(t, status, w.Code, "%s", w.Body)
	var n numbered
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &n))
	return n
}

// outboxNumber is the number on the envelope as the relay will publish it.
func outboxNumber(t *testing.T, g *gateway.Gateway, id string) string {
	t.Helper()
	recs, err := g.Intake().Pending(10000)
	require.NoError(t, err)
	for _, r := range recs {
		if r.Topic != "intake.envelopes" {
			continue
		}
		var env normalize.Envelope
		require.NoError(t, json.Unmarshal(r.Value, &env))
		if env.ID == id {
			require.NoError(t, gatewaytest.ValidateSchema("envelope", r.Value))
			return env.Number
		}
	}
	t.Fatalf("no envelope %s in the outbox", id)
	return ""
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// One request, one number: the web form's 202, the request's status, the
// envelope on Kafka and, for the same citizen's chat, the automatic receipt
// message and the chat's status and envelope (contract §11).
func TestWebRequestHasOneNumberEverywhere(t *testing.T) {
	g, _ := newGateway(t, withAgent)
	rc := decode(t, call(g, http.MethodPost, webPath, strings.NewReader(`{"kind":"help","text":"路灯坏了"}`), nil, ""), http.StatusAccepted)
	day, seq, err := normalize.ParseNumber(rc.Number)
	require.NoError(t, err, "the 202 carries the number")
	require.Equal(t, "260302", day, "received 2026-03-02 17:30 in Beijing")
	require.Equal(t, uint64(1), seq)
	st := decode(t, call(g, http.MethodGet, "/v1/requests/"+rc.ID, nil, bearer(rc.CitizenToken), ""), http.StatusOK)
	require.Equal(t, rc.Number, st.Number)
	require.Equal(t, rc.Number, outboxNumber(t, g, rc.ID))

	// The same citizen opens a chat: its first message is the next request.
	srv := httptest.NewServer(g.Echo())
	defer srv.Close()
	cit := lt.MustDial(t, srv.URL, "/v1/ws/citizen", rc.CitizenToken)
	sid := cit.OpenSession(nil, "还有一盏路灯也不亮")
	receipt, _ := lt.Data(t, cit.ExpectFrom("system", 5*time.Second))["text"].(string)
	rec, ok := g.Hub().SessionInfo(sid)
	require.True(t, ok)
	chat := decode(t, call(g, http.MethodGet, "/v1/requests/"+rec.EnvelopeID, nil, bearer(rc.CitizenToken), ""), http.StatusOK)
	_, seq, err = normalize.ParseNumber(chat.Number)
	require.NoError(t, err)
	require.Equal(t, uint64(2), seq)
	require.Contains(t, receipt, "编号 "+chat.Number)
	require.NotContains(t, receipt, rec.EnvelopeID)
	require.Equal(t, chat.Number, outboxNumber(t, g, rec.EnvelopeID))
}

// A retry with the same idempotency key gets the first request's number.
func TestRetryGetsTheFirstNumber(t *testing.T) {
	g, _ := newGateway(t, nil)
	body := `{"client_request_id":"idem-n","kind":"help","text":"water leak"}`
	a := decode(t, call(g, http.MethodPost, webPath, strings.NewReader(body), nil, ""), http.StatusAccepted)
	b := decode(t, call(g, http.MethodPost, webPath, strings.NewReader(body), nil, ""), http.StatusAccepted)
	require.NotEmpty(t, a.Number)
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, a.Number, b.Number)
}

// getSigned returns an app's signed headers for a GET at the clock's time.
func getSigned(clk *clock.Fake, path, nonce string) http.Header {
	ts := strconv.FormatInt(clk.Now().Unix(), 10)
	return http.Header{"X-App-Key": {"k1"}, "X-Timestamp": {ts}, "X-Nonce": {nonce},
		"X-Signature": {app.Sign(appSecret, http.MethodGet, path, ts, nonce, nil)}}
}

// GET /v1/requests?number=…: an agent reads any request; a citizen or an
// app only their own, with the same 404 for another's as for an unknown
// number; a mistyped number is 400.
func TestRequestByNumber(t *testing.T) {
	g, clk := newGateway(t, withAgent)
	web := decode(t, call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"噪音扰民"}`), nil, ""), http.StatusAccepted)
	other := decode(t, call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"another"}`), nil, ""), http.StatusAccepted)
	appBody := []byte(`{"text":"井盖松动","user":{"id":"u1"}}`)
	fromApp := decode(t, call(g, http.MethodPost, appPath, bytes.NewReader(appBody), signed(clk, appPath, "n-post", appBody), ""),
		http.StatusAccepted)
	require.NotEmpty(t, fromApp.Number)

	login := call(g, http.MethodPost, "/v1/agents/login", strings.NewReader(`{"id":"a1","password":"pw1"}`), nil, "")
	require.Equal(t, http.StatusOK, login.Code, "%s", login.Body)
	var tok struct{ Token string }
	require.NoError(t, json.Unmarshal(login.Body.Bytes(), &tok))

	byNumber := func(number string, h http.Header) *httptest.ResponseRecorder {
		return call(g, http.MethodGet, "/v1/requests?number="+number, nil, h, "")
	}
	unknown, err := normalize.FormatNumber("260302", 999)
	require.NoError(t, err)

	t.Run("agent reads any request", func(t *testing.T) {
		for _, want := range []numbered{web, fromApp} {
			got := decode(t, byNumber(want.Number, bearer(tok.Token)), http.StatusOK)
			require.Equal(t, want.ID, got.ID)
			require.Equal(t, want.Number, got.Number)
		}
		requireError(t, byNumber(unknown, bearer(tok.Token)), http.StatusNotFound, "not_found", nil)
	})
	t.Run("citizen reads only their own", func(t *testing.T) {
		require.Equal(t, web.ID, decode(t, byNumber(web.Number, bearer(web.CitizenToken)), http.StatusOK).ID)
		mine := byNumber(web.Number, bearer(other.CitizenToken))
		requireError(t, mine, http.StatusNotFound, "not_found", nil)
		none := byNumber(unknown, bearer(other.CitizenToken))
		require.JSONEq(t, none.Body.String(), mine.Body.String(), "not yours is not there")
	})
	t.Run("app reads only its users' requests", func(t *testing.T) {
		got := decode(t, byNumber(fromApp.Number, getSigned(clk, "/v1/requests", "n-get-1")), http.StatusOK)
		require.Equal(t, fromApp.ID, got.ID)
		requireError(t, byNumber(web.Number, getSigned(clk, "/v1/requests", "n-get-2")), http.StatusNotFound, "not_found", nil)
	})
	t.Run("no credentials", func(t *testing.T) {
		requireError(t, byNumber(web.Number, nil), http.StatusUnauthorized, "unauthorized", nil)
	})
	t.Run("not a number", func(t *testing.T) {
		typo := web.Number[:7] + strconv.Itoa((int(web.Number[7]-'0')+1)%10) + web.Number[8:]
		for _, bad := range []string{typo, "12345", "26030200001x", ""} {
			w := byNumber(bad, bearer(tok.Token))
			require.Equal(t, http.StatusBadRequest, w.Code, "%q: %s", bad, w.Body)
			requireError(t, w, http.StatusBadRequest, "invalid_request", nil)
		}
	})
}
