package app

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestTrustedProxiesFromEnv(t *testing.T) {
	env := map[string]string{"CALLDEX_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.10", "CALLDEX_FORWARDED_HEADER": "Forwarded"}
	c, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.10/32")}
	if !slices.Equal(c.TrustedProxies, want) || c.ForwardedHeader != "Forwarded" || c.Validate() != nil {
		t.Fatalf("config %v %q: %v", c.TrustedProxies, c.ForwardedHeader, c.Validate())
	}
	env = map[string]string{"CALLDEX_TRUSTED_PROXIES": "10.0.0.0/8, lb.internal"}
	if _, err := FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil || !strings.Contains(err.Error(), "lb.internal") {
		t.Fatalf("a host name accepted as a proxy: %v", err)
	}
	c.ForwardedHeader = "X-Real-IP"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "CALLDEX_FORWARDED_HEADER") {
		t.Fatalf("X-Real-IP accepted: %v", err)
	}
}
