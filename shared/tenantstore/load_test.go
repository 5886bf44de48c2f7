package tenantstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
)

// TestWatcherLoadsTenThousandTenants measures a replica's start with
// 10,000 tenants in the bucket: the time until its registry holds them
// all, and the memory each costs (go test -v -run TenThousand
// ./shared/tenantstore/). The tokens are stored plain, written straight
// to the bucket: hashing 20,000 tokens is Import's cost, once, not a
// start's.
func TestWatcherLoadsTenThousandTenants(t *testing.T) {
	const n = 10_000
	env := natstest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kv, err := tenantstore.EnsureBucket(ctx, env.JS, env.Topology)
	if err != nil {
		t.Fatal(err)
	}
	subject := "$KV." + env.Topology.Stream(events.BucketTenants) + "."
	for i := range n {
		tn := sample(fmt.Sprintf("t%05d", i), fmt.Sprintf("token-%05d-secret", i))
		tn.Credentials = append(tn.Credentials, tenant.Credential{Query: "token", Value: fmt.Sprintf("query-%05d-secret", i)})
		data, err := yaml.Marshal(&tn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.JS.PublishAsync(subject+tn.ID, data); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-env.JS.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("tenants not written")
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	reg := tenant.NewKeyedRegistry(lookupKey, nil)
	w := tenantstore.NewWatcher(kv, reg, tenantstore.WatchConfig{Log: slog.New(slog.DiscardHandler),
		Getenv: func(string) (string, bool) { return "secret", true }})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { stop(); <-done })
	select {
	case <-w.Synced():
	case <-ctx.Done():
		t.Fatal("watcher not synced")
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(reg.Tenants()); got != n {
		t.Fatalf("%d tenants loaded, want %d", got, n)
	}
	for _, i := range []int{0, n - 1} {
		r := httptest.NewRequest("GET", "/lookup", nil)
		r.Header.Set("X-Api-Key", fmt.Sprintf("token-%05d-secret", i))
		if got, err := reg.Authenticate(r); err != nil || got.ID != fmt.Sprintf("t%05d", i) {
			t.Fatalf("tenant %d: %v, %v", i, got, err)
		}
	}
	t.Logf("%d tenants loaded from the bucket in %s; %d bytes of heap per tenant (definition, resolved secrets, index, watcher)",
		n, took.Round(time.Millisecond), (after.HeapAlloc-before.HeapAlloc)/n)
}
