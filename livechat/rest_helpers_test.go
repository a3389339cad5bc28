package livechat_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// call makes a REST request to base+path with an agent token ("" none) and
// a JSON body (nil none); it returns the status, the headers and the body.
func call(t *testing.T, method, url, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, out
}

// decode unmarshals a JSON body into a map.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return m
}

// acceptOffer waits for the offer of sid on a and accepts it; the agent's
// transcript replay and session frame are left to read.
func acceptOffer(t *testing.T, a *lt.Client, sid string) {
	t.Helper()
	require.Equal(t, sid, a.Expect(livechat.TypeOffer, wait).SessionID)
	a.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a.Expect(livechat.TypeSession, wait)
}

// presence sets an agent's presence and waits for the server's answer.
func presence(t *testing.T, a *lt.Client, status string) {
	t.Helper()
	a.SendData(livechat.TypePresence, "", "", map[string]string{"status": status})
	require.Equal(t, status, lt.Data(t, a.Expect(livechat.TypePresence, wait))["status"])
}
