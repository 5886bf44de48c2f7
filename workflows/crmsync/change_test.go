package crmsync_test

import (
	"sync"
	"testing"

	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

// liveTenants is a tenant set that changes while the Syncer runs, as the
// registry does when the tenants bucket changes.
type liveTenants struct {
	mu sync.Mutex
	ts tenants
}

func (l *liveTenants) Tenants() []*tenant.Tenant {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*tenant.Tenant(nil), l.ts...)
}

func (l *liveTenants) Tenant(id string) (*tenant.Tenant, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ts.Tenant(id)
}

func (l *liveTenants) set(ts ...*tenant.Tenant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ts = ts
}

func TestSourcesFollowTenantChanges(t *testing.T) {
	h := newHarness(t, nil, nil)
	first := h.tenants[0]
	live := &liveTenants{ts: tenants{first}}
	h.crm.put("a")
	in := h.startWith(fastConfig(h, "r1"), live)
	h.waitSynced("a")

	// Another tenant with a source on the same fake CRM: it starts.
	other := &tenant.Tenant{ID: "globex", Connectors: map[string]tenant.Connector{
		srcName: {Type: "fake", Options: map[string]any{"syncInterval": "100ms"}},
	}}
	live.set(first, other)
	in.s.TenantsChanged([]string{"globex"})
	testwait.Until(t, wait, "the new tenant's source synced", func() bool { return in.pub.upsertCount("a") >= 2 })
	if got := in.s.Sources(); len(got) != 3 {
		t.Fatalf("sources %v", got)
	}

	// The first tenant removed: its source stops and its connector is
	// closed; the other goes on.
	live.set(other)
	in.s.TenantsChanged([]string{first.ID})
	_, made := in.b.built()
	testwait.Until(t, wait, "the removed source's connector closed", func() bool { return made[0].closed.Load() })
	if got := in.s.Sources(); len(got) != 1 || got[0] != "globex."+srcName {
		t.Fatalf("sources after removal %v", got)
	}
}
