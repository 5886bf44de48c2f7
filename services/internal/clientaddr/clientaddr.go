package clientaddr

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Headers the proxies may report the client address in.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// Config configures a Resolver.
type Config struct {
	// TrustedProxies are the addresses (CIDRs or single addresses) of the
	// proxies in front of Calldex. Empty: the peer is the client, and the
	// headers are ignored.
	TrustedProxies []netip.Prefix
	// Header is where the proxies report the address they received the
	// request from: X-Forwarded-For (default) or Forwarded. Only one is
	// read: a proxy that sets one passes the other on from the client
	// untouched, and reading it would believe the client.
	Header string
}

// Validate applies the default header and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Header == "" {
		c.Header = HeaderXForwardedFor
	}
	c.Header = http.CanonicalHeaderKey(c.Header)
	if c.Header != HeaderXForwardedFor && c.Header != HeaderForwarded {
		errs = append(errs, fmt.Errorf("clientaddr: header %q must be %s or %s", c.Header, HeaderXForwardedFor, HeaderForwarded))
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, errors.New("clientaddr: a trusted proxy prefix is not valid"))
		}
	}
	return errors.Join(errs...)
}

// ParsePrefixes reads a comma-separated list of CIDRs and single addresses
// (a single address is its own /32 or /128), reporting every bad entry.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is neither a CIDR nor an address", s))
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, errors.Join(errs...)
}

// Resolver finds requests' client addresses.
type Resolver struct {
	cfg Config
}

// New validates cfg.
func New(cfg Config) (*Resolver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Resolver{cfg: cfg}, nil
}

// Client returns the address of the client behind r: the peer when it is
// not a trusted proxy; else, walking the header's list from the right
// (the entry the nearest proxy added), the first address that is not a
// trusted proxy. When every listed address is a trusted proxy, the
// leftmost is the client. An entry that is not an address ("unknown", an
// obfuscated identifier, garbage) ends the walk: the client is then the
// last trusted hop, which a tenant's allowedCIDRs will not admit by
// mistake. false: the peer address itself does not parse.
func (rs *Resolver) Client(r *http.Request) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	client := peer.Addr().Unmap()
	if !rs.trusted(client) {
		return client, true
	}
	hops := rs.hops(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !rs.trusted(a) {
			break
		}
	}
	return client, true
}

func (rs *Resolver) trusted(a netip.Addr) bool {
	for _, p := range rs.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hops lists the addresses the proxies reported, oldest first, across
// every instance of the header.
func (rs *Resolver) hops(h http.Header) []string {
	var out []string
	for _, line := range h.Values(rs.cfg.Header) {
		for _, el := range strings.Split(line, ",") {
			el = strings.TrimSpace(el)
			if rs.cfg.Header == HeaderForwarded {
				el = forwardedFor(el)
			}
			out = append(out, el)
		}
	}
	return out
}

// forwardedFor returns the for= parameter of one Forwarded element
// (for=192.0.2.60;proto=http;by=203.0.113.43), unquoted; "" when absent.
func forwardedFor(el string) string {
	for _, pair := range strings.Split(el, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, "for") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// parseHop reads an address as proxies write it: 192.0.2.1, 192.0.2.1:80,
// 2001:db8::1, [2001:db8::1] or [2001:db8::1]:80.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Middleware serves next with the request's RemoteAddr set to its client
// address (port 0 when it came from a header), so that every handler
// behind it checks and logs the client. Without trusted proxies it
// returns next itself.
func (rs *Resolver) Middleware(next http.Handler) http.Handler {
	if len(rs.cfg.TrustedProxies) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := rs.Client(r); ok {
			peer, _ := netip.ParseAddrPort(r.RemoteAddr)
			if a != peer.Addr().Unmap() {
				r = r.WithContext(r.Context())
				r.RemoteAddr = netip.AddrPortFrom(a, 0).String()
			}
		}
		next.ServeHTTP(w, r)
	})
}
