package authguard_test

import (
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/services/internal/authguard/guardtest"
)

func newGuard(t *testing.T, cfg authguard.Config) (*authguard.Guard, *guardtest.Clock, *prometheus.CounterVec) {
	t.Helper()
	clk := guardtest.NewClock(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
	cfg.Now = clk.Now
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "f"}, []string{"kind"})
	g, err := authguard.New(cfg, failures, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return g, clk, failures
}

func TestAddressIsRefusedAfterMaxFailuresUntilTheWindowEnds(t *testing.T) {
	g, clk, failures := newGuard(t, authguard.Config{MaxFailures: 3, Window: time.Minute})
	for i := range 3 {
		if _, ok := g.Allow("192.0.2.1:5000", ""); !ok {
			t.Fatalf("refused after %d failures", i)
		}
		g.Fail(authguard.KindTenantCredential, "192.0.2.1:5000", "")
		clk.Add(time.Second)
	}
	retry, ok := g.Allow("192.0.2.1:6000", "") // another port, same address
	if ok || retry != 57*time.Second {
		t.Fatalf("after 3 failures: ok %v retry %s, want refused for 57s", ok, retry)
	}
	if _, ok := g.Allow("192.0.2.2:5000", ""); !ok {
		t.Fatal("another address refused")
	}
	if got := testutil.ToFloat64(failures.WithLabelValues(authguard.KindTenantCredential)); got != 3 {
		t.Fatalf("failures counted %v, want 3", got)
	}
	clk.Add(57 * time.Second)
	if _, ok := g.Allow("192.0.2.1:5000", ""); !ok {
		t.Fatal("still refused after the window")
	}
}

func TestTenantLimitRefusesOnlyAddressesThatFailed(t *testing.T) {
	g, _, _ := newGuard(t, authguard.Config{MaxFailures: 5, MaxTenantFailures: 4})
	for _, a := range []string{"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1", "192.0.2.4:1"} {
		g.Fail(authguard.KindAdminToken, a, "acme")
	}
	if _, ok := g.Allow("192.0.2.1:1", "acme"); ok {
		t.Fatal("a failing address of an attacked tenant allowed")
	}
	if _, ok := g.Allow("192.0.2.1:1", "globex"); !ok {
		t.Fatal("a failing address refused for another tenant under its own limit")
	}
	if _, ok := g.Allow("198.51.100.7:1", "acme"); !ok {
		t.Fatal("an address without failures refused: the tenant would be locked out")
	}
}

func TestAddressForms(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5000":    "192.0.2.1",
		"[2001:db8::1]:443": "2001:db8::1",
		"192.0.2.1":         "192.0.2.1",
		"[2001:db8::1]":     "2001:db8::1",
		"@":                 "@",
	} {
		if got := authguard.Address(in); got != want {
			t.Errorf("Address(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMemoryIsBounded(t *testing.T) {
	g, _, _ := newGuard(t, authguard.Config{MaxFailures: 2, MaxKeys: 100})
	for i := range 10_000 {
		g.Fail(authguard.KindAppConnectKey, "10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+":1", "")
	}
	if n := g.Len(); n > 100 {
		t.Fatalf("%d addresses kept, bound 100", n)
	}
	// The latest address is counted.
	g.Fail(authguard.KindAppConnectKey, "10.0.39.15:1", "")
	if _, ok := g.Allow("10.0.39.15:2", ""); ok {
		t.Fatal("the latest failing address is not counted")
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	g, _, _ := newGuard(t, authguard.Config{MaxFailures: 1})
	if n := testing.AllocsPerRun(100, func() { g.Allow("192.0.2.1:5000", "acme") }); n != 0 {
		t.Fatalf("Allow with nothing blocked: %v allocations", n)
	}
	g.Fail(authguard.KindAdminToken, "198.51.100.1:1", "") // something blocked: Allow looks up
	if n := testing.AllocsPerRun(100, func() { g.Allow("[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:5000", "acme") }); n != 0 {
		t.Fatalf("Allow while another address is blocked: %v allocations", n)
	}
}

func TestNilGuardAllowsEverything(t *testing.T) {
	var g *authguard.Guard
	g.Fail(authguard.KindAdminToken, "192.0.2.1:1", "")
	if _, ok := g.Allow("192.0.2.1:1", ""); !ok {
		t.Fatal("nil guard refused")
	}
}

func TestReplays(t *testing.T) {
	r := authguard.NewReplays(2)
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	if err := r.First("sig-a", t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.First("sig-a", t0.Add(time.Second), t0.Add(time.Minute)); !errors.Is(err, authguard.ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	if err := r.First("sig-b", t0, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.First("sig-c", t0, t0.Add(time.Minute)); !errors.Is(err, authguard.ErrReplaysFull) {
		t.Fatalf("over the bound: %v", err)
	}
	later := t0.Add(time.Minute)
	if err := r.First("sig-c", later, later.Add(time.Minute)); err != nil {
		t.Fatalf("after the others expired: %v", err)
	}
	if err := r.First("sig-a", later, later.Add(time.Minute)); err != nil {
		t.Fatalf("an expired key seen again (its timestamp would be refused anyway): %v", err)
	}
}

func BenchmarkAllow(b *testing.B) {
	g, err := authguard.New(authguard.Config{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g.Allow("192.0.2.1:5000", "acme")
		}
	})
}
