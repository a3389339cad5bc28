package safehttp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
)

// mapResolver answers from a fixed table, standing in for DNS.
type mapResolver map[string][]string

func (m mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, 0, len(ips))
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func newServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestClientDestinations(t *testing.T) {
	srv, hits := newServer(t)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	port := u.Port()
	res := mapResolver{
		"partner.example": {"127.0.0.1"},
		"rebind.example":  {"10.1.2.3", "127.0.0.1"},
	}

	tests := []struct {
		name     string
		url      string
		allow    []string
		resolver safehttp.Resolver
		wantOK   bool
	}{
		{name: "loopback literal refused", url: srv.URL},
		{name: "loopback literal allowed", url: srv.URL, allow: []string{"127.0.0.1"}, wantOK: true},
		{name: "allow entry with port and case", url: srv.URL, allow: []string{" 127.0.0.1:1 "}, wantOK: true},
		{name: "localhost via system resolver refused", url: "http://localhost:" + port},
		{name: "localhost allowed by name", url: "http://localhost:" + port, allow: []string{"LOCALHOST"}, wantOK: true},
		{name: "allowing the IP does not allow a name resolving to it", url: "http://localhost:" + port, allow: []string{"127.0.0.1"}},
		{name: "name resolving to loopback refused at connect", url: "http://partner.example:" + port, resolver: res},
		{name: "name resolving to loopback allowed", url: "http://partner.example:" + port, allow: []string{"partner.example"}, resolver: res, wantOK: true},
		{name: "every resolved address checked", url: "http://rebind.example:" + port, resolver: res},
		{name: "metadata refused", url: "http://169.254.169.254/latest/meta-data/"},
		{name: "alibaba metadata refused", url: "http://100.100.100.200/latest/meta-data/"},
		{name: "unspecified refused", url: "http://0.0.0.0:" + port},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := hits.Load()
			c := safehttp.NewClient(safehttp.Options{AllowHosts: tc.allow, Resolver: tc.resolver, Timeout: 5 * time.Second})
			resp, err := c.Get(tc.url)
			if tc.wantOK {
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				require.Equal(t, http.StatusNoContent, resp.StatusCode)
				require.Equal(t, before+1, hits.Load())
				return
			}
			require.ErrorIs(t, err, safehttp.ErrForbiddenAddress)
			var ue *url.Error
			require.ErrorAs(t, err, &ue)
			require.Equal(t, before, hits.Load(), "the server must not be reached")
		})
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	srv, hits := newServer(t)
	c := safehttp.NewClient(safehttp.Options{AllowHosts: []string{"127.0.0.1"}})
	resp, err := c.Get(srv.URL + "/redirect")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "/elsewhere", resp.Header.Get("Location"))
	require.Equal(t, int32(1), hits.Load())
}

func TestClientIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	srv, _ := newServer(t)
	c := safehttp.NewClient(safehttp.Options{AllowHosts: []string{"127.0.0.1"}})
	resp, err := c.Get(srv.URL)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
}

func TestClientUnknownHost(t *testing.T) {
	c := safehttp.NewClient(safehttp.Options{Resolver: mapResolver{}})
	_, err := c.Get("http://nowhere.example/")
	require.Error(t, err)
	require.False(t, errors.Is(err, safehttp.ErrForbiddenAddress))
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
}

func ExampleNewClient() {
	c := safehttp.NewClient(safehttp.Options{})
	_, err := c.Get("http://169.254.169.254/latest/meta-data/")
	fmt.Println(errors.Is(err, safehttp.ErrForbiddenAddress), strings.Contains(err.Error(), "cloud metadata"))
	// Output: true true
}
