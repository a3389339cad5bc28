package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// The built binary, started with nothing but a data directory and ports,
// accepts a web request and the envelope reaches intake.envelopes, where an
// independent client (kcat) reads it: schema-valid, keyed by citizen_key,
// with the contract's headers. The request.accepted event reaches
// intake.events likewise.
func TestEndToEndWebRequestReachesKafka(t *testing.T) {
	gatewaytest.Need(t, "kcat")
	t.Parallel()
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	ctx := context.Background()
	c := gatewaytest.NewClient(1)

	body := []byte(`{"client_request_id":"e2e-1","kind":"complaint","text":"路灯不亮 street light out",
		"contact":{"name":"Li","phone":"+8613800138000","confidential":true},
		"location":{"address":"1 Renmin Rd","district":"Huangpu"},"occurred_at":"2026-03-01T20:00:00+08:00",
		"attachments":[{"type":"image","url":"https://img.example/1.jpg","mime":"image/jpeg","size":12345}]}`)
	resp, err := c.PostJSON(ctx, gw.URL("/v1/channels/web/requests"), body)
	require.NoError(t, err)
	rc, err := resp.Receipt()
	require.NoError(t, err)
	require.Equal(t, "accepted", rc.Status)
	require.Equal(t, 3*time.Minute, rc.FirstResponseDue.Sub(rc.ReceivedAt))
	require.Equal(t, 24*time.Hour, rc.HandlingDue.Sub(rc.ReceivedAt))
	require.NotEmpty(t, rc.CitizenToken)

	var env gatewaytest.Record
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		recs, err := gatewaytest.ConsumeE(ctx, gatewaytest.Need(t, "kcat"), gw.KafkaAddr, "intake.envelopes")
		if err != nil {
			return err
		}
		if len(recs) != 1 {
			return fmt.Errorf("%d records in intake.envelopes, want 1", len(recs))
		}
		env = recs[0]
		return nil
	})
	gatewaytest.RequireSchema(t, "envelope", env.Value)
	var got struct {
		ID             string `json:"id"`
		Number         string `json:"number"`
		IdempotencyKey string `json:"idempotency_key"`
		Channel        string `json:"channel"`
		CitizenKey     string `json:"citizen_key"`
		Content        struct {
			Text string `json:"text"`
		} `json:"content"`
		Citizen struct {
			Phone        string `json:"phone"`
			Confidential bool   `json:"confidential"`
		} `json:"citizen"`
	}
	require.NoError(t, json.Unmarshal(env.Value, &got))
	require.Equal(t, rc.ID, got.ID)
	require.NotEmpty(t, rc.Number)
	require.Equal(t, rc.Number, got.Number, "the envelope on Kafka has the 202's request number")
	require.Equal(t, "web", got.Channel)
	require.Equal(t, "路灯不亮 street light out", got.Content.Text)
	require.True(t, got.Citizen.Confidential)
	require.Equal(t, got.CitizenKey, env.Key, "record key = citizen_key")
	require.Equal(t, map[string]string{"schema": "envelope/v1", "channel": "web",
		"idempotency-key": got.IdempotencyKey}, env.Headers)
	require.Equal(t, "web:e2e-1", got.IdempotencyKey)

	var events []gatewaytest.Record
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		recs, err := gatewaytest.ConsumeE(ctx, gatewaytest.Need(t, "kcat"), gw.KafkaAddr, "intake.events")
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return fmt.Errorf("no record in intake.events yet")
		}
		events = recs
		return nil
	})
	types := map[string]bool{}
	for _, ev := range events {
		gatewaytest.RequireSchema(t, "event", ev.Value)
		var e struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		require.NoError(t, json.Unmarshal(ev.Value, &e))
		types[e.Type] = true
		require.Equal(t, rc.ID, ev.Key, "an event without a session is keyed by the envelope id")
		require.Equal(t, "event/v1", ev.Headers["schema"])
		require.Equal(t, "web", ev.Headers["channel"])
		require.Equal(t, e.ID, ev.Headers["idempotency-key"])
	}
	require.True(t, types["request.accepted"], "events: %v", types)

	// The citizen token of the 202 reads the request's status.
	st, err := c.Do(ctx, http.MethodGet, gw.URL("/v1/requests/"+rc.ID), nil,
		http.Header{"Authorization": {"Bearer " + rc.CitizenToken}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st.Status, "%s", st.Body)
	var view struct{ Number string }
	require.NoError(t, json.Unmarshal(st.Body, &view))
	require.Equal(t, rc.Number, view.Number)
}
