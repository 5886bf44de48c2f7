package tenant_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/tenant"
)

const manyTenants = 10_000

// generated returns n validated tenants t00000…, each with a header token
// and a query token; tokens are plain or hashed under key.
func generated(tb testing.TB, n int, key []byte, hashed bool) []*tenant.Tenant {
	tb.Helper()
	out := make([]*tenant.Tenant, n)
	for i := range out {
		t := &tenant.Tenant{
			ID:     fmt.Sprintf("t%05d", i),
			Region: "CH",
			Credentials: []tenant.Credential{
				{Header: "X-Api-Key", Value: token(i)},
				{Query: "token", Value: "q-" + token(i)},
			},
			Workflows:  map[string]tenant.Workflow{"CallFlow": {Action: "logCall", Connector: "crm"}},
			Connectors: map[string]tenant.Connector{"crm": {Type: "webhook", Options: map[string]any{"url": "http://crm.example/" + token(i)}}},
		}
		if hashed {
			t.Credentials[0] = tenant.HashCredential(key, t.Credentials[0])
		}
		if ps := tenant.ValidateTenant(t); len(ps) > 0 {
			tb.Fatalf("tenant %d: %v", i, ps)
		}
		out[i] = t
	}
	return out
}

func token(i int) string { return fmt.Sprintf("token-%05d-secret", i) }

func request(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/lookup?number=1", nil)
	r.Header.Set("X-Api-Key", tok)
	return r
}

// TestTenThousandTenants loads 10,000 tenants and reports the time to
// index them and the memory each costs (go test -v -run TenThousand).
func TestTenThousandTenants(t *testing.T) {
	key := []byte("lookup-key")
	ts := generated(t, manyTenants, key, false)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	reg := tenant.NewKeyedRegistry(key, ts)
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("indexed %d tenants in %s; registry index %d bytes per tenant (tenant structs themselves excluded)",
		manyTenants, took, (after.HeapAlloc-before.HeapAlloc)/manyTenants)

	for _, i := range []int{0, manyTenants / 2, manyTenants - 1} {
		got, err := reg.Authenticate(request(token(i)))
		if err != nil || got.ID != fmt.Sprintf("t%05d", i) {
			t.Fatalf("tenant %d: got %v, %v", i, got, err)
		}
		if got, ok := reg.ByCredentialValue("q-" + token(i)); !ok || got.ID != fmt.Sprintf("t%05d", i) {
			t.Fatalf("tenant %d by query value: %v", i, got)
		}
	}
	if _, err := reg.Authenticate(request("token-99999-secret")); err == nil {
		t.Fatal("unknown token accepted")
	}

	rotated := *ts[0]
	rotated.Credentials = []tenant.Credential{{Header: "X-Api-Key", Value: "rotated-token-secret"}}
	start = time.Now()
	reg.Apply([]*tenant.Tenant{&rotated}, nil)
	t.Logf("one tenant changed among %d in %s", manyTenants, time.Since(start))
	if _, err := reg.Authenticate(request(token(0))); err == nil {
		t.Fatal("rotated token still accepted")
	}
	for _, tok := range []string{"rotated-token-secret", token(manyTenants - 1)} {
		if _, err := reg.Authenticate(request(tok)); err != nil {
			t.Fatalf("%s after the change: %v", tok, err)
		}
	}
}

// TestTenantMemory measures a whole tenant (definition and index).
func TestTenantMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	reg := tenant.NewKeyedRegistry(nil, generated(t, manyTenants, nil, false))
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%d bytes per tenant (definition with 2 credentials, 1 workflow, 1 connector, and its index)",
		(after.HeapAlloc-before.HeapAlloc)/manyTenants)
	runtime.KeepAlive(reg)
}

