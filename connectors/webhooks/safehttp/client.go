// Package safehttp is the outbound HTTP client for partner webhooks. Partner
// callback URLs come from configuration and, indirectly, from outside
// parties, so the client must not become a way to reach the gateway's own
// network (SSRF): every connection's resolved IP is checked at connect time,
// after DNS, which also defeats DNS rebinding. Redirects are never followed.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultTimeout bounds one whole delivery attempt (connect, TLS, request,
// response headers and body) when Options.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// Resolver looks host names up. *net.Resolver (net.DefaultResolver)
// satisfies it; tests substitute a map.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options configures NewClient. The zero value is usable: public addresses
// only, DefaultTimeout, the system resolver.
type Options struct {
	// AllowHosts are host names or IP literals (as written in the URL,
	// before resolution; any port is ignored) that may be reached even
	// though they are loopback or private: tests and on-premises partners
	// (configuration key webhooks.allow_hosts).
	AllowHosts []string
	// Timeout for one request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Resolver for host names; nil means net.DefaultResolver.
	Resolver Resolver
}

// NewClient returns an *http.Client that refuses forbidden destinations with
// an error wrapping ErrForbiddenAddress, never follows redirects (a 3xx is
// returned to the caller, which counts it as a failed delivery), ignores
// proxy environment variables (a proxy would hide the destination from the
// check), and applies Options.Timeout to each request.
func NewClient(opts Options) *http.Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	d := &dialer{allow: newAllowList(opts.AllowHosts), resolver: opts.Resolver}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// dialer resolves the URL's host itself and dials each address with a
// net.Dialer whose Control hook vets the exact IP being connected to.
type dialer struct {
	allow    allowList
	resolver Resolver
}

// DialContext receives addr as host:port from the request URL, so the
// allow-list is matched against the name the caller configured, not
// against whatever it resolves to.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("safehttp: dial %q: %w", addr, err)
	}
	allowed := d.allow.allows(host)
	nd := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowed {
		nd.Control = func(_, address string, _ syscall.RawConn) error {
			return checkDialAddress(host, address)
		}
	}

	ips, err := d.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		conn, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// lookup returns the addresses to try: the literal itself, or the resolved
// ones. The system resolver is not trusted to refuse anything; Control does.
func (d *dialer) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	addrs, err := d.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("safehttp: resolve %q: %w", host, err)
	}
	ips := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			ips = append(ips, ip.WithZone(a.Zone))
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("safehttp: resolve %q: no addresses", host)
	}
	return ips, nil
}

// checkDialAddress is the Control hook: address is the ip:port about to be
// connected, after every resolution step.
func checkDialAddress(host, address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: unparsable dial address %q", ErrForbiddenAddress, host, address)
	}
	if why := Forbidden(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s resolves to %s (%s)", ErrForbiddenAddress, host, ap.Addr(), why)
	}
	return nil
}
