package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// envelopesPending counts envelope records waiting in the intake log.
func envelopesPending(t *testing.T, g *gateway.Gateway) int {
	t.Helper()
	recs, err := g.Intake().Pending(10000)
	require.NoError(t, err)
	n := 0
	for _, r := range recs {
		if r.Topic == "intake.envelopes" {
			n++
		}
	}
	return n
}

func TestIdempotentRetryGetsTheSameAnswerAndNoSecondEnvelope(t *testing.T) {
	g, _ := newGateway(t, nil)
	body := `{"client_request_id":"idem-1","kind":"help","text":"water leak"}`
	first := call(g, http.MethodPost, webPath, strings.NewReader(body), nil, "")
	require.Equal(t, http.StatusAccepted, first.Code, "%s", first.Body)
	var a, b gatewaytest.Receipt
	require.NoError(t, json.Unmarshal(first.Body.Bytes(), &a))

	// The client lost the answer and sends the same request again, without a token.
	again := call(g, http.MethodPost, webPath, strings.NewReader(body), nil, "")
	require.Equal(t, http.StatusAccepted, again.Code, "%s", again.Body)
	require.NoError(t, json.Unmarshal(again.Body.Bytes(), &b))
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, a.ReceivedAt, b.ReceivedAt)
	require.Equal(t, a.FirstResponseDue, b.FirstResponseDue)
	require.Equal(t, a.HandlingDue, b.HandlingDue)
	require.Equal(t, 1, envelopesPending(t, g), "a repeated key must not produce a second envelope")
	// The ticket team sees the repeat: request.duplicate, keyed by the envelope.
	recs, err := g.Intake().Pending(10000)
	require.NoError(t, err)
	dups := 0
	for _, r := range recs {
		var ev struct {
			Type       string `json:"type"`
			EnvelopeID string `json:"envelope_id"`
		}
		if r.Topic == "intake.events" && json.Unmarshal(r.Value, &ev) == nil && ev.Type == "request.duplicate" {
			require.Equal(t, a.ID, ev.EnvelopeID)
			require.Equal(t, a.ID, r.Key)
			dups++
		}
	}
	require.Equal(t, 1, dups)

	// Only the first answer carries a token: re-sending a body is no proof
	// of being the citizen who filed it.
	require.Empty(t, b.CitizenToken)
	w := call(g, http.MethodGet, "/v1/requests/"+a.ID, nil, http.Header{"Authorization": {"Bearer " + a.CitizenToken}}, "")
	require.Equal(t, http.StatusOK, w.Code, "%s", w.Body)

	// The filer's own retry, with its token, is scoped to it and answered
	// from the first try's scoped key.
	owned := `{"client_request_id":"idem-2","text":"a second matter"}`
	auth := http.Header{"Authorization": {"Bearer " + a.CitizenToken}}
	o1 := call(g, http.MethodPost, webPath, strings.NewReader(owned), auth, "")
	o2 := call(g, http.MethodPost, webPath, strings.NewReader(owned), auth, "")
	require.Equal(t, http.StatusAccepted, o1.Code, "%s", o1.Body)
	require.JSONEq(t, o1.Body.String(), o2.Body.String())
	require.Equal(t, 2, envelopesPending(t, g))

	// The same key with a different body is a conflict, not a silent duplicate.
	w = call(g, http.MethodPost, webPath,
		strings.NewReader(`{"client_request_id":"idem-1","kind":"help","text":"a different leak"}`), nil, "")
	requireError(t, w, http.StatusUnprocessableEntity, "idempotency_conflict", nil)
	require.Equal(t, 2, envelopesPending(t, g))

	// Without a client_request_id every post is a new request.
	for range 2 {
		w := call(g, http.MethodPost, webPath, strings.NewReader(`{"text":"no key"}`), nil, "")
		require.Equal(t, http.StatusAccepted, w.Code)
	}
	require.Equal(t, 4, envelopesPending(t, g))
}
