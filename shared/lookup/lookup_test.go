package lookup_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

var acme = &tenant.Tenant{ID: "acme", Region: "CH", TailDigits: 9, MaxResults: 5,
	Fallback: tenant.Fallback{Budget: 150 * time.Millisecond, MissTTL: time.Hour}}

// crm is a live source answering after delay with contacts, or err.
type crm struct {
	delay    time.Duration
	contacts []events.Contact
	err      error
	calls    atomic.Int32
	asked    []string
}

func (c *crm) SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error) {
	c.calls.Add(1)
	c.asked = numbers
	select {
	case <-time.After(c.delay):
		return c.contacts, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type sources map[string]lookup.PhoneSource

func (s sources) PhoneSources(context.Context, *tenant.Tenant) map[string]lookup.PhoneSource {
	return s
}

type publisher struct {
	mu  sync.Mutex
	got []events.Contact
}

func (p *publisher) UpsertMany(_ context.Context, _ string, cs []events.Contact) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, cs...)
	return 1, nil
}

func (p *publisher) published() []events.Contact {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]events.Contact(nil), p.got...)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestLookupFromIndex(t *testing.T) {
	idx := index.NewMemory()
	c := events.Contact{ID: "1", Source: "crm", Name: "A", UpdatedAt: time.Now()}
	if err := idx.Upsert(context.Background(), "acme", index.Entry{Contact: c, Keys: []phone.Key{"e:+41215522000", "t:215522000"}}); err != nil {
		t.Fatal(err)
	}
	res, err := lookup.New(idx).Lookup(context.Background(), acme, "0215522000")
	if err != nil || len(res.Matches) != 1 || res.Candidates[0] != "e:+41215522000" || res.Live {
		t.Fatalf("res = %+v, %v", res, err)
	}
	res, err = lookup.New(idx).Lookup(context.Background(), acme, "call me")
	if err != nil || res.NotANumber == "" || len(res.Matches) != 0 {
		t.Fatalf("junk: %+v, %v", res, err)
	}
}

func TestFallbackAnswersWithinBudgetAndPublishes(t *testing.T) {
	fast := &crm{delay: 10 * time.Millisecond, contacts: []events.Contact{{ID: "h-1", Name: "Live Person"}}}
	slow := &crm{delay: 5 * time.Second, contacts: []events.Contact{{ID: "p-1", Name: "Too Late"}}}
	pub := &publisher{}
	svc := lookup.New(index.NewMemory()).WithFallback(lookup.FallbackConfig{},
		sources{"hubspot": fast, "pipedrive": slow}, pub, quiet)

	start := time.Now()
	res, err := svc.Lookup(context.Background(), acme, "41215522000")
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if took > time.Second {
		t.Fatalf("took %s, budget is 150ms", took)
	}
	if !res.Live || len(res.Matches) != 1 || res.Matches[0].Contact.ID != "h-1" || res.Matches[0].Contact.Source != "hubspot" {
		t.Fatalf("res = %+v", res)
	}
	if len(fast.asked) == 0 || fast.asked[0] != "+41215522000" {
		t.Fatalf("CRM asked %v, want E.164", fast.asked)
	}
	testwait.Until(t, 5*time.Second, "the live contact to be published", func() bool { return len(pub.published()) > 0 })
	if got := pub.published(); len(got) != 1 || got[0].ID != "h-1" || got[0].Source != "hubspot" {
		t.Fatalf("published %+v", got)
	}
}

