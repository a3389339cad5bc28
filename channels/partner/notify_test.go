package partner_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/normalize"
)

func TestStatusWebhooksToPartner(t *testing.T) {
	clk := newClock()
	cb := newCallback(t, clk, mustSecret(t, secretA))
	f := newFixtureAt(t, clk, map[string]configs.Partner{"suishenban": {Secret: secretA, CallbackURL: cb.URL + "/hooks"}})
	ch := f.ch["suishenban"]
	require.True(t, ch.Webhooks())

	code, out := f.post(t, "suishenban", "msg_w1", clk.Now(), defaultBody, mustSecret(t, secretA))
	require.Equal(t, 202, code, out)
	id := out["id"].(string)
	number, _ := out["number"].(string) // the request number, in every webhook (contract §11)
	_, _, err := normalize.ParseNumber(number)
	require.NoError(t, err, "the 202 has the request number: %v", out)
	received := clk.Now()
	pending, err := f.q.Pending("", 10)
	require.NoError(t, err)
	require.Len(t, pending, 2, "the accepted and acknowledged webhooks were enqueued in the Accept transaction")

	// A replay enqueues nothing more.
	code, _ = f.post(t, "suishenban", "msg_w1", clk.Now(), defaultBody, mustSecret(t, secretA))
	require.Equal(t, 202, code)
	pending, err = f.q.Pending("", 10)
	require.NoError(t, err)
	require.Len(t, pending, 2)

	ctx := context.Background()
	clk.Advance(time.Minute)
	require.NoError(t, ch.Deliver(ctx, channels.Outbound{Channel: "suishenban", EnvelopeID: id, Kind: "ticket_reply",
		Status: normalize.StatusDispatched, Text: "已派至区城管局"}))
	due := received.Add(24 * time.Hour)
	require.NoError(t, ch.NotifyTimeliness(ctx, id, "handling", "warning", due))
	require.NoError(t, ch.NotifyStatus(ctx, id, normalize.StatusResolved, clk.Now(), ""))

	f.run(t)
	require.Eventually(t, func() bool { b, _ := cb.bodies(); return len(b) == 5 }, wait, 5*time.Millisecond, "five webhooks delivered")
	bodies, errs := cb.bodies()
	for i, err := range errs {
		require.NoError(t, err, "webhook %d verifies with the partner's secret", i)
	}
	var st [5]map[string]any
	for i, b := range bodies {
		require.NoError(t, json.Unmarshal(b, &st[i]))
	}
	require.Equal(t, "acknowledged", st[1]["data"].(map[string]any)["status"], "the automatic receipt")
	st = [5]map[string]any{st[0], st[2], st[3], st[4]}
	require.Equal(t, map[string]any{"type": "request.status", "timestamp": received.Format(time.RFC3339),
		"data": map[string]any{"id": id, "number": number, "request_id": "SSB-20250301-0001", "status": "accepted",
			"at": received.Format(time.RFC3339)}}, st[0])
	require.Equal(t, map[string]any{"id": id, "number": number, "request_id": "SSB-20250301-0001", "status": "dispatched",
		"at": clk.Now().Format(time.RFC3339), "reply": "已派至区城管局"}, st[1]["data"])
	require.Equal(t, map[string]any{"type": "request.timeliness", "timestamp": clk.Now().Format(time.RFC3339),
		"data": map[string]any{"id": id, "number": number, "request_id": "SSB-20250301-0001", "clock": "handling", "state": "warning",
			"due": due.Format(time.RFC3339)}}, st[2])
	require.Equal(t, "resolved", st[3]["data"].(map[string]any)["status"])
	cb.mu.Lock()
	ids := map[string]bool{}
	for _, id := range cb.ids {
		ids[id] = true
	}
	cb.mu.Unlock()
	require.Len(t, ids, 5, "each event has its own webhook-id")
}

func TestNotifyErrors(t *testing.T) {
	clk := newClock()
	f := newFixtureAt(t, clk, map[string]configs.Partner{
		"suishenban":    {Secret: secretA, CallbackURL: "https://ssb.partner.example/cb"},
		"yiwangtongban": {Secret: secretB},
	})
	ctx := context.Background()
	code, out := f.post(t, "suishenban", "msg_n1", clk.Now(), defaultBody, mustSecret(t, secretA))
	require.Equal(t, 202, code, out)
	id := out["id"].(string)

	ywtb := f.ch["yiwangtongban"]
	require.False(t, ywtb.Webhooks())
	require.ErrorIs(t, ywtb.NotifyStatus(ctx, id, "resolved", clk.Now(), ""), partner.ErrForeign)
	require.ErrorIs(t, ywtb.Deliver(ctx, channels.Outbound{EnvelopeID: id}), partner.ErrForeign)

	ssb := f.ch["suishenban"]
	require.ErrorIs(t, ssb.NotifyStatus(ctx, id, "done", clk.Now(), ""), partner.ErrBadStatus)
	require.ErrorIs(t, ssb.NotifyTimeliness(ctx, id, "lunch", "warning", clk.Now()), partner.ErrBadStatus)
	require.ErrorIs(t, ssb.NotifyStatus(ctx, "nope", "resolved", clk.Now(), ""), intakelog.ErrNotFound)

	// A partner without callback_url: accepted, nothing enqueued, notifications are no-ops.
	code, out = f.post(t, "yiwangtongban", "msg_n2", clk.Now(), defaultBody, mustSecret(t, secretB))
	require.Equal(t, 202, code, out)
	require.NoError(t, ywtb.NotifyStatus(ctx, out["id"].(string), "resolved", clk.Now(), "ok"))
	pending, err := f.q.Pending("yiwangtongban", 10)
	require.NoError(t, err)
	require.Empty(t, pending)
	// Deliver without a status uses the request's current one.
	require.NoError(t, ssb.Deliver(ctx, channels.Outbound{EnvelopeID: id, Text: "reply"}))
	pending, err = f.q.Pending("suishenban", 10)
	require.NoError(t, err)
	require.Len(t, pending, 3)
	var last partner.StatusWebhook
	require.NoError(t, json.Unmarshal(pending[2].Payload, &last))
	require.Equal(t, "accepted", last.Data.Status)
	require.Equal(t, "reply", last.Data.Reply)
}
