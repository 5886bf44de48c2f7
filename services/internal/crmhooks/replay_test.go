package crmhooks_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/services/internal/crmhooks"
)

func TestHubSpotReplayIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	body := fixture(t, "hubspot_contact_events.json")
	const path = "/webhooks/acme/hubspot"
	header := h.hubspotHeader(path, body, time.Now())
	wantStatus(t, h.post(path, body, header), http.StatusNoContent)
	// The same request again, well inside its 5-minute window.
	wantStatus(t, h.post(path, body, header), http.StatusUnauthorized)
	if n := testutil.ToFloat64(h.m.CRMWebhooks.WithLabelValues("hubspot", "replayed")); n != 1 {
		t.Fatalf("replays counted %v, want 1", n)
	}
	// A new delivery of the same events (a new timestamp) is taken.
	wantStatus(t, h.postHubSpot("hubspot", body, time.Now().Add(time.Millisecond)), http.StatusNoContent)
}

// failingPublisher refuses tombstones, as NATS does when it is down.
type failingPublisher struct{ fail bool }

func (p *failingPublisher) Delete(context.Context, string, string, string) (uint64, error) {
	if p.fail {
		return 0, errors.New("nats: no responders")
	}
	return 1, nil
}

func TestHubSpotRetryOfAFailedNotificationIsTaken(t *testing.T) {
	pub := &failingPublisher{fail: true}
	h := newHarness(t, nil, func(d *crmhooks.Deps) { d.Contacts = pub })
	body := fixture(t, "hubspot_contact_deletion.json")
	const path = "/webhooks/acme/hubspot"
	header := h.hubspotHeader(path, body, time.Now())
	wantStatus(t, h.post(path, body, header), http.StatusServiceUnavailable)
	pub.fail = false
	wantStatus(t, h.post(path, body, header), http.StatusNoContent)
}

func TestWebhookSignatureFailuresAreThrottled(t *testing.T) {
	var guard *authguard.Guard
	h := newHarness(t, nil, func(d *crmhooks.Deps) {
		var err error
		guard, err = authguard.New(authguard.Config{MaxFailures: 5}, d.Metrics.AuthFailures, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		d.Guard = guard
	})
	body := fixture(t, "hubspot_contact_events.json")
	forged := bytes.Replace(body, []byte("1246965"), []byte("1246966"), 1)
	const path = "/webhooks/acme/hubspot"
	for i := 1; i <= 5; i++ {
		wantStatus(t, h.post(path, forged, h.hubspotHeader(path, body, time.Now())), http.StatusUnauthorized)
	}
	resp := h.postHubSpot("hubspot", body, time.Now())
	wantStatus(t, resp, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if n := testutil.ToFloat64(h.m.AuthFailures.WithLabelValues(authguard.KindWebhookSignature)); n != 5 {
		t.Fatalf("signature failures counted %v, want 5", n)
	}
}
