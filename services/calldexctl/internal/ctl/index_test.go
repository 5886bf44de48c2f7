package ctl

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

const tenantsYAML = `
admin: {token: admin-secret-token}
tenants:
  - id: acme
    region: CH
    maxResults: 3
    credentials: [{header: X-Execution-Token, value: acme-token-123}]
  - id: beta
    region: US
    credentials: [{header: X-Api-Key, value: beta-token-456}]
`

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// served is a running calldex's side of a Redis index: the index following
// generation switches and the projector writing it.
type served struct {
	ix   *index.Redis
	proj *projector.Projector
}

func serve(t *testing.T, env *natstest.Env, prefix string) served {
	t.Helper()
	rdb, _ := redistest.Client(t)
	cfg, err := tenant.Parse([]byte(tenantsYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ix := index.NewRedis(rdb, prefix)
	cp := projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts))
	p, err := projector.New(projector.Config{Topology: env.Topology, CheckpointEvery: 10 * time.Millisecond}, env.JS, ix, regOptions{tenant.NewRegistry(cfg)}, cp, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { ix.Follow(ctx, 100*time.Millisecond, quiet); done <- struct{}{} }()
	go func() { _ = p.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return served{ix: ix, proj: p}
}

type regOptions struct{ reg *tenant.Registry }

func (r regOptions) PhoneOptions(id string) (phone.Options, bool) {
	t, ok := r.reg.Tenant(id)
	if !ok {
		return phone.Options{}, false
	}
	return t.PhoneOptions(), true
}

func (s served) lookup(t *testing.T, number string) []string {
	t.Helper()
	keys, err := phone.Candidates(number, phone.Options{Region: "CH"})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := s.ix.Lookup(context.Background(), "acme", keys, 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.Contact.ID)
	}
	return ids
}

func (s served) waitApplied(t *testing.T, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.proj.WaitApplied(ctx, seq); err != nil {
		t.Fatal(err)
	}
}

// writeContacts writes an NDJSON file of n contacts with one number each.
func writeContacts(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"id":"c-%d","name":"Contact %d","company":"Co %d","phones":[{"raw":"021 552 %02d %02d"}]}`+"\n", i, i, i%7, i/100, i%100)
	}
	path := filepath.Join(t.TempDir(), "contacts.ndjson")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func number(i int) string { return fmt.Sprintf("+4121552%02d%02d", i/100, i%100) }

// TestIndexRebuild: import contacts, let the projector index them, then
// rebuild while lookups run: every lookup during and after the rebuild
// answers as before, and the projector keeps writing the new generation.
func TestIndexRebuild(t *testing.T) {
	env := natstest.Connect(t)
	_, prefix := redistest.Client(t)
	s := serve(t, env, prefix)
	c := newCLI(t, env).withRedis(prefix).withConfig(tenantsYAML)

	const n = 400
	var imp importReport
	c.json(&imp, "import", writeContacts(t, n), "--tenant", "acme")
	if imp.Accepted != n || imp.Rejected != 0 {
		t.Fatalf("import: %+v", imp)
	}
	s.waitApplied(t, imp.Seq)
	want := make([][]string, n)
	for i := range n {
		if want[i] = s.lookup(t, number(i)); len(want[i]) != 1 {
			t.Fatalf("lookup %d before: %v", i, want[i])
		}
	}

	// A bug mis-projects: the phone keys of a contact are lost.
	rdb, _ := redistest.Client(t)
	lost := []phone.Key{phone.Key("e:" + number(5)), phone.Key("t:" + number(5)[3:])}
	_, reports, err := index.NewRedis(rdb, prefix).Explain(context.Background(), "acme", lost)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reports {
		if err := rdb.HDel(context.Background(), r.RedisKey, string(r.Key)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.lookup(t, number(5)); len(got) != 0 {
		t.Fatalf("sabotage failed: %v", got)
	}
	want[5] = nil

	stop := make(chan struct{})
	var checked, wrong atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i = (i + 1) % n {
			select {
			case <-stop:
				return
			default:
			}
			if got := s.lookup(t, number(i)); !slices.Equal(got, want[i]) && !(i == 5 && len(got) == 1) {
				wrong.Add(1)
			}
			checked.Add(1)
		}
	}()
	var rep rebuildReport
	c.json(&rep, "index", "rebuild", "--tenant", "acme", "--bulk", "10")
	testwait.Until(t, 10*time.Second, "the served index follows", func() bool { return s.ix.Served("acme") == "g1" })
	close(stop)
	<-done
	if wrong.Load() != 0 || checked.Load() == 0 {
		t.Fatalf("%d of %d lookups during the rebuild answered wrong", wrong.Load(), checked.Load())
	}
	if len(rep.Tenants) != 1 || rep.Stopped != nil {
		t.Fatalf("report %+v", rep)
	}
	r := rep.Tenants[0]
	if r.Tenant != "acme" || r.Generation != "g1" || r.Previous != "" || r.Events != n || r.Seq < imp.Seq ||
		r.Stats.Contacts != n || r.Before.Contacts != n || r.Stats.Keys != 2*n {
		t.Fatalf("rebuilt %+v", r)
	}
	// Same answers, and the lost key is back.
	for i := range n {
		if got := s.lookup(t, number(i)); len(got) != 1 || got[0] != fmt.Sprintf("c-%d", i) {
			t.Fatalf("lookup %d after: %v", i, got)
		}
	}
	// The projector writes into the new generation.
	var more importReport
	c.json(&more, "import", writeContacts(t, n+1), "--tenant", "acme")
	s.waitApplied(t, more.Seq)
	testwait.Until(t, 10*time.Second, "the new contact", func() bool { return len(s.lookup(t, number(n))) == 1 })

	var stats indexStats
	c.json(&stats, "index", "stats")
	if len(stats.Tenants) != 2 || stats.Tenants[0].Tenant != "acme" || stats.Tenants[0].Served != "g1" ||
		stats.Tenants[0].Stats.Contacts != n+1 || len(stats.Tenants[0].Generations) != 2 || stats.StreamLastSeq == 0 {
		t.Fatalf("stats %+v", stats)
	}
	if out := c.ok("index", "stats", "--tenant", "acme"); !strings.Contains(out, "g1 active") || !strings.Contains(out, "original retired") {
		t.Fatalf("human stats:\n%s", out)
	}

	// gc drops the original keys once the grace period is over.
	var gc struct{ Dropped []index.Dropped }
	c.json(&gc, "index", "gc", "--grace", "1h")
	if len(gc.Dropped) != 0 {
		t.Fatalf("gc within grace: %+v", gc)
	}
	c.json(&gc, "index", "gc", "--grace", "1ns")
	if len(gc.Dropped) != 1 || gc.Dropped[0].ID != "" || gc.Dropped[0].Keys == 0 {
		t.Fatalf("gc: %+v", gc)
	}
	if keys, _ := rdb.Keys(context.Background(), prefix+":{acme}:*").Result(); len(keys) != 0 {
		t.Fatalf("keys of the original generation left: %d", len(keys))
	}
	if got := s.lookup(t, number(7)); len(got) != 1 {
		t.Fatalf("lookup after gc: %v", got)
	}
}

// TestIndexRebuildLeftoverCollected: a rebuild that died (no heartbeat) is
// dropped by gc, and the next rebuild collects one by itself.
func TestIndexRebuildLeftoverCollected(t *testing.T) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	c := newCLI(t, env).withRedis(prefix).withConfig(tenantsYAML)
	dead, err := ix.BeginGeneration(context.Background(), "beta", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Index().Upsert(context.Background(), "beta", index.Entry{Contact: events.Contact{ID: "x", Source: "crm", Name: "Half"}, Keys: []phone.Key{"e:+12125550100"}}); err != nil {
		t.Fatal(err)
	}
	var gc struct {
		Dropped []index.Dropped
		DryRun  bool
	}
	c.json(&gc, "index", "gc", "--stale", "1ns", "--dry-run")
	if len(gc.Dropped) != 1 || !gc.DryRun || gc.Dropped[0].State != index.GenerationBuilding {
		t.Fatalf("gc --dry-run: %+v", gc)
	}
	// The next rebuild of beta (with a short --stale) collects it first.
	var rep rebuildReport
	c.json(&rep, "index", "rebuild", "--tenant", "beta", "--stale", "1ns")
	if len(rep.Tenants) != 1 || len(rep.Tenants[0].Collected) != 1 || rep.Tenants[0].Generation != "g2" {
		t.Fatalf("rebuild: %+v", rep)
	}
	if keys, _ := rdb.Keys(context.Background(), prefix+":g1:*").Result(); len(keys) != 0 {
		t.Fatalf("leftover keys: %v", keys)
	}
	if r := c.run("index", "rebuild", "--tenant", "nobody"); r.code != exitUsage {
		t.Fatalf("unknown tenant: exit %d", r.code)
	}
}
