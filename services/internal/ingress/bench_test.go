package ingress_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/tenant"
)

type discardEvents struct{}

func (discardEvents) Publish(string, events.Envelope, events.CallLookup) bool { return true }

type caughtUp struct{}

func (caughtUp) WaitApplied(context.Context, uint64) error { return nil }
func (caughtUp) CaughtUp() bool                            { return true }

// BenchmarkPeoplefoneLookup measures the handler alone (no network, events
// discarded) over 100,000 indexed contacts, half the calls known.
func BenchmarkPeoplefoneLookup(b *testing.B) {
	cfg, err := tenant.Parse([]byte(testConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	reg := tenant.NewRegistry(cfg)
	acme, _ := reg.Tenant("acme")
	idx := index.NewMemory()
	const n = 100_000
	for i := range n {
		c := events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: "Contact", Company: "Bench AG", CRMName: "CRM",
			Phones: []events.Phone{{Raw: fmt.Sprintf("021 %03d %02d %02d", 500+i/10000, i/100%100, i%100)}}, UpdatedAt: time.Now()}
		if err := idx.Upsert(context.Background(), "acme", projector.Entry(c, acme.PhoneOptions())); err != nil {
			b.Fatal(err)
		}
	}
	m := metrics.New()
	s, err := ingress.New(ingress.Deps{Config: cfg, Tenants: reg, Contacts: contact.NewPublisher(nil, events.Topology{}),
		Lookup: lookup.NewRecorder(lookup.New(idx), m, discardEvents{}, events.Topology{}, nil), Projection: caughtUp{}, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([]string, 1024)
	for i := range bodies {
		if i%2 == 0 {
			bodies[i] = fmt.Sprintf(`{"inputs":{"phoneNumber":"4121%07d"}}`, 5000000+(i*7919)%n)
		} else {
			bodies[i] = fmt.Sprintf(`{"inputs":{"phoneNumber":"4144%07d"}}`, 1000000+i)
		}
	}
	// The requests are built once and the answers discarded, so that the
	// figures are the handler's, not httptest's.
	reqs := make([]*http.Request, len(bodies))
	readers := make([]*strings.Reader, len(bodies))
	for i, body := range bodies {
		readers[i] = strings.NewReader(body)
		reqs[i] = httptest.NewRequest("POST", "/peoplefone/Lookup", readers[i])
		reqs[i].Header.Set("X-Execution-Token", "acme-token-123")
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(bodies)
		readers[k].Reset(bodies[k])
		reqs[k].Body = io.NopCloser(readers[k])
		clear(w.h)
		w.code = 0
		s.ServeHTTP(w, reqs[k])
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}
