package indextest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
)

// batchIndex is the optional batch method of an index (index.Redis and
// index.Memory have it; the projector's Batcher is the same).
type batchIndex interface {
	ApplyBatch(ctx context.Context, tenant string, changes []index.Change) error
}

func batcher(t *testing.T, ix index.Index) batchIndex {
	t.Helper()
	b, ok := ix.(batchIndex)
	if !ok {
		t.Skipf("%T has no ApplyBatch", ix)
	}
	return b
}

func apply(t *testing.T, b batchIndex, tenant string, changes ...index.Change) {
	t.Helper()
	if err := b.ApplyBatch(t.Context(), tenant, changes); err != nil {
		t.Fatalf("ApplyBatch(%s, %d changes): %v", tenant, len(changes), err)
	}
}

func up(e index.Entry) index.Change { return index.Upserted(e) }

func gone(id string) index.Change { return index.Deleted(source, id) }

// testBatchLikeOneByOne applies a random mix of upserts (new and changed
// contacts, moving between shared keys and names) and deletes, in batches
// of random sizes and in single calls, and checks the index against a
// model that applies every change one after the other.
func testBatchLikeOneByOne(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	rng := rand.New(rand.NewPCG(7, 11))
	pool := []phone.Key{kA, kB, kC, kD, tA, tB, "e:+41446681800", "t:446681800", "d:0446681", "e:+41217654321"}
	words := []string{"Alexa", "Holiday", "Müller", "Muller", "Zoë", "Berg", "Bergström", "Ann", "Anna"}
	model := map[string]index.Entry{} // "source:id" → what the index must hold
	change := func(step int) index.Change {
		id := fmt.Sprint(rng.IntN(40))
		src := []string{source, "pipedrive"}[rng.IntN(2)]
		if rng.IntN(5) == 0 {
			return index.Deleted(src, id)
		}
		keys := make([]phone.Key, rng.IntN(4))
		for i := range keys {
			keys[i] = pool[rng.IntN(len(pool))]
		}
		e := entry(id, words[rng.IntN(len(words))]+" "+words[rng.IntN(len(words))], at(rng.IntN(30)), keys...)
		e.Contact.Source = src
		e.Contact.Company = fmt.Sprintf("step %d", step)
		return up(e)
	}
	record := func(c index.Change) {
		r := c.Entry.Contact.Source + ":" + c.Entry.Contact.ID
		if c.Delete {
			delete(model, r)
		} else {
			model[r] = c.Entry
		}
	}
	step := 0
	for range 60 {
		n := rng.IntN(25)
		var cs []index.Change
		for range n {
			cs = append(cs, change(step))
			step++
		}
		if n == 1 && rng.IntN(2) == 0 {
			// The single calls interleave with batches.
			c := cs[0]
			if c.Delete {
				del(t, ix, tenant, c.Entry.Contact.Source, c.Entry.Contact.ID)
			} else {
				upsert(t, ix, tenant, c.Entry)
			}
		} else {
			apply(t, b, tenant, cs...)
		}
		for _, c := range cs {
			record(c)
		}
	}
	checkModel(t, ix, model, pool, words)
}

// checkModel compares stats, every key's lookup and a name search per word
// with what model (ref → entry) holds.
func checkModel(t *testing.T, ix index.Index, model map[string]index.Entry, pool []phone.Key, words []string) {
	t.Helper()
	type held struct {
		ref string
		e   index.Entry
	}
	var all []held
	keys := map[phone.Key]bool{}
	for r, e := range model {
		all = append(all, held{r, e})
		for _, k := range e.Keys {
			keys[k] = true
		}
	}
	newest := func(a, b held) int {
		if c := cmp.Compare(b.e.Contact.UpdatedAt.UnixMilli(), a.e.Contact.UpdatedAt.UnixMilli()); c != 0 {
			return c
		}
		return strings.Compare(b.ref, a.ref)
	}
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: int64(len(all)), Keys: int64(len(keys))}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	for _, k := range pool {
		var want []held
		for _, h := range all {
			if slices.Contains(h.e.Keys, k) {
				want = append(want, h)
			}
		}
		slices.SortFunc(want, newest)
		wantRefs := make([]string, len(want))
		for i, h := range want {
			wantRefs[i] = h.ref
		}
		ms := lookup(t, ix, tenant, 100, k)
		got := make([]string, len(ms))
		for i, m := range ms {
			got[i] = m.Contact.Source + ":" + m.Contact.ID
			if e := model[got[i]]; m.Contact.Company != e.Contact.Company || m.Contact.Name != e.Contact.Name {
				t.Errorf("lookup %s: %s is %q/%q, want the last version %q/%q", k, got[i], m.Contact.Company, m.Contact.Name, e.Contact.Company, e.Contact.Name)
			}
		}
		wantIDs(t, "lookup "+string(k), got, wantRefs...)
	}
	for _, w := range words {
		q := index.FoldName(w)[0]
		type hit struct {
			held
			whole int
		}
		var want []hit
		for _, h := range all {
			whole, found := 0, false
			for _, nw := range index.FoldName(h.e.Contact.Name) {
				if nw == q {
					whole, found = 1, true
				} else if strings.HasPrefix(nw, q) {
					found = true
				}
			}
			if found {
				want = append(want, hit{h, whole})
			}
		}
		slices.SortFunc(want, func(a, b hit) int {
			if a.whole != b.whole {
				return b.whole - a.whole
			}
			return newest(a.held, b.held)
		})
		wantRefs := make([]string, len(want))
		for i, h := range want {
			wantRefs[i] = h.ref
		}
		cs, err := ix.SearchName(t.Context(), tenant, w, 100)
		if err != nil {
			t.Fatalf("SearchName(%q): %v", w, err)
		}
		got := make([]string, len(cs))
		for i, c := range cs {
			got[i] = c.Source + ":" + c.ID
		}
		wantIDs(t, fmt.Sprintf("search %q", w), got, wantRefs...)
	}
}

