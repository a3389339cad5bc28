package gateway_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// GET /v1/requests/{id} answers the citizen who filed the request (the token
// of the 202) and nobody else: another citizen gets the same 404 as for an id
// that does not exist.
func TestRequestStatusOnlyForItsCitizen(t *testing.T) {
	g, clk := newGateway(t, nil)
	submit := func(text string) gatewaytest.Receipt {
		w := call(g, http.MethodPost, webPath, strings.NewReader(`{"kind":"help","text":"`+text+`"}`), nil, "")
		require.Equal(t, http.StatusAccepted, w.Code, "%s", w.Body)
		var rc gatewaytest.Receipt
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rc))
		require.NotEmpty(t, rc.CitizenToken)
		return rc
	}
	mine, theirs := submit("mine"), submit("theirs")
	get := func(id, tok string) *httpResult {
		h := http.Header{}
		if tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		w := call(g, http.MethodGet, "/v1/requests/"+id, nil, h, "")
		return &httpResult{w.Code, w.Body.Bytes()}
	}

	clk.Advance(4 * time.Minute) // past the first-response due time, nobody answered
	r := get(mine.ID, mine.CitizenToken)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var st gateway.StatusView
	require.NoError(t, json.Unmarshal(r.body, &st))
	require.Equal(t, mine.ID, st.ID)
	require.Equal(t, "web", st.Channel)
	require.Contains(t, []string{"accepted", "acknowledged"}, st.Status, "nothing but the automatic receipt happened")
	require.Equal(t, "breached", st.Timeliness.FirstResponse.State)
	require.Equal(t, "open", st.Timeliness.Handling.State)
	require.True(t, mine.HandlingDue.Equal(st.Timeliness.Handling.Due))

	// Another citizen's token: the same answer as for an unknown id.
	r = get(mine.ID, theirs.CitizenToken)
	require.Equal(t, http.StatusNotFound, r.status)
	unknown := get("01a21c30-0000-7000-8000-000000000000", theirs.CitizenToken)
	require.Equal(t, http.StatusNotFound, unknown.status)
	require.JSONEq(t, string(unknown.body), string(r.body))

	// No token, or a forged one.
	r = get(mine.ID, "")
	require.Equal(t, http.StatusUnauthorized, r.status)
	r = get(mine.ID, mine.CitizenToken[:len(mine.CitizenToken)-2]+"xx")
	require.Equal(t, http.StatusUnauthorized, r.status)
	// The cookie carries the token as well.
	w := call(g, http.MethodGet, "/v1/requests/"+theirs.ID, nil, http.Header{"Cookie": {"citizen_token=" + theirs.CitizenToken}}, "")
	require.Equal(t, http.StatusOK, w.Code, "%s", w.Body)
}

type httpResult struct {
	status int
	body   []byte
}

// A gateway that cannot start says why and releases what it opened.
func TestNewFailsCleanlyWhenTheBrokerPortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cfg := gatewaytest.Config(t)
	cfg.Kafka.Embedded.Addr = ln.Addr().String()
	g, err := gateway.New(cfg, gateway.Options{})
	require.Error(t, err)
	require.Nil(t, g)
	// The store was closed: a second gateway can open the same data directory.
	cfg.Kafka.Embedded.Addr = "127.0.0.1:0"
	g, err = gateway.New(cfg, gateway.Options{})
	require.NoError(t, err)
	require.NoError(t, g.Shutdown(context.Background()))
}
