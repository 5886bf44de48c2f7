package tenantadmin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/services/internal/tenantadmin"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
	"github.com/nats-io/nats.go/jetstream"
)

var lookupKey = []byte("test-lookup-key")

const adminToken = "admin-token-1"

type env struct {
	srv   *httptest.Server
	store *tenantstore.Store
	kv    jetstream.KeyValue
}

func setup(t *testing.T) *env {
	t.Helper()
	ne := natstest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := tenantstore.EnsureBucket(ctx, ne.JS, ne.Topology)
	if err != nil {
		t.Fatal(err)
	}
	store := tenantstore.New(kv, tenantstore.Config{LookupKey: lookupKey})
	var cfg tenant.Config
	cfg.Admin.Token = tenant.HashToken(lookupKey, adminToken)
	mux := http.NewServeMux()
	h := tenantadmin.New(store, &cfg, slog.New(slog.DiscardHandler))
	for _, p := range tenantadmin.Patterns {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{srv: srv, store: store, kv: kv}
}

// replica starts a registry watching the bucket, as each Calldex replica
// does.
func (e *env) replica(t *testing.T) *tenant.Registry {
	t.Helper()
	reg := tenant.NewKeyedRegistry(lookupKey, nil)
	w := tenantstore.NewWatcher(e.kv, reg, tenantstore.WatchConfig{Log: slog.New(slog.DiscardHandler)})
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

func (e *env) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func tenantYAML(id, token string) string {
	return fmt.Sprintf(`
id: %s
region: CH
credentials: [{header: X-Api-Key, value: %s}]
workflows: {CallFlow: {action: logCall, connector: crm}}
connectors:
  crm: {type: hubspot, token: "${HUBSPOT_TOKEN}", portalId: 42}
`, id, token)
}

func TestAdminToken(t *testing.T) {
	e := setup(t)
	for _, auth := range []string{"", "Bearer wrong-token", adminToken} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/admin/v1/tenants", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("authorization %q: status %d", auth, res.StatusCode)
		}
	}
}

func TestPutGetDelete(t *testing.T) {
	e := setup(t)
	code, body := e.do(t, "PUT", "/admin/v1/tenants/acme", tenantYAML("acme", "acme-token-secret"))
	if code != http.StatusOK {
		t.Fatalf("put: %d %s", code, body)
	}
	code, body = e.do(t, "GET", "/admin/v1/tenants/acme", "")
	if code != http.StatusOK || strings.Contains(body, "acme-token-secret") || strings.Contains(body, "argon2id") {
		t.Fatalf("get: %d %s", code, body)
	}
	var got struct {
		Tenant map[string]any `json:"tenant"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	creds := got.Tenant["credentials"].([]any)
	if creds[0].(map[string]any)["value"] != "********" {
		t.Fatalf("credential not masked: %v", creds)
	}
	if tok := got.Tenant["connectors"].(map[string]any)["crm"].(map[string]any)["token"]; tok != "${HUBSPOT_TOKEN}" {
		t.Fatalf("secret reference shown as %v", tok)
	}
	if code, body = e.do(t, "GET", "/admin/v1/tenants", ""); code != 200 || !strings.Contains(body, `"id":"acme"`) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ = e.do(t, "DELETE", "/admin/v1/tenants/acme", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ = e.do(t, "GET", "/admin/v1/tenants/acme", ""); code != http.StatusNotFound {
		t.Fatalf("get deleted: %d", code)
	}
	if code, _ = e.do(t, "DELETE", "/admin/v1/tenants/acme", ""); code != http.StatusNotFound {
		t.Fatalf("delete twice: %d", code)
	}
}

func TestPutReportsEveryProblem(t *testing.T) {
	e := setup(t)
	bad := `
id: acme
region: XX
maxResults: many
credentials: [{header: X-Api-Key, value: short}]
workflows: {CallFlow: {action: logCall, connector: missing}}
connectors:
  crm: {type: hubspot, token: literal-secret}
`
	code, body := e.do(t, "PUT", "/admin/v1/tenants/acme", bad)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d: %s", code, body)
	}
	for _, want := range []string{`"line":4,"kind":"field"`, "region", "connectors.crm.token", "credentials[0].value", "connector \\\"missing\\\""} {
		if !strings.Contains(body, want) {
			t.Errorf("no problem about %s in %s", want, body)
		}
	}
	code, body = e.do(t, "PUT", "/admin/v1/tenants/acme", strings.Replace(tenantYAML("acme", "acme-token-secret"), "${HUBSPOT_TOKEN}", "literal-secret", 1))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "connectors.crm.token") {
		t.Fatalf("literal secret: %d %s", code, body)
	}
	if code, _ = e.do(t, "PUT", "/admin/v1/tenants/other", tenantYAML("acme", "acme-token-secret")); code != http.StatusUnprocessableEntity {
		t.Fatalf("id mismatch: %d", code)
	}
}

// TestChangesReachTwoReplicas adds a tenant, rotates its token and removes
// it through the API while two replicas serve lookups of other tenants:
// each change is visible on both, the old token stops, and no lookup of
// another tenant fails. The time each change took to reach both replicas
// is logged (go test -v -run TwoReplicas ./services/internal/tenantadmin/).
func TestChangesReachTwoReplicas(t *testing.T) {
	e := setup(t)
	const others = 200
	seed := make([]tenant.Tenant, others)
	for i := range seed {
		seed[i] = tenant.Tenant{ID: fmt.Sprintf("t%03d", i), Region: "CH",
			Credentials: []tenant.Credential{{Header: "X-Api-Key", Value: fmt.Sprintf("token-%03d-secret", i)}}}
	}
	if _, err := e.store.Import(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	replicas := []*tenant.Registry{e.replica(t), e.replica(t)}
	works := func(reg *tenant.Registry, tok string) bool {
		r := httptest.NewRequest("GET", "/lookup", nil)
		r.Header.Set("X-Api-Key", tok)
		_, err := reg.Authenticate(r)
		return err == nil
	}
	for _, reg := range replicas { // first checks of hashed tokens run argon2
		for i := range others {
			if !works(reg, fmt.Sprintf("token-%03d-secret", i)) {
				t.Fatalf("tenant %d refused", i)
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
				if !works(reg, fmt.Sprintf("token-%03d-secret", i%others)) {
					failures.Add(1)
				}
			}
		})
	}
	// reachBoth polls until cond holds on both replicas and logs how long
	// it took after the API answered.
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
		t.Logf("%s: on both replicas %s after the API answered", what, time.Since(start).Round(100*time.Microsecond))
	}

	if code, body := e.do(t, "PUT", "/admin/v1/tenants/newco", tenantYAML("newco", "newco-token-1")); code != 200 {
		t.Fatalf("add: %d %s", code, body)
	}
	reachBoth("add", func(r *tenant.Registry) bool { return works(r, "newco-token-1") })
	if code, body := e.do(t, "PUT", "/admin/v1/tenants/newco", tenantYAML("newco", "newco-token-2")); code != 200 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	reachBoth("rotate", func(r *tenant.Registry) bool { return works(r, "newco-token-2") && !works(r, "newco-token-1") })
	if code, _ := e.do(t, "DELETE", "/admin/v1/tenants/newco", ""); code != http.StatusNoContent {
		t.Fatalf("remove: %d", code)
	}
	reachBoth("remove", func(r *tenant.Registry) bool { _, ok := r.Tenant("newco"); return !ok && !works(r, "newco-token-2") })

	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d lookups of other tenants failed", failures.Load(), lookups.Load())
	}
	t.Logf("%d lookups of other tenants on two replicas meanwhile, none failed", lookups.Load())
}
