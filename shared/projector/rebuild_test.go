package projector_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/testwait"
)

var ch = phone.Options{Region: "CH", TailDigits: 9}

func number(i int) string { return fmt.Sprintf("021 552 %02d %02d", i/100, i%100) }

func e164(i int) string { return fmt.Sprintf("4121552%04d", i) }

// follow keeps idx's table of served generations current until the test ends.
func follow(t *testing.T, idx *index.Redis) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { idx.Follow(ctx, 50*time.Millisecond, quiet); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestRebuildSwitchesWithoutWrongAnswers rebuilds a tenant while lookups
// run and the projector projects: every lookup during the rebuild answers
// as before, the new generation answers the same, and the projector keeps
// writing into it afterwards.
func TestRebuildSwitchesWithoutWrongAnswers(t *testing.T) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	serving := index.NewRedis(rdb, prefix)
	follow(t, serving)
	cp := projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts))
	p, _ := start(t, env, serving, cp)
	pub := contact.NewPublisher(env.JS, env.Topology)
	ctx := context.Background()

	const n = 300
	cs := make([]events.Contact, n)
	for i := range cs {
		cs[i] = events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: fmt.Sprintf("Contact %d", i), Phones: []events.Phone{{Raw: number(i)}}}
	}
	if _, err := pub.UpsertMany(ctx, "acme", cs); err != nil {
		t.Fatal(err)
	}
	// Deleted contacts stay deleted through a rebuild.
	last, err := pub.Delete(ctx, "acme", "crm", "7")
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, last)
	want := func(i int) []string {
		if i == 7 {
			return nil
		}
		return []string{fmt.Sprint(i)}
	}
	before, err := serving.Stats(ctx, "acme")
	if err != nil || before.Contacts != n-1 {
		t.Fatalf("before: %+v, %v", before, err)
	}

	// Lookups run all along the rebuild and must never answer differently.
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
			if got := lookup(t, serving, e164(i)); !slices.Equal(got, want(i)) {
				wrong.Add(1)
				t.Errorf("lookup %d during rebuild: %v, want %v", i, got, want(i))
			}
			checked.Add(1)
		}
	}()
	var progressed atomic.Int64
	res, err := projector.Rebuild(ctx, projector.RebuildConfig{
		Topology: env.Topology, Tenant: "acme", Phone: ch,
		Progress: func(projector.RebuildProgress) { progressed.Add(1) },
	}, env.JS, serving)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "serving follows the switch", func() bool { return serving.Served("acme") == res.Generation })
	close(stop)
	<-done
	if checked.Load() == 0 || wrong.Load() != 0 || progressed.Load() == 0 {
		t.Fatalf("checked %d lookups, %d wrong, %d progress reports", checked.Load(), wrong.Load(), progressed.Load())
	}
	if res.Generation != "g1" || res.Previous != "" || res.Events != n || res.Seq < last || res.Stats != before {
		t.Fatalf("result %+v, want g1 from the original keys, %d events up to %d, stats %+v", res, n, last, before)
	}
	for i := range n {
		if got := lookup(t, serving, e164(i)); !slices.Equal(got, want(i)) {
			t.Fatalf("lookup %d after rebuild: %v, want %v", i, got, want(i))
		}
	}
	// The projector writes into the new generation from now on.
	seq, err := pub.Upsert(ctx, "acme", events.Contact{ID: "new", Source: "crm", Name: "New", Phones: []events.Phone{{Raw: "044 668 18 00"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, seq)
	if got := lookup(t, serving, "41446681800"); len(got) != 1 || got[0] != "new" {
		t.Fatalf("contact projected after the switch: %v", got)
	}
	g, err := serving.Generation(ctx, "acme", res.Generation)
	if err != nil || !g.Adopted {
		t.Fatalf("generation after the switch: %+v, %v", g, err)
	}
}

// TestProjectorGoesBackToTheNewGenerationsSeq: a generation built to an
// earlier sequence than the projector had applied gets the events in
// between, whether the projector runs at the switch or starts after it.
func TestProjectorGoesBackToTheNewGenerationsSeq(t *testing.T) {
	for _, running := range []bool{true, false} {
		t.Run(fmt.Sprintf("running=%v", running), func(t *testing.T) {
			env := natstest.Connect(t)
			rdb, prefix := redistest.Client(t)
			serving := index.NewRedis(rdb, prefix)
			follow(t, serving)
			cp := projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts))
			pub := contact.NewPublisher(env.JS, env.Topology)
			ctx := context.Background()
			p, stop := start(t, env, serving, cp)
			a := events.Contact{ID: "a", Source: "crm", Name: "A", Phones: []events.Phone{{Raw: number(1)}}}
			seqA, err := pub.Upsert(ctx, "acme", a)
			if err != nil {
				t.Fatal(err)
			}
			seqB, err := pub.Upsert(ctx, "acme", events.Contact{ID: "b", Source: "crm", Name: "B", Phones: []events.Phone{{Raw: number(2)}}})
			if err != nil {
				t.Fatal(err)
			}
			waitApplied(t, p, seqB)
			if !running {
				stop()
			}
			// A generation that holds the stream up to A only.
			b, err := serving.BeginGeneration(ctx, "acme", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Index().Upsert(ctx, "acme", projector.Entry(a, ch)); err != nil {
				t.Fatal(err)
			}
			if err := b.Activate(ctx, seqA); err != nil {
				t.Fatal(err)
			}
			if !running {
				p, _ = start(t, env, serving, cp)
			}
			testwait.Until(t, 10*time.Second, "B projected into the new generation", func() bool {
				return serving.Served("acme") == "g1" && len(lookup(t, serving, e164(2))) == 1
			})
			if got := lookup(t, serving, e164(1)); len(got) != 1 {
				t.Fatalf("A: %v", got)
			}
			testwait.Until(t, 10*time.Second, "caught up", func() bool { return p.Applied() >= seqB })
			g, err := serving.Generation(ctx, "acme", "g1")
			if err != nil || !g.Adopted {
				t.Fatalf("generation: %+v, %v", g, err)
			}
		})
	}
}

// TestRebuildStoppedLeavesNothing: a rebuild stopped halfway drops its
// generation; the old one never stopped serving.
func TestRebuildStoppedLeavesNothing(t *testing.T) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	serving := index.NewRedis(rdb, prefix)
	cp := projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts))
	p, _ := start(t, env, serving, cp)
	pub := contact.NewPublisher(env.JS, env.Topology)
	cs := make([]events.Contact, 1200)
	for i := range cs {
		cs[i] = events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: "X", Phones: []events.Phone{{Raw: number(i)}}}
	}
	last, err := pub.UpsertMany(context.Background(), "acme", cs)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, last)
	ctx, cancel := context.WithCancel(context.Background())
	_, err = projector.Rebuild(ctx, projector.RebuildConfig{
		Topology: env.Topology, Tenant: "acme", Phone: ch,
		Progress: func(pr projector.RebuildProgress) {
			if pr.Events >= 512 {
				cancel()
			}
		},
	}, env.JS, serving)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("rebuild: %v, want context.Canceled", err)
	}
	gens, err := serving.Generations(context.Background(), "acme")
	if err != nil || len(gens) != 1 || gens[0].ID != "" || gens[0].State != index.GenerationActive {
		t.Fatalf("generations after a stopped rebuild: %+v, %v", gens, err)
	}
	keys, err := rdb.Keys(context.Background(), prefix+":g*").Result()
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys of the stopped rebuild: %v, %v", keys, err)
	}
	if got := lookup(t, serving, e164(5)); len(got) != 1 {
		t.Fatalf("served lookup: %v", got)
	}
}