// testBatchSameContactTwice: a contact changed more than once in one batch
// ends as its last change, in batch order (not UpdatedAt order), and
// nothing of its earlier versions is left.
func testBatchSameContactTwice(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	upsert(t, ix, tenant, entry("x", "Old Xavier", at(0), kA))
	upsert(t, ix, tenant, entry("z", "Zed", at(0), kD))
	apply(t, b, tenant,
		up(entry("x", "Mid Xavier", at(1), kB)),
		up(entry("y", "Young", at(1), tA)),
		gone("z"),
		up(entry("x", "New Xavier", at(0), kC)), // older UpdatedAt, later in the batch: wins
		gone("y"),
		up(entry("z", "Zed Again", at(2), tB)),
	)
	wantIDs(t, "x's earlier keys", ids(lookup(t, ix, tenant, 5, kA, kB)))
	ms := lookup(t, ix, tenant, 5, kC)
	wantIDs(t, "x's last key", ids(ms), "x/exact")
	if len(ms) == 1 && ms[0].Contact.Name != "New Xavier" {
		t.Errorf("x is %q, want its last version", ms[0].Contact.Name)
	}
	wantIDs(t, "y upserted then deleted", ids(lookup(t, ix, tenant, 5, tA)))
	wantIDs(t, "z deleted then upserted", ids(lookup(t, ix, tenant, 5, kD, tB)), "z/tail")
	wantIDs(t, "old name", search(t, ix, tenant, "old", 5))
	wantIDs(t, "mid name", search(t, ix, tenant, "mid", 5))
	wantIDs(t, "young", search(t, ix, tenant, "young", 5))
	wantIDs(t, "new name", search(t, ix, tenant, "xavier", 5), "x")
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: 2, Keys: 2}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// testBatchLarge goes past any pipeline size an implementation may use.
func testBatchLarge(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	const n = 2500
	key := func(i, v int) phone.Key { return phone.Key(fmt.Sprintf("e:+41%d%07d", 21+v, i)) }
	var cs []index.Change
	for i := range n {
		cs = append(cs, up(entry(fmt.Sprint(i), fmt.Sprintf("Person%d", i), at(i%60), key(i, 0), kA)))
	}
	apply(t, b, tenant, cs...)
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: n, Keys: n + 1}); got != want {
		t.Fatalf("after the first batch: stats = %+v, want %+v", got, want)
	}
	// Every contact changes its own key (the changed-contact path), every
	// tenth is deleted, and the shared key stays with the others.
	cs = cs[:0]
	for i := range n {
		if i%10 == 0 {
			cs = append(cs, gone(fmt.Sprint(i)))
		} else {
			cs = append(cs, up(entry(fmt.Sprint(i), fmt.Sprintf("Renamed%d", i), at(i%60), key(i, 1), kA)))
		}
	}
	apply(t, b, tenant, cs...)
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: n - n/10, Keys: n - n/10 + 1}); got != want {
		t.Errorf("after the second batch: stats = %+v, want %+v", got, want)
	}
	if got := len(lookup(t, ix, tenant, 2*n, kA)); got != n-n/10 {
		t.Errorf("contacts on the shared key = %d, want %d", got, n-n/10)
	}
	for _, i := range []int{0, 1, 999, 1000, 1001, 2499} {
		want := []string{fmt.Sprintf("%d/exact", i)}
		if i%10 == 0 {
			want = nil
		}
		wantIDs(t, fmt.Sprintf("contact %d by its old key", i), ids(lookup(t, ix, tenant, 5, key(i, 0))))
		wantIDs(t, fmt.Sprintf("contact %d by its new key", i), ids(lookup(t, ix, tenant, 5, key(i, 1))), want...)
	}
	wantIDs(t, "old names", search(t, ix, tenant, "person", 5))
	wantIDs(t, "new name", search(t, ix, tenant, "renamed1001", 5), "1001")
}

