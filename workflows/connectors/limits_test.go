package connectors_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crm"
)

// hubspotSearches is a HubSpot fake answering the documented search and
// archived-contacts payloads (../hubspot/testdata/README.md names the doc
// pages), counting the search requests of each token.
type hubspotSearches struct {
	mu       sync.Mutex
	searches map[string]int
}

func (h *hubspotSearches) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fixture := "contacts_archived_page2.json"
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/search") {
		h.mu.Lock()
		h.searches[r.Header.Get("Authorization")]++
		h.mu.Unlock()
		fixture = "search_empty.json"
	}
	b, err := os.ReadFile("../hubspot/testdata/" + fixture)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_, _ = w.Write(b)
}

func (h *hubspotSearches) count(token string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.searches["Bearer "+token]
}

// TestHubSpotSearchLimitIsSharedPerPortal: the live lookup's instance and
// the sync's own instance of one portal take turns under one search limit;
// another portal has its own. A call the limit holds back never reaches
// HubSpot and does not open the breaker.
func TestHubSpotSearchLimitIsSharedPerPortal(t *testing.T) {
	fake := &hubspotSearches{searches: map[string]int{}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	f, err := connectors.New(connectors.Config{Breaker: breaker.Config{Failures: 2, CoolDown: time.Minute}}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	portal := func(id int, token string) tenant.Connector {
		// One search an hour: the second search of a portal cannot go
		// within any test's deadline.
		return tenant.Connector{Type: "hubspot", Options: map[string]any{
			"token": token, "portalId": id, "baseURL": srv.URL, "searchInterval": "1h"}}
	}
	ctx := context.Background()
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		t.Cleanup(cancel)
		return c
	}

	live, err := f.Connector(ctx, "acme", "hubspot", portal(1, "token-acme"))
	if err != nil {
		t.Fatal(err)
	}
	phones, _ := live.PhoneSearcher()
	if _, err := phones.SearchPhone(short(), []string{"+41215522000"}); err != nil {
		t.Fatalf("first search: %v", err)
	}

	// The sync builds an instance of its own; its first page is the
	// archived sweep (no search), its second a search: held back.
	inst, err := f.Build(ctx, "hubspot", portal(1, "token-acme"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	lister, ok := inst.(*connectors.Connector).ChangeLister()
	if !ok {
		t.Fatal("hubspot lists no changes")
	}
	page, err := lister.ListChanges(short(), "")
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	_, err = lister.ListChanges(short(), page.Next)
	var ra *crm.RetryAfterError
	if !errors.Is(err, crm.ErrNotSent) || crm.IsPermanent(err) || !errors.As(err, &ra) || ra.After < 59*time.Minute {
		t.Fatalf("sync search while the live one holds the turn: %v", err)
	}
	// And the live instance waits for its turn too, without the breaker
	// counting it.
	for range 3 {
		if _, err := phones.SearchPhone(short(), []string{"+41215522000"}); !errors.Is(err, crm.ErrNotSent) {
			t.Fatalf("second live search: %v", err)
		}
	}
	if st := live.Breaker().State(); st != breaker.Closed {
		t.Fatalf("breaker %v after searches held back by the limit", st)
	}
	if n := fake.count("token-acme"); n != 1 {
		t.Fatalf("%d searches reached HubSpot, want 1", n)
	}

	// Another portal searches on its own budget.
	other, err := f.Connector(ctx, "globex", "hubspot", portal(2, "token-globex"))
	if err != nil {
		t.Fatal(err)
	}
	names, _ := other.NameSearcher()
	if _, err := names.SearchName(short(), "muller", 5); err != nil || fake.count("token-globex") != 1 {
		t.Fatalf("other portal: %v, %d searches", err, fake.count("token-globex"))
	}
}

// TestPipedriveDailyBudgetIsSharedPerCompany: the live lookup's instance
// and the sync's own instance of one company spend one daily token
// budget; another company has its own.
func TestPipedriveDailyBudgetIsSharedPerCompany(t *testing.T) {
	answer, err := os.ReadFile("../pipedrive/testdata/persons_search_empty.json")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	f, err := connectors.New(connectors.Config{Breaker: breaker.Config{Failures: 2, CoolDown: time.Minute}}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	company := func(domain string) tenant.Connector {
		// A budget of one search (20 tokens).
		return tenant.Connector{Type: "pipedrive", Options: map[string]any{
			"companyDomain": domain, "token": "t-" + domain, "baseURL": srv.URL, "dailyBudget": 20}}
	}
	ctx := context.Background()
	live, err := f.Connector(ctx, "acme", "pipedrive", company("acme"))
	if err != nil {
		t.Fatal(err)
	}
	names, _ := live.NameSearcher()
	if _, err := names.SearchName(ctx, "Jane", 5); err != nil {
		t.Fatalf("first search: %v", err)
	}
	inst, err := f.Build(ctx, "pipedrive", company("acme"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Close() })
	own, _ := inst.(*connectors.Connector).NameSearcher()
	_, err = own.SearchName(ctx, "Jane", 5)
	var ra *crm.RetryAfterError
	if !errors.Is(err, crm.ErrNotSent) || !errors.As(err, &ra) || ra.After <= 0 {
		t.Fatalf("second instance past the company's budget: %v", err)
	}
	other, err := f.Connector(ctx, "globex", "pipedrive", company("globex"))
	if err != nil {
		t.Fatal(err)
	}
	names, _ = other.NameSearcher()
	if _, err := names.SearchName(ctx, "Jane", 5); err != nil {
		t.Fatalf("other company: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 2 {
		t.Fatalf("%d requests reached Pipedrive, want 2", requests)
	}
}
