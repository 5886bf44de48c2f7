package ingress_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/services/internal/authguard/guardtest"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/services/internal/openapitest"
	"github.com/calldex/calldex/shared/metrics"
)

// fromAddress is a client whose connections leave from ip (another
// loopback address than the harness's 127.0.0.1).
func (h *harness) fromAddress(ip string) *harness {
	other := *h
	other.client = &http.Client{Timeout: 10 * time.Second,
		Transport: &openapitest.Transport{T: h.t, Router: openAPIRouter(h.t), Base: guardtest.TransportFrom(h.t, ip)}}
	return &other
}

func TestWrongCredentialsAreThrottledPerAddress(t *testing.T) {
	clk := guardtest.NewClock(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC))
	var m *metrics.Metrics
	h := newHarness(t, func(d *ingress.Deps) {
		m = d.Metrics
		guard, err := authguard.New(authguard.Config{MaxFailures: 10, Window: time.Minute, Now: clk.Now},
			d.Metrics.AuthFailures, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		d.Guard = guard
	})
	other := h.fromAddress("127.0.0.2")
	body := `{"inputs":{"phoneNumber":"41215522000"}}`
	admin := "/admin/v1/tenants/acme/lookup?number=41215522000"

	throttledAt := 0
	for i := 1; i <= 30; i++ {
		var r response
		if i%2 == 0 {
			r = h.do("POST", "/peoplefone/Lookup", body, "X-Execution-Token", "wrong-token-"+strings.Repeat("x", i))
		} else {
			r = h.do("GET", admin, "", "Authorization", "Bearer wrong-admin-token")
		}
		if r.Status == http.StatusTooManyRequests {
			if throttledAt == 0 {
				throttledAt = i
			}
			if r.Header.Get("Retry-After") == "" || r.errorCode(t) != "too_many_failures" {
				t.Fatalf("429 without Retry-After or code: %v %s", r.Header, r.Body)
			}
		} else if r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong credential %d: got %d %s", i, r.Status, r.Body)
		}
		// The right credential from another address works throughout.
		if ok := other.peoplefone("41215522000"); ok.Status != http.StatusOK {
			t.Fatalf("right credential from another address after %d failures: %d %s", i, ok.Status, ok.Body)
		}
		if ok := other.do("GET", admin, "", "Authorization", "Bearer admin-secret-token"); ok.Status != http.StatusOK {
			t.Fatalf("admin token from another address after %d failures: %d %s", i, ok.Status, ok.Body)
		}
	}
	if throttledAt == 0 || throttledAt >= 30 {
		t.Fatalf("first 429 at attempt %d, want before the 30th", throttledAt)
	}
	// The right credential from the throttled address is refused too: a
	// guess that hit would not tell.
	if r := h.peoplefone("41215522000"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("right credential from the throttled address: %d, want 429", r.Status)
	}
	clk.Add(time.Minute)
	if r := h.peoplefone("41215522000"); r.Status != http.StatusOK {
		t.Fatalf("after the window: %d %s", r.Status, r.Body)
	}
	tenantFailures := testutil.ToFloat64(m.AuthFailures.WithLabelValues(authguard.KindTenantCredential))
	adminFailures := testutil.ToFloat64(m.AuthFailures.WithLabelValues(authguard.KindAdminToken))
	if tenantFailures+adminFailures != 10 {
		t.Fatalf("failures counted: %v tenant + %v admin, want 10 (refused requests are not tried)", tenantFailures, adminFailures)
	}
}
