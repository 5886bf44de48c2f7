package tenantstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
)

var lookupKey = []byte("test-lookup-key")

func newStore(t *testing.T) (*tenantstore.Store, *natstest.Env, func() *tenant.Registry) {
	t.Helper()
	env := natstest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := tenantstore.EnsureBucket(ctx, env.JS, env.Topology, 1)
	if err != nil {
		t.Fatal(err)
	}
	// replica starts a registry watching the bucket, as each Calldex
	// replica does.
	replica := func() *tenant.Registry {
		reg := tenant.NewKeyedRegistry(lookupKey, nil)
		w := tenantstore.NewWatcher(kv, reg, tenantstore.WatchConfig{Log: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case <-w.Synced():
		case <-time.After(10 * time.Second):
			t.Fatal("watcher not synced")
		}
		return reg
	}
	getenv := func(k string) (string, bool) { return "from-env-" + k, k == "ACME_TOKEN" }
	return tenantstore.New(kv, tenantstore.Config{LookupKey: lookupKey, Getenv: getenv}), env, replica
}

func sample(id, token string) tenant.Tenant {
	return tenant.Tenant{
		ID:          id,
		Region:      "CH",
		Credentials: []tenant.Credential{{Header: "X-Api-Key", Value: token}},
		Workflows:   map[string]tenant.Workflow{"CallFlow": {Action: "logCall", Connector: "crm"}},
		Connectors: map[string]tenant.Connector{"crm": {Type: "hubspot", Options: map[string]any{
			"token": "${HUBSPOT_TOKEN}", "portalId": 42,
		}}},
	}
}

func TestPutGetListDelete(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, sample("acme", "${ACME_TOKEN}")); err != nil {
		t.Fatal(err)
	}
	e, err := s.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if v := e.Tenant.Credentials[0].Value; !tenant.IsHashed(v) {
		t.Fatalf("credential stored as %q, want a hash", v)
	}
	if got := e.Tenant.Connectors["crm"].Options["token"]; got != "${HUBSPOT_TOKEN}" {
		t.Fatalf("secret reference stored as %v", got)
	}
	reg := tenant.NewKeyedRegistry(lookupKey, []*tenant.Tenant{&e.Tenant})
	if _, ok := reg.ByCredentialValue("from-env-ACME_TOKEN"); !ok {
		t.Fatal("the resolved credential does not match its stored hash")
	}
	if _, err := s.Put(ctx, sample("globex", "globex-token-1")); err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 2 || all[0].Tenant.ID != "acme" || all[1].Tenant.ID != "globex" {
		t.Fatalf("list = %v, %v", all, err)
	}
	if err := s.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme"); !errors.Is(err, tenantstore.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := s.Delete(ctx, "acme"); !errors.Is(err, tenantstore.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestPutReportsEveryProblem(t *testing.T) {
	s, _, _ := newStore(t)
	bad := sample("acme", "short")
	bad.Region = "XX"
	bad.Workflows["Other"] = tenant.Workflow{Action: "logCall", Connector: "missing"}
	bad.Connectors["crm"].Options["token"] = "literal-secret"
	_, err := s.Put(context.Background(), bad)
	var inv *tenantstore.InvalidError
	if !errors.As(err, &inv) || !errors.Is(err, tenantstore.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	paths := map[string]bool{}
	for _, p := range inv.Problems {
		paths[p.Path] = true
	}
	for _, want := range []string{"region", "credentials[0].value", "workflows.Other.connector", "connectors.crm.token"} {
		if !paths[want] {
			t.Errorf("no problem at %s in %v", want, inv.Problems)
		}
	}
}

func TestImportKeepsStoredTenants(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, sample("acme", "acme-token-new")); err != nil {
		t.Fatal(err)
	}
	n, err := s.Import(ctx, []tenant.Tenant{sample("acme", "acme-token-old"), sample("globex", "globex-token-1")})
	if err != nil || n != 1 {
		t.Fatalf("import = %d, %v", n, err)
	}
	e, _ := s.Get(ctx, "acme")
	if !tenant.SameCredential(lookupKey, e.Tenant.Credentials[0], tenant.Credential{Header: "X-Api-Key", Value: "acme-token-new"}) {
		t.Fatal("import overwrote a stored tenant")
	}
}

// TestChangesReachTwoReplicas adds a tenant, rotates its token and removes
// it through the store while two replicas serve lookups of other tenants:
// each change is visible on both, the old token stops, and no lookup of
// another tenant fails. The time each change took to reach both replicas
// is logged (go test -v -run TwoReplicas ./shared/tenantstore/).
func TestChangesReachTwoReplicas(t *testing.T) {
	s, _, replica := newStore(t)
	ctx := context.Background()
	const others = 200
	seed := make([]tenant.Tenant, others)
	for i := range seed {
		seed[i] = sample(fmt.Sprintf("t%03d", i), fmt.Sprintf("token-%03d-secret", i))
	}
	if _, err := s.Import(ctx, seed); err != nil {
		t.Fatal(err)
	}
	replicas := []*tenant.Registry{replica(), replica()}
	for _, reg := range replicas { // first checks of hashed tokens run argon2
		for i := range others {
			if _, err := reg.Authenticate(req(fmt.Sprintf("token-%03d-secret", i))); err != nil {
				t.Fatalf("tenant %d: %v", i, err)
			}
		}
	}

	var lookups, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, reg := range replicas {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				lookups.Add(1)
				if _, err := reg.Authenticate(req(fmt.Sprintf("token-%03d-secret", i%others))); err != nil {
					failures.Add(1)
				}
			}
		})
	}

	works := func(reg *tenant.Registry, tok string) bool {
		_, err := reg.Authenticate(req(tok))
		return err == nil
	}
	// reachBoth waits until cond holds on both replicas and returns how
	// long it took after the write.
	reachBoth := func(what string, cond func(*tenant.Registry) bool) {
		t.Helper()
		start := time.Now()
		deadline := start.Add(10 * time.Second)
		for _, reg := range replicas {
			for !cond(reg) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: not on both replicas after 10s", what)
				}
				time.Sleep(time.Millisecond)
			}
		}
		t.Logf("%s: on both replicas after %s", what, time.Since(start).Round(100*time.Microsecond))
	}

	if _, err := s.Put(ctx, sample("newco", "newco-token-1")); err != nil {
		t.Fatal(err)
	}
	reachBoth("add", func(r *tenant.Registry) bool { return works(r, "newco-token-1") })

	if _, err := s.Put(ctx, sample("newco", "newco-token-2")); err != nil {
		t.Fatal(err)
	}
	reachBoth("rotate", func(r *tenant.Registry) bool { return works(r, "newco-token-2") && !works(r, "newco-token-1") })

	if err := s.Delete(ctx, "newco"); err != nil {
		t.Fatal(err)
	}
	reachBoth("remove", func(r *tenant.Registry) bool { _, ok := r.Tenant("newco"); return !ok && !works(r, "newco-token-2") })

	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d lookups of other tenants failed", failures.Load(), lookups.Load())
	}
	t.Logf("%d lookups of other tenants meanwhile, none failed", lookups.Load())
}

func req(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/lookup", nil)
	r.Header.Set("X-Api-Key", tok)
	return r
}
