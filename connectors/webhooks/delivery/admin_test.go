package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/internal/apierr"
)

// newEcho renders errors as the gateway does (apierr code → status).
func newEcho() *echo.Echo {
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			_ = c.JSON(he.Code, map[string]any{"error": map[string]any{"code": "http", "message": he.Message}})
			return
		}
		ae := apierr.From(err)
		_ = c.JSON(apierr.Status(ae.Code), apierr.Body{Error: ae})
	}
	return e
}

func call(t *testing.T, e *echo.Echo, method, path, token string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, body
}

func TestDeadLetterListAndReplayViaAdmin(t *testing.T) {
	clk := newClock(true)
	q := newQueue(t, tempDB(t), clk)
	var healthy atomic.Bool
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)})
	partner.answer = func(hit, int) int {
		if healthy.Load() {
			return 200
		}
		return 500
	}
	require.NoError(t, q.Enqueue(context.Background(), msg(partner.URL, "env-1", `{"type":"request.status"}`)))
	run(t, q)
	require.Eventually(t, func() bool { return deadCount(t, q) == 1 }, wait, 5*time.Millisecond, "schedule exhausted")
	require.Len(t, partner.Hits(), 10, "one attempt per step of the default schedule")

	e := newEcho()
	q.MountAdmin(e, "s3cret-admin-token")

	code, _ := call(t, e, http.MethodGet, "/v1/admin/webhooks/dead", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = call(t, e, http.MethodGet, "/v1/admin/webhooks/dead", "wrong")
	require.Equal(t, http.StatusUnauthorized, code)

	code, body := call(t, e, http.MethodGet, "/v1/admin/webhooks/dead?endpoint=suishenban", "s3cret-admin-token")
	require.Equal(t, http.StatusOK, code)
	items := body["dead"].([]any)
	require.Len(t, items, 1)
	item := items[0].(map[string]any)
	id := item["id"].(string)
	require.Equal(t, partner.Hits()[0].ID, id)
	require.EqualValues(t, 10, item["attempts"])
	require.EqualValues(t, 500, item["last_status"])
	require.Contains(t, item["reason"], "gave up after 10 attempts")
	require.Equal(t, map[string]any{"type": "request.status"}, item["payload"])

	code, body = call(t, e, http.MethodGet, "/v1/admin/webhooks/endpoints", "s3cret-admin-token")
	require.Equal(t, http.StatusOK, code)
	eps := body["endpoints"].([]any)
	require.Len(t, eps, 1)
	require.Equal(t, map[string]any{"name": "suishenban", "disabled": false, "pending": float64(0), "dead": float64(1)}, eps[0])

	code, _ = call(t, e, http.MethodPost, "/v1/admin/webhooks/dead/msg_nope/replay", "s3cret-admin-token")
	require.Equal(t, http.StatusNotFound, code)

	healthy.Store(true)
	code, body = call(t, e, http.MethodPost, "/v1/admin/webhooks/dead/"+id+"/replay", "s3cret-admin-token")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, "queued", body["status"])
	require.Eventually(t, func() bool {
		return len(partner.Hits()) == 11 && pendingCount(t, q) == 0
	}, wait, 5*time.Millisecond, "replayed and delivered")
	require.Equal(t, id, partner.Hits()[10].ID, "a replay keeps the webhook-id")
	require.NoError(t, partner.Hits()[10].VerifyErr)
	require.Zero(t, deadCount(t, q))
}

func TestAdminEnableEndpoint(t *testing.T) {
	clk := newClock(true)
	q := newQueue(t, tempDB(t), clk)
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)}, 410)
	require.NoError(t, q.Enqueue(context.Background(), msg(partner.URL, "env-1", `{}`)))
	run(t, q)
	require.Eventually(t, func() bool { return deadCount(t, q) == 1 }, wait, 5*time.Millisecond, "disabled")

	e := newEcho()
	q.MountAdmin(e, "tok")
	code, body := call(t, e, http.MethodGet, "/v1/admin/webhooks/endpoints", "tok")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, body["endpoints"].([]any)[0].(map[string]any)["disabled"])

	dead, err := q.Dead("", 1)
	require.NoError(t, err)
	code, body = call(t, e, http.MethodPost, "/v1/admin/webhooks/dead/"+dead[0].ID+"/replay", "tok")
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "disabled", body["error"].(map[string]any)["fields"].(map[string]any)["endpoint"])

	code, body = call(t, e, http.MethodPost, "/v1/admin/webhooks/endpoints/suishenban/enable", "tok")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, false, body["disabled"])
	code, _ = call(t, e, http.MethodPost, "/v1/admin/webhooks/endpoints/nobody/enable", "tok")
	require.Equal(t, http.StatusNotFound, code)
}

func TestAdminDisabledWithoutToken(t *testing.T) {
	q := newQueue(t, tempDB(t), newClock(false))
	e := newEcho()
	q.MountAdmin(e, "")
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/admin/webhooks/dead"},
		{http.MethodPost, "/v1/admin/webhooks/dead/x/replay"},
		{http.MethodGet, "/v1/admin/webhooks/endpoints"},
		{http.MethodPost, "/v1/admin/webhooks/endpoints/suishenban/enable"},
	} {
		code, body := call(t, e, tc.method, tc.path, "anything")
		require.Equal(t, http.StatusNotFound, code, tc.path)
		require.Equal(t, "not_found", body["error"].(map[string]any)["code"])
	}
}