func TestHashedCredentials(t *testing.T) {
	key := []byte("lookup-key")
	ts := generated(t, 3, key, true)
	reg := tenant.NewKeyedRegistry(key, ts)
	for i := range 3 {
		for range 2 { // second time from the verified cache
			got, err := reg.Authenticate(request(token(i)))
			if err != nil || got.ID != ts[i].ID {
				t.Fatalf("tenant %d: %v, %v", i, got, err)
			}
		}
	}
	if _, err := reg.Authenticate(request(token(1) + "x")); err == nil {
		t.Fatal("wrong token accepted")
	}
	if owner, ok := reg.CredentialOwner(tenant.Credential{Header: "x-api-key", Value: token(2)}); !ok || owner != ts[2].ID {
		t.Fatalf("owner of a plain token against its hash = %q, %v", owner, ok)
	}
	// Another lookup key: the hashes are not found.
	other := tenant.NewKeyedRegistry([]byte("other"), generated(t, 1, key, true))
	if _, err := other.Authenticate(request(token(0))); err == nil {
		t.Fatal("hash found under another lookup key")
	}
}

func TestAdminTokenHashed(t *testing.T) {
	var cfg tenant.Config
	cfg.Admin.Token = tenant.HashToken(nil, "admin-secret-1")
	for range 2 { // the second time from the verified cache
		if !cfg.CheckAdmin("admin-secret-1") {
			t.Fatal("hashed admin token refused")
		}
	}
	if cfg.CheckAdmin("admin-secret-2") || cfg.CheckAdmin("") {
		t.Fatal("wrong admin token accepted")
	}
}

// TestApplyWhileReading rotates one tenant's token while others are read
// concurrently: readers never miss an unchanged tenant (go test -race).
func TestApplyWhileReading(t *testing.T) {
	ts := generated(t, 100, nil, false)
	reg := tenant.NewKeyedRegistry(nil, ts)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures sync.Map
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := 1 + (i+w)%99 // never tenant 0, which rotates
				if _, err := reg.Authenticate(request(token(n))); err != nil {
					failures.Store(n, err)
				}
			}
		})
	}
	for round := range 200 {
		rotated := *ts[0]
		rotated.Credentials = []tenant.Credential{{Header: "X-Api-Key", Value: fmt.Sprintf("rotated-%d-secret", round)}}
		reg.Apply([]*tenant.Tenant{&rotated}, nil)
		if got, err := reg.Authenticate(request(fmt.Sprintf("rotated-%d-secret", round))); err != nil || got.ID != ts[0].ID {
			t.Fatalf("round %d: new token: %v, %v", round, got, err)
		}
		if round > 0 {
			if _, err := reg.Authenticate(request(fmt.Sprintf("rotated-%d-secret", round-1))); err == nil {
				t.Fatalf("round %d: old token still accepted", round)
			}
		}
	}
	reg.Apply(nil, []string{ts[1].ID})
	close(stop)
	wg.Wait()
	failures.Range(func(k, v any) bool {
		if k.(int) != 1 { // removed at the end
			t.Errorf("tenant %d failed during rotation: %v", k, v)
		}
		return true
	})
	if _, ok := reg.Tenant(ts[1].ID); ok {
		t.Fatal("removed tenant still there")
	}
}

// BenchmarkAuthenticate compares the first and the last of 10,000 tenants:
// the credential check is one HMAC and one map access (go test -bench
// Authenticate ./shared/tenant/).
func BenchmarkAuthenticate(b *testing.B) {
	key := []byte("lookup-key")
	for _, hashed := range []bool{false, true} {
		ts := generated(b, manyTenants, key, false)
		if hashed {
			for _, i := range []int{0, manyTenants - 1} {
				ts[i].Credentials[0] = tenant.HashCredential(key, ts[i].Credentials[0])
			}
		}
		reg := tenant.NewKeyedRegistry(key, ts)
		for _, i := range []int{0, manyTenants - 1} {
			b.Run(fmt.Sprintf("hashed=%v/tenant=%d", hashed, i), func(b *testing.B) {
				r := request(token(i))
				for b.Loop() {
					if _, err := reg.Authenticate(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
