package clientaddr_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/calldex/calldex/services/internal/clientaddr"
	"github.com/calldex/calldex/shared/tenant"
)

func resolver(t *testing.T, header string, trusted string) *clientaddr.Resolver {
	t.Helper()
	ps, err := clientaddr.ParsePrefixes(trusted)
	if err != nil {
		t.Fatal(err)
	}
	r, err := clientaddr.New(clientaddr.Config{TrustedProxies: ps, Header: header})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestClient(t *testing.T) {
	const proxies = "10.0.0.0/8, 2001:db8:ffff::1"
	tests := []struct {
		name    string
		header  string
		peer    string
		headers map[string][]string
		want    string
	}{
		{name: "no proxy in between", peer: "198.51.100.7:5000", want: "198.51.100.7"},
		{name: "an untrusted peer's header is ignored", peer: "198.51.100.7:5000",
			headers: map[string][]string{"X-Forwarded-For": {"10.1.1.1"}}, want: "198.51.100.7"},
		{name: "behind the load balancer", peer: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, want: "198.51.100.7"},
		{name: "a client's own header is not believed", peer: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"192.0.2.99, 203.0.113.5"}}, want: "203.0.113.5"},
		{name: "two trusted hops", peer: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"192.0.2.99, 203.0.113.5", "10.9.9.9"}}, want: "203.0.113.5"},
		{name: "every hop trusted: the first", peer: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"10.3.3.3, 10.4.4.4"}}, want: "10.3.3.3"},
		{name: "ports and brackets", peer: "[2001:db8:ffff::1]:443",
			headers: map[string][]string{"X-Forwarded-For": {"[2001:db8::7]:4711"}}, want: "2001:db8::7"},
		{name: "garbage ends the walk at the last trusted hop", peer: "10.0.0.2:5000",
			headers: map[string][]string{"X-Forwarded-For": {"198.51.100.7, nonsense, 10.5.5.5"}}, want: "10.5.5.5"},
		{name: "Forwarded is not read unless chosen", peer: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {"for=198.51.100.7"}}, want: "10.0.0.2"},
		{name: "Forwarded (RFC 7239)", header: "Forwarded", peer: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {`for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.2`}}, want: "2001:db8:cafe::17"},
		{name: "X-Forwarded-For is not read when Forwarded is chosen", header: "forwarded", peer: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {"for=203.0.113.5"}, "X-Forwarded-For": {"192.0.2.99"}}, want: "203.0.113.5"},
		{name: "obfuscated identifier", header: "Forwarded", peer: "10.0.0.2:5000",
			headers: map[string][]string{"Forwarded": {"for=_hidden"}}, want: "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for k, vs := range tt.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			got, ok := resolver(t, tt.header, proxies).Client(r)
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Fatalf("client %v (%v), want %s", got, ok, tt.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := clientaddr.ParsePrefixes("10.0.0.0/8, lb.internal, 10.0.0.0/33"); err == nil {
		t.Fatal("bad prefixes accepted")
	}
	if _, err := clientaddr.New(clientaddr.Config{Header: "X-Real-IP"}); err == nil {
		t.Fatal("unknown header accepted")
	}
}

// TestAllowedCIDRsBehindALoadBalancer: a tenant's allowedCIDRs admit the
// client behind the load balancer, and only the client.
func TestAllowedCIDRsBehindALoadBalancer(t *testing.T) {
	cfg, err := tenant.Parse([]byte(`admin: {token: admin-token-1}
tenants:
  - id: acme
    region: CH
    credentials: [{header: X-Token, value: acme-token-1}]
    allowedCIDRs: [198.51.100.0/24]
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	reg := tenant.NewRegistry(cfg)
	check := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := reg.Authenticate(r); errors.Is(err, tenant.ErrAddressRefused) {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	status := func(h http.Handler, peer, xff string) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Token", "acme-token-1")
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	behindLB := resolver(t, "", "10.0.0.0/8").Middleware(check)
	direct := resolver(t, "", "").Middleware(check)
	for _, c := range []struct {
		name      string
		h         http.Handler
		peer, xff string
		want      int
	}{
		{"allowed client behind the load balancer", behindLB, "10.0.0.2:1000", "198.51.100.7", http.StatusOK},
		{"other client behind the load balancer", behindLB, "10.0.0.2:1000", "203.0.113.5", http.StatusForbidden},
		{"other client claiming an allowed address", behindLB, "10.0.0.2:1000", "198.51.100.7, 203.0.113.5", http.StatusForbidden},
		{"allowed client, direct", behindLB, "198.51.100.7:1000", "", http.StatusOK},
		{"without trusted proxies the header is ignored", direct, "10.0.0.2:1000", "198.51.100.7", http.StatusForbidden},
	} {
		if got := status(c.h, c.peer, c.xff); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
