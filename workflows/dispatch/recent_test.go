package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/workflows/dispatch"
)

func TestRecentNewestRecordPerKey(t *testing.T) {
	env := natstest.Connect(t)
	ctx := context.Background()
	kv := env.Buckets.WorkflowResults
	d := dispatch.New(env.JS, kv, env.Topology)
	t.Cleanup(func() { _ = d.Close() })
	put := func(key, tenant, status string) {
		t.Helper()
		b, _ := json.Marshal(events.WorkflowResult{Key: key, Tenant: tenant, Workflow: "CallFlow", Status: status, UpdatedAt: time.Now()})
		if _, err := kv.Put(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		put(fmt.Sprintf("k%d", i), "acme", events.StatusRunning)
	}
	put("b0", "beta", events.StatusFailed)
	put("k1", "acme", events.StatusDone)
	if err := kv.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}

	got, err := d.Recent(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range got {
		keys = append(keys, r.Key+"="+r.Status)
	}
	// Newest first, one record per key, a deleted key not at all.
	if want := "[k1=done k3=running k0=running]"; fmt.Sprint(keys) != want {
		t.Fatalf("recent acme = %v, want %s", keys, want)
	}
	all, err := d.Recent(ctx, "", 2)
	if err != nil || len(all) != 2 || all[0].Key != "k1" || all[1].Key != "b0" {
		t.Fatalf("recent of every tenant, limit 2 = %+v, %v", all, err)
	}
}