func TestFallbackRemembersConfirmedMissesOnly(t *testing.T) {
	empty := &crm{}
	svc := lookup.New(index.NewMemory()).WithFallback(lookup.FallbackConfig{}, sources{"crm": empty}, &publisher{}, quiet)
	for range 3 {
		if res, err := svc.Lookup(context.Background(), acme, "41215522000"); err != nil || len(res.Matches) != 0 {
			t.Fatalf("res = %+v, %v", res, err)
		}
	}
	if n := empty.calls.Load(); n != 1 {
		t.Fatalf("CRM asked %d times for an unknown caller, want 1", n)
	}

	failing := &crm{err: errors.New("CRM answered 500")}
	svc = lookup.New(index.NewMemory()).WithFallback(lookup.FallbackConfig{}, sources{"crm": failing}, &publisher{}, quiet)
	for range 2 {
		_, _ = svc.Lookup(context.Background(), acme, "41215522000")
	}
	if n := failing.calls.Load(); n != 2 {
		t.Fatalf("a failed search must not be remembered as a miss: %d calls", n)
	}
}

func TestFallbackNotAskedOnIndexHit(t *testing.T) {
	idx := index.NewMemory()
	_ = idx.Upsert(context.Background(), "acme", index.Entry{Contact: events.Contact{ID: "1", Source: "crm", Name: "A"}, Keys: []phone.Key{"e:+41215522000"}})
	src := &crm{}
	svc := lookup.New(idx).WithFallback(lookup.FallbackConfig{}, sources{"crm": src}, &publisher{}, quiet)
	if res, _ := svc.Lookup(context.Background(), acme, "41215522000"); len(res.Matches) != 1 || res.Live || src.calls.Load() != 0 {
		t.Fatalf("res = %+v, live calls %d", res, src.calls.Load())
	}
}

// A result's E164 is what phone.Normalize reads, however the number is
// written, and "" for what never becomes a valid number.
func TestResultE164IsNormalize(t *testing.T) {
	svc := lookup.New(index.NewMemory())
	for _, number := range []string{"0215522000", "+41 21 552 20 00", "0041215522000", "41215522000",
		"+33 1 42 68 53 00", "0033142685300", "079 123 45 67", "5522000", "021 552", "call me", "+1 650 253 0000"} {
		res, err := svc.Lookup(context.Background(), acme, number)
		if err != nil {
			t.Fatal(err)
		}
		want, err := phone.Normalize(number, acme.PhoneOptions())
		if err != nil {
			want = ""
		}
		if got := res.E164(); got != want {
			t.Errorf("%q: E164 %q, Normalize %q", number, got, want)
		}
	}
}

// A recorder counting risk counts each answered lookup of a number as a
// call ringing at its tenant, hit or miss, and nothing for what is no
// number.
func TestRecorderCountsRisk(t *testing.T) {
	store, err := risk.NewMemory(risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	rec := lookup.NewRecorder(lookup.New(index.NewMemory()), metrics.New(), nil, events.Topology{}, quiet).CountRisk(store)
	for _, number := range []string{"0791110000", "+41 79 111 00 00", "call me"} {
		if _, err := rec.Lookup(context.Background(), acme, "pbx", number, ""); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Stats(context.Background(), "+41791110000")
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != 2 || st.Tenants != 1 || st.Finished != 0 {
		t.Errorf("stats %+v, want 2 calls at 1 tenant", st)
	}
}

// Answers that carry a risk signal are counted by level: a premium-rate
// number (70) is high, a shared-cost one (30) a signal, a plain landline
// nothing.
func TestRecorderCountsRiskyAnswers(t *testing.T) {
	store, err := risk.NewMemory(risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	svc := lookup.New(index.NewMemory()).WithRisk(risk.NewCache(store, risk.CacheConfig{}, quiet))
	rec := lookup.NewRecorder(svc, m, nil, events.Topology{}, quiet)
	for _, number := range []string{"+41 900 123 456", "+41 840 123 456", "+41 21 552 20 00"} {
		if _, err := rec.Lookup(context.Background(), acme, "pbx", number, ""); err != nil {
			t.Fatal(err)
		}
	}
	for level, want := range map[string]float64{"high": 1, "signal": 1} {
		if got := testutil.ToFloat64(m.LookupRisk.WithLabelValues("pbx", level)); got != want {
			t.Errorf("%s answers: %v, want %v", level, got, want)
		}
	}
}
