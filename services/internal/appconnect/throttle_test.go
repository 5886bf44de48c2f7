package appconnect_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/services/internal/authguard/guardtest"
)

// clientFrom sends requests from a given loopback address. App Connect's
// contract lists 200 and 400 for apiKeyLogin; the 429 of a throttled
// address is beyond it, so these requests are not checked against it.
func clientFrom(t *testing.T, ip string) *http.Client {
	return &http.Client{Transport: guardtest.TransportFrom(t, ip), Timeout: 10 * time.Second}
}

func TestAPIKeyLoginIsThrottledPerAddress(t *testing.T) {
	clk := guardtest.NewClock(time.Now())
	h := newHarness(t, func(_ *appconnect.Config, d *appconnect.Deps) {
		g, err := authguard.New(authguard.Config{MaxFailures: 10, Window: time.Minute, Now: clk.Now}, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		d.Guard = g
	})
	attacker, user := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	login := func(c *http.Client, key string) (int, http.Header) {
		t.Helper()
		resp, err := c.Post(h.srv.URL+"/appconnect/apiKeyLogin", "application/json",
			strings.NewReader(`{"platform":"calldex","apiKey":"`+key+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header
	}
	throttledAt := 0
	for i := 1; i <= 30; i++ {
		code, hdr := login(attacker, "guess-"+strings.Repeat("k", i))
		switch {
		case code == http.StatusTooManyRequests && hdr.Get("Retry-After") != "":
			if throttledAt == 0 {
				throttledAt = i
			}
		case code != http.StatusBadRequest:
			t.Fatalf("wrong key %d: %d", i, code)
		}
		if code, _ := login(user, "acme-key-123456"); code != http.StatusOK {
			t.Fatalf("right key from another address after %d wrong ones: %d", i, code)
		}
	}
	if throttledAt == 0 || throttledAt >= 30 {
		t.Fatalf("first 429 at attempt %d, want before the 30th", throttledAt)
	}
	if code, _ := login(attacker, "acme-key-123456"); code != http.StatusTooManyRequests {
		t.Fatalf("right key from the throttled address: %d, want 429", code)
	}
	clk.Add(time.Minute)
	if code, _ := login(attacker, "acme-key-123456"); code != http.StatusOK {
		t.Fatalf("after the window: %d", code)
	}
}
