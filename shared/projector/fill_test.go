package projector_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/testwait"
)

// startBulk runs a projector that fills empty tenants in bulk, up to bulk
// contacts, until the test ends (or stop is called).
func startBulk(t *testing.T, env *natstest.Env, idx *index.Redis, cp projector.Checkpoint, bulk int) (*projector.Projector, func()) {
	t.Helper()
	p, err := projector.New(projector.Config{Topology: env.Topology, CheckpointEvery: time.Millisecond, Bulk: bulk},
		env.JS, idx, twoTenants{}, cp, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return p, run(t, p)
}

// TestEmptyTenantsFilledInBulk: a backlog of two interleaved tenants'
// creates, changes and deletes reaches a projector whose index is empty.
// A tenant is loaded in bulk into a generation of its own, which serves
// every contact's last state once the projector says the events are
// applied; later changes are written there as usual. With a bulk of 200
// the fill ends half-way through the first tenant's events, and the rest
// are written into the new generation as usual.
func TestEmptyTenantsFilledInBulk(t *testing.T) {
	for _, bulk := range []int{100_000, 200} {
		t.Run(fmt.Sprintf("bulk=%d", bulk), func(t *testing.T) { testEmptyTenantsFilledInBulk(t, bulk) })
	}
}

func testEmptyTenantsFilledInBulk(t *testing.T, bulk int) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	serving := index.NewRedis(rdb, prefix)
	follow(t, serving)
	pub := contact.NewPublisher(env.JS, env.Topology)
	last, want := history(t, pub)
	p, _ := startBulk(t, env, index.NewRedis(rdb, prefix), projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts)), bulk)
	waitApplied(t, p, last)

	active, err := serving.ActiveGenerations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(active) == 0 {
		t.Fatal("no tenant was loaded in bulk: none is served from a generation")
	}
	testwait.Until(t, 5*time.Second, "the served table follows the switch", func() bool {
		for tn, gen := range active {
			if serving.Served(tn) != gen {
				return false
			}
		}
		return true
	})
	checkHolds(t, serving, want)

	// Written through the script into the filled generation from now on.
	last, want = history(t, pub)
	waitApplied(t, p, last)
	checkHolds(t, serving, want)
	again, err := serving.ActiveGenerations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(again) != fmt.Sprint(active) {
		t.Errorf("generations %v after more changes, want %v still", again, active)
	}
}

// TestFillStoppedVouchesForNothing stops the projector while it loads a
// tenant whose events keep coming: the unfinished generation is dropped,
// nothing of the tenant is served, the checkpoint stays before its first
// event (so readiness says the index is catching up), and the next
// projector fills it completely.
func TestFillStoppedVouchesForNothing(t *testing.T) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	serving := index.NewRedis(rdb, prefix)
	follow(t, serving)
	cp := projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts))
	pub := contact.NewPublisher(env.JS, env.Topology)
	ctx := context.Background()
	publishNumbered(t, pub, 500, "Backlog")
	// A contact every 20 ms: never quiet long enough to end the fill.
	var mu sync.Mutex
	var last uint64
	n := 500
	stopPublishing := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := n; ; i++ {
			select {
			case <-stopPublishing:
				return
			case <-time.After(20 * time.Millisecond):
			}
			seq, err := pub.Upsert(ctx, "acme", events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: "Trickle", Phones: []events.Phone{{Raw: number(i)}}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			last, n = seq, i+1
			mu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stopPublishing:
		default:
			close(stopPublishing)
		}
		<-published
	}()

	_, stop := startBulk(t, env, index.NewRedis(rdb, prefix), cp, 100_000)
	// The tenant's generations besides its original keys.
	built := func() []index.Generation {
		gens, err := serving.Generations(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(gens, func(g index.Generation) bool { return g.ID == "" })
	}
	testwait.Until(t, 5*time.Second, "a generation being loaded", func() bool {
		gens := built()
		return len(gens) == 1 && gens[0].State == index.GenerationBuilding
	})
	time.Sleep(300 * time.Millisecond) // some of the trickle loaded too
	stop()
	if gens := built(); len(gens) != 0 {
		t.Fatalf("after the stop: generations %+v, want the unfinished one dropped", gens)
	}
	if got, err := cp.Load(ctx); err != nil || got != 0 {
		t.Fatalf("checkpoint %d (%v) after a stopped fill, want 0: nothing of acme is served", got, err)
	}
	if got := lookup(t, serving, e164(0)); len(got) != 0 {
		t.Fatalf("contact 0 served after a stopped fill: %v", got)
	}

	close(stopPublishing)
	<-published
	p, _ := startBulk(t, env, index.NewRedis(rdb, prefix), cp, 100_000)
	mu.Lock()
	defer mu.Unlock()
	waitApplied(t, p, last)
	want := map[string]map[string]int{"acme": {}}
	for i := range n {
		want["acme"][fmt.Sprint(i)] = i
	}
	testwait.Until(t, 5*time.Second, "the served table follows the switch", func() bool { return serving.Served("acme") != "" })
	checkHolds(t, serving, want)
}
