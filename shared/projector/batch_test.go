package projector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
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

// twoTenants knows acme and beta, both Swiss.
type twoTenants struct{}

func (twoTenants) PhoneOptions(id string) (phone.Options, bool) {
	return ch, id == "acme" || id == "beta"
}

// startWith runs a projector with the given tenants and batch size until
// the test ends (or stop is called).
func startWith(t *testing.T, env *natstest.Env, idx index.Index, cp projector.Checkpoint, tenants projector.Tenants, batch int) (*projector.Projector, func()) {
	t.Helper()
	p, err := projector.New(projector.Config{Topology: env.Topology, CheckpointEvery: time.Millisecond, Batch: batch}, env.JS, idx, tenants, cp, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return p, run(t, p)
}

// run runs p until the returned stop is called or the test ends.
func run(t *testing.T, p *projector.Projector) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// counting is an index whose batches are counted; without batches set it
// hides ApplyBatch, so that the projector writes one change at a time.
type counting struct {
	index.Index
	batches, largest atomic.Int64
}

func (c *counting) ApplyBatch(ctx context.Context, tenant string, changes []index.Change) error {
	c.batches.Add(1)
	for {
		l := c.largest.Load()
		if int64(len(changes)) <= l || c.largest.CompareAndSwap(l, int64(len(changes))) {
			break
		}
	}
	return c.Index.(projector.Batcher).ApplyBatch(ctx, tenant, changes)
}

// unbatched is an index without ApplyBatch.
type unbatched struct{ index.Index }

// history publishes, per tenant, contacts that are created, changed
// (another number, another name) several times, deleted and created again,
// tenants interleaved; it returns the last sequence and what each tenant's
// index must hold in the end: id → number.
func history(t *testing.T, pub *contact.Publisher) (uint64, map[string]map[string]int) {
	t.Helper()
	ctx := context.Background()
	want := map[string]map[string]int{"acme": {}, "beta": {}}
	var last uint64
	n := 0
	for round := range 4 {
		for _, tn := range []string{"acme", "beta"} {
			var cs []events.Contact
			for i := range 150 {
				id := fmt.Sprint(i)
				num := 1000*round + i + 500*len(tn) // another number each round, per tenant
				cs = append(cs, events.Contact{ID: id, Source: "crm", Name: fmt.Sprintf("Round%d Contact%d", round, i), Phones: []events.Phone{{Raw: number(num)}}})
				want[tn][id] = num
				n++
			}
			seq, err := pub.UpsertMany(ctx, tn, cs)
			if err != nil {
				t.Fatal(err)
			}
			// Every seventh deleted, every fourteenth of them back.
			for i := round; i < 150; i += 7 {
				id := fmt.Sprint(i)
				if seq, err = pub.Delete(ctx, tn, "crm", id); err != nil {
					t.Fatal(err)
				}
				delete(want[tn], id)
				if i%14 == round {
					num := 9000 + i
					if seq, err = pub.Upsert(ctx, tn, events.Contact{ID: id, Source: "crm", Name: "Back", Phones: []events.Phone{{Raw: number(num)}}}); err != nil {
						t.Fatal(err)
					}
					want[tn][id] = num
				}
			}
			last = max(last, seq)
		}
	}
	return last, want
}

// checkHolds checks that idx holds exactly want: each contact under its
// last number only, and no contact more.
func checkHolds(t *testing.T, idx index.Index, want map[string]map[string]int) {
	t.Helper()
	ctx := context.Background()
	for tn, contacts := range want {
		st, err := idx.Stats(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		if st.Contacts != int64(len(contacts)) {
			t.Errorf("%s holds %d contacts, want %d", tn, st.Contacts, len(contacts))
		}
		for id, num := range contacts {
			keys, err := phone.Candidates(e164(num), ch)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := idx.Lookup(ctx, tn, keys, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 || ms[0].Contact.ID != id {
				t.Fatalf("%s: number %d finds %+v, want contact %s only", tn, num, ms, id)
			}
		}
	}
}

// TestBatchesInStreamOrder projects a backlog (so in large batches) of two
// interleaved tenants' creates, changes and deletes into Memory and Redis,
// and into an index without batches: each ends with every contact's last
// state.
func TestBatchesInStreamOrder(t *testing.T) {
	for _, kind := range []string{"memory", "redis", "unbatched"} {
		t.Run(kind, func(t *testing.T) {
			env := natstest.Connect(t)
			last, want := history(t, contact.NewPublisher(env.JS, env.Topology))
			var idx index.Index = index.NewMemory()
			if kind == "redis" {
				rdb, prefix := redistest.Client(t)
				idx = index.NewRedis(rdb, prefix)
			}
			var counted *counting
			if kind == "unbatched" {
				idx = unbatched{idx}
			} else {
				counted = &counting{Index: idx}
				idx = counted
			}
			p, _ := startWith(t, env, idx, &projector.Memory{}, twoTenants{}, 100)
			waitApplied(t, p, last)
			checkHolds(t, idx, want)
			if counted != nil && (counted.largest.Load() < 2 || counted.largest.Load() > 100) {
				t.Errorf("largest batch %d, want 2…100", counted.largest.Load())
			}
		})
	}
}

// flaky fails every batch while failing is set, after writing the first
// half of it: a pipeline that broke midway.
type flaky struct {
	index.Index
	failing atomic.Bool
	failed  atomic.Int64
}

func (f *flaky) ApplyBatch(ctx context.Context, tenant string, changes []index.Change) error {
	b := f.Index.(projector.Batcher)
	if f.failing.Load() {
		f.failed.Add(1)
		if err := b.ApplyBatch(ctx, tenant, changes[:len(changes)/2]); err != nil {
			return err
		}
		return errors.New("connection reset by peer")
	}
	return b.ApplyBatch(ctx, tenant, changes)
}

// TestFailedBatchIsRetriedNotSkipped: while the index fails, nothing is
// marked applied (WaitApplied waits, the checkpoint stays); once it heals,
// the retried batches leave every contact in its last state.
func TestFailedBatchIsRetriedNotSkipped(t *testing.T) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	idx := &flaky{Index: index.NewRedis(rdb, prefix)}
	cp := projector.NewRedis(rdb, prefix, env.Topology.Stream(events.StreamContacts))
	pub := contact.NewPublisher(env.JS, env.Topology)
	ctx := context.Background()
	first, err := pub.Upsert(ctx, "acme", events.Contact{ID: "first", Source: "crm", Name: "First", Phones: []events.Phone{{Raw: number(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startWith(t, env, idx, cp, twoTenants{}, 50)
	waitApplied(t, p, first)

	idx.failing.Store(true)
	last, want := history(t, pub)
	want["acme"]["first"] = 1
	testwait.Until(t, 10*time.Second, "failed batches", func() bool { return idx.failed.Load() >= 2 })
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = p.WaitApplied(short, first+1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied while the index fails: %v, want a timeout", err)
	}
	if a := p.Applied(); a != first {
		t.Fatalf("applied %d while every batch failed, want %d", a, first)
	}
	if saved, err := cp.Load(ctx); err != nil || saved > first {
		t.Fatalf("checkpoint %d, %v while every batch failed; want at most %d", saved, err, first)
	}

	idx.failing.Store(false)
	// The retry backoff may have grown to seconds meanwhile.
	healed, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.WaitApplied(healed, last); err != nil {
		t.Fatal(err)
	}
	checkHolds(t, idx, want)
}

// TestInvalidContactSkipped: an event the index would refuse (a source
// that is not subject-safe) is skipped, not retried for ever, and the
// events after it are projected.
func TestInvalidContactSkipped(t *testing.T) {
	env := natstest.Connect(t)
	idx := index.NewMemory()
	p, _ := startWith(t, env, idx, &projector.Memory{}, twoTenants{}, 0)
	ctx := context.Background()
	bad, err := events.New(contact.NewID(), events.TypeContactUpserted, "acme", "crm", time.Now(),
		events.Contact{ID: "1", Source: "Not Safe", Name: "Bad", Phones: []events.Phone{{Raw: number(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.Publish(ctx, env.Topology.ContactSubject("acme", "crm", "1"), data); err != nil {
		t.Fatal(err)
	}
	seq, err := contact.NewPublisher(env.JS, env.Topology).Upsert(ctx, "acme",
		events.Contact{ID: "2", Source: "crm", Name: "Good", Phones: []events.Phone{{Raw: number(2)}}})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, seq)
	if got := lookup(t, idx, e164(2)); !slices.Equal(got, []string{"2"}) {
		t.Fatalf("the contact after the bad one: %v", got)
	}
	if got := lookup(t, idx, e164(1)); len(got) != 0 {
		t.Fatalf("the bad contact: %v", got)
	}
}

// TestRebuildWhilePublishing: contacts keep arriving during a rebuild in
// small batches; the generation holds every event up to the sequence it
// was activated with, whether all were loaded in bulk or the bulk load
// ended half-way.
// publishNumbered publishes acme's contacts 0 to n-1, each named name and
// found under number(i).
func publishNumbered(t *testing.T, pub *contact.Publisher, n int, name string) {
	t.Helper()
	cs := make([]events.Contact, n)
	for i := range cs {
		cs[i] = events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: name, Phones: []events.Phone{{Raw: number(i)}}}
	}
	if _, err := pub.UpsertMany(context.Background(), "acme", cs); err != nil {
		t.Fatal(err)
	}
}

func TestRebuildWhilePublishing(t *testing.T) {
	for _, bulk := range []int{0, 300} {
		t.Run(fmt.Sprintf("bulk=%d", bulk), func(t *testing.T) { testRebuildWhilePublishing(t, bulk) })
	}
}

func testRebuildWhilePublishing(t *testing.T, bulk int) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	serving := index.NewRedis(rdb, prefix)
	pub := contact.NewPublisher(env.JS, env.Topology)
	ctx := context.Background()
	publishNumbered(t, pub, 500, "Before")
	var mu sync.Mutex
	seqOf := map[int]uint64{}
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 500; i < 3000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			seq, err := pub.Upsert(ctx, "acme", events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: "During", Phones: []events.Phone{{Raw: number(i)}}})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seqOf[i] = seq
			mu.Unlock()
		}
	}()
	testwait.Until(t, 10*time.Second, "publishing under way", func() bool { mu.Lock(); defer mu.Unlock(); return len(seqOf) > 20 })
	res, err := projector.Rebuild(ctx, projector.RebuildConfig{Topology: env.Topology, Tenant: "acme", Phone: ch, Batch: 7, Bulk: bulk}, env.JS, serving)
	close(stop)
	<-published
	if err != nil {
		t.Fatal(err)
	}
	gen := serving.View("acme", res.Generation)
	mu.Lock()
	defer mu.Unlock()
	in := 0
	for i := range 3000 {
		seq, ok := seqOf[i]
		if i >= 500 && (!ok || seq > res.Seq) {
			continue // published after the generation's sequence
		}
		in++
		if got := lookup(t, gen, e164(i)); !slices.Equal(got, []string{fmt.Sprint(i)}) {
			t.Fatalf("contact %d (seq %d ≤ %d) in the new generation: %v", i, seq, res.Seq, got)
		}
	}
	if st, err := gen.Stats(ctx, "acme"); err != nil || st.Contacts < int64(in) {
		t.Fatalf("generation stats %+v, %v; want at least %d contacts", st, err, in)
	}
}
