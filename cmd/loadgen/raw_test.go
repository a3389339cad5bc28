package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The raw client against a real net/http server: keep-alive, bodies by
// length and chunked, a server that closes, and the request it sends.
func TestRawClientAgainstNetHTTP(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		require.Equal(t, http.MethodPost, r.Method)
		require.Equal(t, "/v1/channels/web/requests", r.URL.Path)
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))
		switch string(b) {
		case `{"chunked":true}`:
			w.WriteHeader(http.StatusAccepted)
			for range 3 {
				_, _ = w.Write([]byte(strings.Repeat("x", 100)))
				w.(http.Flusher).Flush()
			}
		case `{"close":true}`:
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"x"}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c, err := newRawClient(srv.URL+"/v1/channels/web/requests", 5*time.Second)
	require.NoError(t, err)
	defer c.close()
	ctx := context.Background()
	for _, tc := range []struct {
		body  string
		want  int
		conns int32
	}{
		{`{"a":1}`, 202, 1},
		{`{"a":2}`, 202, 1}, // same connection
		{`{"chunked":true}`, 202, 1},
		{`{"a":3}`, 202, 1},
		{`{"close":true}`, 503, 1},
		{`{"a":4}`, 202, 2}, // dialled again
	} {
		got, err := c.post(ctx, []byte(tc.body))
		require.NoError(t, err, tc.body)
		require.Equal(t, tc.want, got, tc.body)
		require.Equal(t, tc.conns, conns.Load(), tc.body)
	}
}

func TestRawClientRefusesOtherSchemes(t *testing.T) {
	_, err := newRawClient("https://127.0.0.1/x", time.Second)
	require.Error(t, err)
}

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		status   int
		keep     bool
		err      bool
	}{
		{"length", "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}", 202, true, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, true, false},
		{"chunk extension and trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n", 200, true, false},
		{"close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 503, false, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, false, false},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\nbody", 200, false, false},
		{"garbage", "hello\r\n\r\n", 0, false, true},
		{"bad status", "HTTP/1.1 2x2 OK\r\n\r\n", 0, false, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false, true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 200, true, true},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200, true, true},
		{"header without colon", "HTTP/1.1 200 OK\r\nnope\r\n\r\n", 0, false, true},
		{"truncated", "HTTP/1.1 200 OK\r\nContent-", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, keep, err := readResponse(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.keep, keep)
		})
	}
}

// FuzzReadResponse: any bytes give a status or an error, never a panic or
// a hang, and never read past what they were given.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 503 x\r\nConnection: close\r\n\r\n", "", "HTTP/1.1 999 \r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		status, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(string(b)), 64))
		if err == nil && (status < 100 || status > 999) {
			t.Fatalf("status %d without an error", status)
		}
	})
}

// TestDiskProbe: the probe beside a run fsyncs until told to stop, and its
// figures count the stalls.
func TestDiskProbe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := diskProbe(ctx, t.TempDir(), 5*time.Millisecond)
	require.NoError(t, res.err)
	require.NotEmpty(t, res.lat)
	figs := probeResult{lat: []time.Duration{time.Millisecond, 30 * time.Millisecond, 50 * time.Millisecond}}.figs()
	require.Equal(t, 3, figs.N)
	require.Equal(t, 2, figs.Over20ms)
	require.InDelta(t, 80, figs.StalledMs, 0.001)
	require.InDelta(t, 50, figs.Latency.Max, 0.001)
}
