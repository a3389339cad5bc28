package safehttp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrForbiddenAddress is returned (wrapped, also inside the *url.Error of
// http.Client.Do) when a webhook target is, or resolves to, an address that
// an outside party must not make the gateway reach: loopback, private,
// link-local, cloud metadata, CGNAT, unspecified, multicast, broadcast or
// reserved. The delivery is a permanent failure until the callback URL or
// webhooks.allow_hosts changes; retrying does not help.
var ErrForbiddenAddress = errors.New("safehttp: forbidden destination address")

// ErrBadURL is returned by CheckURL for a URL that is not an absolute
// http(s) URL with a host.
var ErrBadURL = errors.New("safehttp: invalid callback URL")

// metadataAddrs are the cloud instance-metadata services (AWS/GCP/Azure,
// AWS over IPv6, Alibaba Cloud). They also fall inside link-local, ULA and
// CGNAT, but are named first so that the error says what was attempted and
// the intent survives any change to the broader rules.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// forbiddenPrefixes lists ranges refused beyond what netip's predicates
// cover.
var forbiddenPrefixes = []struct {
	p    netip.Prefix
	name string
}{
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT 100.64.0.0/10"},
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network 0.0.0.0/8"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments 192.0.0.0/24"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking 198.18.0.0/15"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved 240.0.0.0/4"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible ::/96"},
	{netip.MustParsePrefix("100::/64"), "discard-only 100::/64"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation 2001:db8::/32"},
}

// nat64Prefixes and sixToFour are IPv6 translation prefixes that embed an
// IPv4 address (the last 32 bits for NAT64, bits 16..47 for 6to4); the
// embedded address is judged in turn.
var (
	nat64Prefixes = []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Forbidden reports why ip must not be dialled, or "" when it is a public
// address. IPv4-mapped IPv6 addresses are judged as the IPv4 address.
func Forbidden(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	ip = ip.Unmap().WithZone("")
	for _, m := range metadataAddrs {
		if ip == m {
			return "cloud metadata"
		}
	}
	switch {
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, f := range forbiddenPrefixes {
		if f.p.Contains(ip) {
			return f.name
		}
	}
	if ip.Is6() {
		b := ip.As16()
		for _, p := range nat64Prefixes {
			if p.Contains(ip) {
				if why := Forbidden(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
					return "NAT64 of " + why
				}
			}
		}
		if sixToFour.Contains(ip) {
			if why := Forbidden(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
				return "6to4 of " + why
			}
		}
	}
	return ""
}

// allowList is a set of normalised host names or IP literals.
type allowList map[string]struct{}

func newAllowList(hosts []string) allowList {
	a := make(allowList, len(hosts))
	for _, h := range hosts {
		if n := normalizeHost(h); n != "" {
			a[n] = struct{}{}
		}
	}
	return a
}

func (a allowList) allows(host string) bool {
	if len(a) == 0 {
		return false
	}
	_, ok := a[normalizeHost(host)]
	return ok
}

// normalizeHost lowercases, drops a port, IPv6 brackets, a zone and a
// trailing dot, and writes IP literals canonically, so that "LOCALHOST.",
// "127.0.0.1:8080" and "[::1]" compare as a person would expect.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.WithZone("").String()
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// CheckURL validates a configured callback URL at start-up, before any
// delivery: the scheme must be http or https and a host present. A literal
// IP host, and the names "localhost" and "*.localhost" (RFC 6761), get the
// same address rules as a connection would, unless allowed. Other names are
// not resolved here; the dialer checks what they resolve to at connect time.
func CheckURL(raw string, allow []string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q, want http or https", ErrBadURL, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host", ErrBadURL)
	}
	if newAllowList(allow).allows(host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := Forbidden(ip); why != "" {
			return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, host, why)
		}
		return nil
	}
	if lh := strings.TrimSuffix(strings.ToLower(host), "."); lh == "localhost" || strings.HasSuffix(lh, ".localhost") {
		return fmt.Errorf("%w: %s is loopback", ErrForbiddenAddress, host)
	}
	return nil
}
