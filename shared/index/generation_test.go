package index_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/index/indextest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/testwait"
)

// TestRedisInGeneration runs the conformance suite on tenants served from a
// rebuilt generation, whose keys carry the generation.
func TestRedisInGeneration(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Index {
		rdb, prefix := redistest.Client(t)
		for _, tn := range []string{"acme", "t1", "t2", "t3", "nobody"} {
			if err := rdb.HSet(t.Context(), prefix+":{.gen}:active", tn, "g9").Err(); err != nil {
				t.Fatal(err)
			}
		}
		ix := index.NewRedis(rdb, prefix)
		if err := ix.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		return ix
	})
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func contactEntry(id, name string, k phone.Key) index.Entry {
	return index.Entry{Contact: events.Contact{ID: id, Source: "crm", Name: name, UpdatedAt: time.UnixMilli(1_700_000_000_000)}, Keys: []phone.Key{k}}
}

func lookupIDs(t *testing.T, ix index.Index, tenant string, k phone.Key) []string {
	t.Helper()
	ms, err := ix.Lookup(t.Context(), tenant, []phone.Key{k}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.Contact.ID)
	}
	return ids
}

// TestRedisRebuildSwitch builds a generation beside the served one: lookups
// keep the old answers until the switch, a following index switches at
// once, and GC drops the old keys after the grace period.
func TestRedisRebuildSwitch(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	testRebuildSwitch(t, rdb, prefix)
}

// TestRedisClusterRebuildSwitch is TestRedisRebuildSwitch on a Redis
// Cluster: the switch script, its pub/sub message and GC keep to one slot
// each and reach every node.
func TestRedisClusterRebuildSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	rdb := redistest.StartCluster(t, 3, 0).Client(t)
	testRebuildSwitch(t, rdb, "cdxtest")
}

