package tenantstore_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
)

var lookupKey = []byte("test-lookup-key")

func newStore(t *testing.T) *tenantstore.Store {
	t.Helper()
	env := natstest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := tenantstore.EnsureBucket(ctx, env.JS, env.Topology)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) (string, bool) { return "from-env-" + k, k == "ACME_TOKEN" }
	return tenantstore.New(kv, tenantstore.Config{LookupKey: lookupKey, Getenv: getenv})
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
	s := newStore(t)
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
	s := newStore(t)
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
	s := newStore(t)
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

func TestWatcherReportsChanges(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, sample("acme", "acme-token-1")); err != nil {
		t.Fatal(err)
	}
	changes := make(chan []string, 10)
	reg := tenant.NewKeyedRegistry(lookupKey, nil)
	w := tenantstore.NewWatcher(s.KV(), reg, tenantstore.WatchConfig{
		Log:      slog.New(slog.DiscardHandler),
		Getenv:   func(k string) (string, bool) { return "resolved-" + k, true },
		OnChange: func(ids []string) { changes <- ids },
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })

	next := func() []string {
		t.Helper()
		select {
		case ids := <-changes:
			return ids
		case <-time.After(10 * time.Second):
			t.Fatal("no change reported")
			return nil
		}
	}
	if ids := next(); !slices.Equal(ids, []string{"acme"}) {
		t.Fatalf("first load reported %v", ids)
	}
	acme, _ := reg.Tenant("acme")
	if got := acme.Connectors["crm"].Options["token"]; got != "resolved-HUBSPOT_TOKEN" {
		t.Fatalf("connector secret applied as %v", got)
	}
	if _, err := s.Put(ctx, sample("globex", "globex-token-1")); err != nil {
		t.Fatal(err)
	}
	if ids := next(); !slices.Equal(ids, []string{"globex"}) {
		t.Fatalf("put reported %v", ids)
	}
	if err := s.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if ids := next(); !slices.Equal(ids, []string{"acme"}) {
		t.Fatalf("delete reported %v", ids)
	}
	if _, ok := reg.Tenant("acme"); ok {
		t.Fatal("deleted tenant still in the registry")
	}
}