// testBatchAgain: after a failure a batch is applied again whole; the
// second time must leave the index exactly as the first.
func testBatchAgain(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	upsert(t, ix, tenant, entry("1", "One", at(0), kA, tA))
	batch := []index.Change{
		up(entry("1", "One Moved", at(1), kB)),
		up(entry("2", "Two", at(1), kB, kC)),
		up(entry("2", "Two Again", at(2), kC)),
		gone("3"),
	}
	apply(t, b, tenant, batch...)
	first := stats(t, ix, tenant)
	apply(t, b, tenant, batch...)
	if got := stats(t, ix, tenant); got != first || got != (index.Stats{Contacts: 2, Keys: 2}) {
		t.Errorf("stats after the same batch twice = %+v (first %+v), want {2 2}", got, first)
	}
	wantIDs(t, "kB", ids(lookup(t, ix, tenant, 5, kB)), "1/exact")
	wantIDs(t, "kC", ids(lookup(t, ix, tenant, 5, kC)), "2/exact")
	wantIDs(t, "kA, tA", ids(lookup(t, ix, tenant, 5, kA, tA)))
	wantIDs(t, "two", search(t, ix, tenant, "two", 5), "2")
}

func testBatchEmpty(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	upsert(t, ix, tenant, entry("1", "One", at(0), kA))
	apply(t, b, tenant)
	apply(t, b, tenant, []index.Change{}...)
	apply(t, b, "nobody", gone("1")) // a tenant that was never written
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: 1, Keys: 1}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

func testBatchTenantsIsolated(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	upsert(t, ix, "t2", entry("1", "In Two", at(0), kA))
	apply(t, b, "t1", up(entry("1", "In One", at(0), kA)), up(entry("2", "Also One", at(0), kB)))
	apply(t, b, "t1", gone("1"))
	wantIDs(t, "t1", ids(lookup(t, ix, "t1", 5, kA, kB)), "2/exact")
	ms := lookup(t, ix, "t2", 5, kA, kB)
	if len(ms) != 1 || ms[0].Contact.Name != "In Two" {
		t.Errorf("t2 = %+v, want only its own contact", ms)
	}
}

// testBatchInvalid: one invalid change fails the whole batch before
// anything is written.
func testBatchInvalid(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	ctx := t.Context()
	good := up(entry("1", "Good", at(0), kA))
	badSource := up(entry("2", "X", at(0), kB))
	badSource.Entry.Contact.Source = "Hub Spot"
	tests := []struct {
		name    string
		tenant  string
		changes []index.Change
	}{
		{"bad tenant", "{x}", []index.Change{good}},
		{"empty tenant", "", nil},
		{"bad source", tenant, []index.Change{good, badSource}},
		{"empty id", tenant, []index.Change{good, up(entry("", "X", at(0), kC))}},
		{"delete without id", tenant, []index.Change{good, index.Deleted(source, "")}},
		{"delete bad source", tenant, []index.Change{good, index.Deleted("", "3")}},
	}
	for _, tt := range tests {
		if err := b.ApplyBatch(ctx, tt.tenant, tt.changes); !errors.Is(err, events.ErrInvalid) {
			t.Errorf("%s: err = %v, want events.ErrInvalid", tt.name, err)
		}
	}
	wantIDs(t, "nothing written", ids(lookup(t, ix, tenant, 5, kA, kB, kC)))
}

func testBatchCancelledContext(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	upsert(t, ix, tenant, entry("1", "Alexa", at(0), kA))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := b.ApplyBatch(ctx, tenant, []index.Change{up(entry("2", "X", at(0), kB)), gone("1")})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	wantIDs(t, "nothing changed", ids(lookup(t, ix, tenant, 5, kA, kB)), "1/exact")
}

// testBatchConcurrentWriters races batches and single upserts on one
// contact whose every version has its own key, beside contacts of each
// writer: the compare-and-set of each contact must hold inside a batch,
// so exactly one version's key is left.
func testBatchConcurrentWriters(t *testing.T, ix index.Index) {
	b := batcher(t, ix)
	const writers, rounds = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*rounds)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				key := phone.Key(fmt.Sprintf("e:+4179100%02d%02d", w, r))
				contested := entry("contested", "Contested", at(r), key)
				if w%2 == 0 {
					errs <- ix.Upsert(t.Context(), tenant, contested)
					continue
				}
				own := entry(fmt.Sprintf("w%d-%d", w, r), "Own", at(r), kA)
				errs <- b.ApplyBatch(t.Context(), tenant, []index.Change{up(own), up(contested), up(own)})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
	batchWriters := writers / 2
	if got := len(lookup(t, ix, tenant, 1000, kA)); got != batchWriters*rounds {
		t.Errorf("contacts on the shared key = %d, want %d", got, batchWriters*rounds)
	}
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: int64(batchWriters*rounds + 1), Keys: 2}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}