func testRebuildSwitch(t *testing.T, rdb redis.UniversalClient, prefix string) {
	ctx := t.Context()
	const k phone.Key = "e:+41215522000"
	serving := index.NewRedis(rdb, prefix)
	if err := serving.Upsert(ctx, "acme", contactEntry("old", "Old", k)); err != nil {
		t.Fatal(err)
	}
	if err := serving.Upsert(ctx, "beta", contactEntry("b", "Beta", k)); err != nil {
		t.Fatal(err)
	}
	follower := index.NewRedis(rdb, prefix)
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { follower.Follow(fctx, time.Hour, quiet); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	b, err := serving.BeginGeneration(ctx, "acme", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if b.Generation().ID != "g1" || b.Previous() != "" {
		t.Fatalf("build %+v, previous %q", b.Generation(), b.Previous())
	}
	if _, err := serving.BeginGeneration(ctx, "acme", time.Minute); !errors.Is(err, index.ErrRebuildRunning) {
		t.Fatalf("second build: %v, want ErrRebuildRunning", err)
	}
	// Loaded in bulk, as a rebuild does: on a Cluster, its pipelines keep
	// to the tenant's slot.
	l := b.Load()
	if err := l.Apply(ctx, []index.Change{index.Upserted(contactEntry("new", "New", k))}); err != nil {
		t.Fatal(err)
	}
	if err := l.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lookupIDs(t, follower, "acme", k); len(got) != 1 || got[0] != "old" {
		t.Fatalf("before the switch: %v, want the old generation", got)
	}
	if err := b.Activate(ctx, 42); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "follower switches", func() bool {
		got := lookupIDs(t, follower, "acme", k)
		return len(got) == 1 && got[0] == "new"
	})
	if got := lookupIDs(t, follower, "beta", k); len(got) != 1 || got[0] != "b" {
		t.Fatalf("other tenant after the switch: %v", got)
	}
	if got := lookupIDs(t, serving, "acme", k); len(got) != 1 || got[0] != "old" {
		t.Fatalf("an index that does not follow keeps its table: %v", got)
	}
	if err := serving.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lookupIDs(t, serving, "acme", k); len(got) != 1 || got[0] != "new" {
		t.Fatalf("after Refresh: %v", got)
	}
	gens, err := serving.Generations(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 2 || gens[0].ID != "" || gens[0].State != index.GenerationRetired ||
		gens[1].ID != "g1" || gens[1].State != index.GenerationActive || gens[1].Seq != 42 {
		t.Fatalf("generations = %+v", gens)
	}
	if _, err := serving.DropGeneration(ctx, "acme", "g1"); !errors.Is(err, index.ErrGenerationActive) {
		t.Fatalf("drop active: %v", err)
	}
	dropped, err := serving.GC(ctx, index.GCOptions{Grace: time.Hour})
	if err != nil || len(dropped) != 0 {
		t.Fatalf("gc within grace = %+v, %v", dropped, err)
	}
	dropped, err = serving.GC(ctx, index.GCOptions{Grace: time.Nanosecond})
	if err != nil || len(dropped) != 1 || dropped[0].ID != "" || dropped[0].Keys == 0 {
		t.Fatalf("gc after grace = %+v, %v", dropped, err)
	}
	for _, key := range scanKeys(t, rdb, prefix) {
		if strings.HasPrefix(key, prefix+":{acme}:") {
			t.Errorf("key %s of the retired generation left", key)
		}
	}
	if got := lookupIDs(t, serving, "acme", k); len(got) != 1 || got[0] != "new" {
		t.Fatalf("after gc: %v", got)
	}
	if got := lookupIDs(t, serving, "beta", k); len(got) != 1 {
		t.Fatalf("other tenant after gc: %v", got)
	}
}

// TestRedisDeadBuildIsGarbage: a build that stops without activating leaves
// the served generation alone, and GC drops it once its heartbeat is old.
func TestRedisDeadBuildIsGarbage(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := t.Context()
	const k phone.Key = "e:+41215522000"
	ix := index.NewRedis(rdb, prefix)
	if err := ix.Upsert(ctx, "acme", contactEntry("old", "Old", k)); err != nil {
		t.Fatal(err)
	}
	b, err := ix.BeginGeneration(ctx, "acme", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2", "3"} {
		if err := b.Index().Upsert(ctx, "acme", contactEntry(id, "Half", phone.Key("e:+4121552200"+id))); err != nil {
			t.Fatal(err)
		}
	}
	// The build dies here. A live one is not collected…
	if d, err := ix.GC(ctx, index.GCOptions{Stale: time.Hour}); err != nil || len(d) != 0 {
		t.Fatalf("gc of a live build = %+v, %v", d, err)
	}
	// …a dead one is: the buckets of its three phone keys, the name index
	// (directory and one page) and the tally
	// (rec is emptied contact by contact first).
	d, err := ix.GC(ctx, index.GCOptions{Stale: time.Nanosecond})
	if err != nil || len(d) != 1 || d[0].ID != b.Generation().ID || d[0].Keys != 6 {
		t.Fatalf("gc of a dead build = %+v, %v", d, err)
	}
	for _, key := range scanKeys(t, rdb, prefix) {
		if strings.Contains(key, b.Generation().ID+":") {
			t.Errorf("key %s of the dead build left", key)
		}
	}
	if got := lookupIDs(t, ix, "acme", k); len(got) != 1 || got[0] != "old" {
		t.Fatalf("served generation after gc: %v", got)
	}
	// The build, had it only been slow, finds out at its next heartbeat.
	if err := b.Heartbeat(ctx); !errors.Is(err, index.ErrGenerationConflict) {
		t.Fatalf("heartbeat after gc: %v", err)
	}
	if err := b.Activate(ctx, 1); !errors.Is(err, index.ErrGenerationConflict) {
		t.Fatalf("activate after gc: %v", err)
	}
	if err := b.Abort(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRedisConcurrentBuilds: the first build to activate wins; the other
// cannot switch over it and aborts without touching what serves.
func TestRedisConcurrentBuilds(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := t.Context()
	const k phone.Key = "e:+41215522000"
	ix := index.NewRedis(rdb, prefix)
	first, err := ix.BeginGeneration(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ix.BeginGeneration(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Index().Upsert(ctx, "acme", contactEntry("1", "First", k)); err != nil {
		t.Fatal(err)
	}
	if err := second.Index().Upsert(ctx, "acme", contactEntry("2", "Second", k)); err != nil {
		t.Fatal(err)
	}
	if err := first.Activate(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if err := second.Activate(ctx, 11); !errors.Is(err, index.ErrGenerationConflict) {
		t.Fatalf("second activate: %v, want ErrGenerationConflict", err)
	}
	if err := second.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Abort(ctx); err != nil { // after Activate: a no-op
		t.Fatal(err)
	}
	if err := ix.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lookupIDs(t, ix, "acme", k); len(got) != 1 || got[0] != "1" {
		t.Fatalf("served: %v", got)
	}
	for _, key := range scanKeys(t, rdb, prefix) {
		if strings.Contains(key, second.Generation().ID+":{") {
			t.Errorf("key %s of the aborted build left", key)
		}
	}
	if g, err := ix.Generation(ctx, "acme", second.Generation().ID); !errors.Is(err, index.ErrNoGeneration) {
		t.Fatalf("record of the aborted build: %+v, %v", g, err)
	}
	// The projector marks what it follows.
	if err := ix.Adopt(ctx, "acme", "g1"); err != nil {
		t.Fatal(err)
	}
	if g, err := ix.Generation(ctx, "acme", "g1"); err != nil || !g.Adopted || g.Seq != 10 {
		t.Fatalf("adopted: %+v, %v", g, err)
	}
}

// TestRedisViewPinsOneTenant: a view writes its tenant's pinned generation
// and leaves other tenants to the table.
func TestRedisViewPinsOneTenant(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := t.Context()
	ix := index.NewRedis(rdb, prefix)
	v := ix.View("acme", "g5")
	if err := v.Upsert(ctx, "acme", contactEntry("1", "A", "e:+41215522000")); err != nil {
		t.Fatal(err)
	}
	if err := v.Upsert(ctx, "beta", contactEntry("1", "B", "e:+41215522000")); err != nil {
		t.Fatal(err)
	}
	keys := scanKeys(t, rdb, prefix)
	has := func(p string) bool {
		for _, k := range keys {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
		return false
	}
	if !has(prefix+":g5:{acme}:recs") || has(prefix+":{acme}:") || !has(prefix+":{beta}:recs") {
		t.Fatalf("keys = %v", keys)
	}
	if ix.Served("acme") != "" {
		t.Fatalf("served = %q", ix.Served("acme"))
	}
}
