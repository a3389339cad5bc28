package safehttp_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
)

func TestForbidden(t *testing.T) {
	tests := []struct {
		ip      string
		why     string // "" means allowed; otherwise a substring of the reason
		comment string
	}{
		{"8.8.8.8", "", "public"},
		{"1.1.1.1", "", "public"},
		{"2606:4700:4700::1111", "", "public IPv6"},
		{"64:ff9b::808:808", "", "NAT64 of a public address"},
		{"100.63.255.255", "", "just below CGNAT"},
		{"100.128.0.0", "", "just above CGNAT"},
		{"127.0.0.1", "loopback", ""},
		{"127.255.255.254", "loopback", ""},
		{"::1", "loopback", ""},
		{"10.0.0.1", "private", "RFC 1918"},
		{"172.16.0.1", "private", "RFC 1918"},
		{"172.31.255.255", "private", "RFC 1918"},
		{"192.168.1.1", "private", "RFC 1918"},
		{"fc00::1", "private", "ULA"},
		{"fdff::1", "private", "ULA"},
		{"169.254.1.1", "link-local", ""},
		{"fe80::1", "link-local", ""},
		{"fe80::1%eth0", "link-local", "with zone"},
		{"169.254.169.254", "metadata", "AWS/GCP/Azure"},
		{"fd00:ec2::254", "metadata", "AWS IPv6"},
		{"100.100.100.200", "metadata", "Alibaba Cloud"},
		{"100.64.0.1", "100.64.0.0/10", "CGNAT"},
		{"100.127.255.255", "100.64.0.0/10", "CGNAT"},
		{"0.0.0.0", "unspecified", ""},
		{"::", "unspecified", ""},
		{"0.1.2.3", "0.0.0.0/8", ""},
		{"224.0.0.1", "multicast", ""},
		{"239.255.255.250", "multicast", "SSDP"},
		{"ff02::1", "multicast", ""},
		{"255.255.255.255", "broadcast", ""},
		{"240.0.0.1", "240.0.0.0/4", "reserved"},
		{"::ffff:127.0.0.1", "loopback", "IPv4-mapped"},
		{"::ffff:169.254.169.254", "metadata", "IPv4-mapped"},
		{"::ffff:10.0.0.1", "private", "IPv4-mapped"},
		{"::ffff:100.64.0.1", "100.64.0.0/10", "IPv4-mapped CGNAT"},
		{"::127.0.0.1", "::/96", "IPv4-compatible"},
		{"64:ff9b::7f00:1", "NAT64 of loopback", ""},
		{"2002:7f00:1::1", "6to4 of loopback", ""},
		{"2002:a9fe:a9fe::1", "6to4 of cloud metadata", ""},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			got := safehttp.Forbidden(netip.MustParseAddr(tc.ip))
			if tc.why == "" {
				require.Empty(t, got, tc.comment)
				return
			}
			require.Contains(t, got, tc.why, tc.comment)
		})
	}
	require.Equal(t, "invalid address", safehttp.Forbidden(netip.Addr{}))
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url     string
		allow   []string
		wantErr error
	}{
		{url: "https://partner.example.cn/hooks/12345"},
		{url: "http://partner.example.cn:8443/hooks"},
		{url: "HTTPS://Partner.Example.cn/"},
		{url: "https://8.8.8.8/hook"},
		{url: "https://[2606:4700:4700::1111]/hook"},
		{url: "ftp://partner.example.cn/", wantErr: safehttp.ErrBadURL},
		{url: "partner.example.cn/hooks", wantErr: safehttp.ErrBadURL},
		{url: "https:///nohost", wantErr: safehttp.ErrBadURL},
		{url: "https://:443/", wantErr: safehttp.ErrBadURL},
		{url: "", wantErr: safehttp.ErrBadURL},
		{url: "http://[::1", wantErr: safehttp.ErrBadURL},
		{url: "javascript:alert(1)", wantErr: safehttp.ErrBadURL},
		{url: "http://127.0.0.1:8080/hook", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://127.0.0.1:8080/hook", allow: []string{"127.0.0.1"}},
		{url: "http://[::1]:8080/hook", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://[::1]:8080/hook", allow: []string{"[::1]"}},
		{url: "http://[::ffff:10.0.0.1]/", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://169.254.169.254/latest/meta-data/", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://100.100.100.200/", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://192.168.0.10/", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://192.168.0.10/", allow: []string{"192.168.0.10:9000"}},
		{url: "http://localhost:8080/", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://api.localhost./", wantErr: safehttp.ErrForbiddenAddress},
		{url: "http://localhost:8080/", allow: []string{"localhost"}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			err := safehttp.CheckURL(tc.url, tc.allow)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://partner.example.cn/h", "http://127.0.0.1:1/", "http://[fe80::1%25eth0]/", "http://[::ffff:a9fe:a9fe]/", "::", "http://%zz/"} {
		f.Add(s, "127.0.0.1")
	}
	f.Fuzz(func(t *testing.T, raw, allow string) {
		_ = safehttp.CheckURL(raw, []string{allow})
	})
}
