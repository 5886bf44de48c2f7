package projector_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redistest"
)

type chTenants struct{}

func (chTenants) PhoneOptions(id string) (phone.Options, bool) {
	return phone.Options{Region: "CH", TailDigits: 9}, id == "acme"
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs a projector until the test ends (or stop is called).
func start(t *testing.T, env *natstest.Env, idx index.Index, cp projector.Checkpoint) (*projector.Projector, func()) {
	t.Helper()
	p, err := projector.New(projector.Config{Topology: env.Topology, CheckpointEvery: time.Millisecond}, env.JS, idx, chTenants{}, cp, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return p, stop
}

func lookup(t *testing.T, idx index.Index, number string) []string {
	t.Helper()
	keys, err := phone.Candidates(number, phone.Options{Region: "CH", TailDigits: 9})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := idx.Lookup(context.Background(), "acme", keys, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.Contact.ID)
	}
	return ids
}

func waitApplied(t *testing.T, p *projector.Projector, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitApplied(ctx, seq); err != nil {
		t.Fatal(err)
	}
}

func TestProjectsUpsertsAndDeletes(t *testing.T) {
	env := natstest.Connect(t)
	pub := contact.NewPublisher(env.JS, env.Topology)
	idx := index.NewMemory()
	p, _ := start(t, env, idx, &projector.Memory{})
	ctx := context.Background()

	seq, err := pub.Upsert(ctx, "acme", events.Contact{ID: "1", Source: "crm", Name: "A", Phones: []events.Phone{{Raw: "021 552 20 00"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, seq)
	if got := lookup(t, idx, "41215522000"); len(got) != 1 || got[0] != "1" {
		t.Fatalf("after upsert: %v", got)
	}
	// A contact of an unknown tenant is skipped without stopping the projector.
	if _, err := pub.Upsert(ctx, "ghost", events.Contact{ID: "9", Source: "crm", Name: "G"}); err != nil {
		t.Fatal(err)
	}
	seq, err = pub.Delete(ctx, "acme", "crm", "1")
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, seq)
	if got := lookup(t, idx, "41215522000"); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
	if !p.CaughtUp() {
		t.Fatal("not caught up")
	}
}

func TestEmptyIndexRebuildsFromStream(t *testing.T) {
	env := natstest.Connect(t)
	pub := contact.NewPublisher(env.JS, env.Topology)
	ctx := context.Background()
	var last uint64
	for i, n := range []string{"021 552 20 01", "021 552 20 02", "021 552 20 03"} {
		c := events.Contact{ID: string(rune('a' + i)), Source: "crm", Name: n, Phones: []events.Phone{{Raw: n}}}
		seq, err := pub.Upsert(ctx, "acme", c)
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	// A fresh in-process index (as after a restart) catches up with the stream.
	idx := index.NewMemory()
	p, _ := start(t, env, idx, &projector.Memory{})
	waitApplied(t, p, last)
	for _, n := range []string{"41215522001", "41215522002", "41215522003"} {
		if got := lookup(t, idx, n); len(got) != 1 {
			t.Fatalf("%s after rebuild: %v", n, got)
		}
	}
}

func TestRedisCheckpointResumes(t *testing.T) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	idx := index.NewRedis(rdb, prefix)
	cp := projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts))
	pub := contact.NewPublisher(env.JS, env.Topology)
	ctx := context.Background()

	p, stop := start(t, env, idx, cp)
	seq, err := pub.Upsert(ctx, "acme", events.Contact{ID: "1", Source: "crm", Name: "A", Phones: []events.Phone{{Raw: "0215522000"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, seq)
	stop()
	saved, err := cp.Load(ctx)
	if err != nil || saved != seq {
		t.Fatalf("checkpoint = %d, %v; want %d", saved, err, seq)
	}
	// Restarted, it starts after the checkpoint: the applied position is
	// already there before anything new is published.
	p2, _ := start(t, env, idx, cp)
	seq2, err := pub.Upsert(ctx, "acme", events.Contact{ID: "2", Source: "crm", Name: "B", Phones: []events.Phone{{Raw: "0215522000"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p2, seq2)
	if got := lookup(t, idx, "41215522000"); len(got) != 2 {
		t.Fatalf("after resume: %v", got)
	}
}
