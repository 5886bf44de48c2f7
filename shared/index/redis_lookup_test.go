package index_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
)

// Postings are rewritten in Lua on every write and ranked in Lua on every
// lookup: through upserts that move contacts up, down and off a number,
// ties, and deletes, Redis ranks every limit exactly as Memory does.
func TestRedisRanksAsMemory(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ixs := []index.Index{index.NewMemory(), index.NewRedis(rdb, prefix)}
	ctx := t.Context()
	const exact, tail phone.Key = "e:+41215522000", "t:215522000"
	const n = 30
	upsert := func(i int, ms int64, keys ...phone.Key) {
		t.Helper()
		c := events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: fmt.Sprint("Contact ", i), UpdatedAt: time.UnixMilli(ms)}
		for _, ix := range ixs {
			if err := ix.Upsert(ctx, "acme", index.Entry{Contact: c, Keys: keys}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range n {
		switch i % 3 {
		case 0:
			upsert(i, int64(1000+i%7), exact, tail) // ties on purpose
		case 1:
			upsert(i, int64(2000+i), tail)
		default:
			upsert(i, int64(1500+i), exact)
		}
	}
	agree := func(step string) {
		t.Helper()
		for _, keys := range [][]phone.Key{{exact, tail}, {tail}, {exact}} {
			for _, limit := range []int{1, 5, 10, n} {
				want := matchIDs(mustLookup(t, ixs[0], keys, limit))
				if got := matchIDs(mustLookup(t, ixs[1], keys, limit)); !reflect.DeepEqual(got, want) {
					t.Errorf("%s, keys %v, limit %d: Redis ranks %v, Memory %v", step, keys, limit, got, want)
				}
			}
		}
	}
	agree("filled")
	upsert(0, 9000, exact, tail) // to the top
	upsert(2, 1, exact)          // to the bottom
	upsert(5, 1600)              // off every number
	upsert(7, 1007, exact, tail) // a tie moved
	agree("moved")
	for _, m := range mustLookup(t, ixs[0], []phone.Key{exact}, 3) {
		for _, ix := range ixs {
			if err := ix.Delete(ctx, "acme", m.Contact.Source, m.Contact.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	agree("top three deleted")
	stats := make([]index.Stats, len(ixs))
	for i, ix := range ixs {
		var err error
		if stats[i], err = ix.Stats(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if stats[0] != stats[1] {
		t.Errorf("Redis counts %+v, Memory %+v", stats[1], stats[0])
	}
}

func mustLookup(t *testing.T, ix index.Index, keys []phone.Key, limit int) []index.Match {
	t.Helper()
	ms, err := ix.Lookup(t.Context(), "acme", keys, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func matchIDs(ms []index.Match) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = fmt.Sprintf("%s/%d", m.Contact.ID, m.Kind)
	}
	return ids
}

// Concurrent lookups share pipelines, and each caller gets its own answer.
func TestRedisConcurrentLookups(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	ix := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	const callers, each = 64, 20
	key := func(i int) phone.Key { return phone.Key(fmt.Sprintf("e:+412155%05d", i)) }
	for i := range callers {
		if err := ix.Upsert(ctx, "acme", index.Entry{Contact: events.Contact{ID: fmt.Sprint(i), Source: "crm"}, Keys: []phone.Key{key(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	rt.n.Store(0)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for range each {
				ms, err := ix.Lookup(ctx, "acme", []phone.Key{key(i), key(i + callers)}, 5)
				if err != nil || len(ms) != 1 || ms[0].Contact.ID != fmt.Sprint(i) {
					t.Errorf("caller %d: %+v, %v", i, ms, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := rt.n.Load(); n >= callers*each {
		t.Errorf("%d lookups took %d round trips: none shared a pipeline", callers*each, n)
	}
}

// A lookup after Redis lost its scripts (a restart, SCRIPT FLUSH) loads
// the script again and answers.
func TestRedisLookupReloadsLostScript(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	k := phone.Key("e:+41215522000")
	if err := ix.Upsert(t.Context(), "acme", index.Entry{Contact: events.Contact{ID: "1", Source: "crm"}, Keys: []phone.Key{k}}); err != nil {
		t.Fatal(err)
	}
	h := &noScript{}
	rdb.AddHook(h)
	if ms := mustLookup(t, ix, []phone.Key{k}, 5); len(ms) != 1 {
		t.Errorf("lookup: %+v", ms)
	}
	if !h.done.Load() {
		t.Fatal("the hook never answered NOSCRIPT")
	}
}

// holdPipelines keeps every pipeline from Redis until released.
type holdPipelines struct{ release chan struct{} }

func (h *holdPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *holdPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *holdPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		<-h.release
		return next(ctx, cmds)
	}
}

// A lookup returns when its context ends, even while Redis does not
// answer, and the lookups after it are not stuck behind it.
func TestRedisLookupLeavesWithItsContext(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	k := phone.Key("e:+41215522000")
	if err := ix.Upsert(t.Context(), "acme", index.Entry{Contact: events.Contact{ID: "1", Source: "crm"}, Keys: []phone.Key{k}}); err != nil {
		t.Fatal(err)
	}
	h := &holdPipelines{release: make(chan struct{})}
	rdb.AddHook(h)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := ix.Lookup(ctx, "acme", []phone.Key{k}, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lookup while Redis is silent: %v, want the context's deadline", err)
	}
	close(h.release)
	if ms := mustLookup(t, ix, []phone.Key{k}, 5); len(ms) != 1 {
		t.Errorf("lookup after Redis answers again: %+v", ms)
	}
}

// A posting or a stored contact that is not what the index writes is an
// error, not a wrong answer.
func TestRedisCorruptData(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	k := phone.Key("e:+41215522000")
	if err := ix.Upsert(ctx, "acme", index.Entry{Contact: events.Contact{ID: "1", Source: "crm", Name: "Ann"}, Keys: []phone.Key{k}}); err != nil {
		t.Fatal(err)
	}
	_, reports, err := ix.Explain(ctx, "acme", []phone.Key{k})
	if err != nil || len(reports) != 1 || reports[0].Contacts != 1 {
		t.Fatalf("explain: %+v, %v", reports, err)
	}
	bucket := reports[0].RedisKey
	good, err := rdb.HGet(ctx, bucket, string(k)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"x", "1:5:ab", "a:2:ab", "1:-2:ab", good + "7", "5:crm:2"} {
		if err := rdb.HSet(ctx, bucket, string(k), bad).Err(); err != nil {
			t.Fatal(err)
		}
		if ms, err := ix.Lookup(ctx, "acme", []phone.Key{k}, 5); err == nil {
			t.Errorf("posting %q: %+v, want an error", bad, ms)
		}
	}
	if err := rdb.HSet(ctx, bucket, string(k), good).Err(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"no header", "1 ann\n\xff\xff\xff", "1 ann\n\x05ab"} {
		if err := rdb.HSet(ctx, prefix+":{acme}:recs", "crm:1", bad).Err(); err != nil {
			t.Fatal(err)
		}
		if ms, err := ix.Lookup(ctx, "acme", []phone.Key{k}, 5); err == nil {
			t.Errorf("stored contact %q: %+v, want an error", bad, ms)
		}
		if ms, err := ix.SearchName(ctx, "acme", "ann", 5); err == nil {
			t.Errorf("search, stored contact %q: %+v, want an error", bad, ms)
		}
	}
}

// The name index is cut into pages that split as names arrive and go as
// they leave: through hundreds of contacts sharing a few words, renames and
// deletes, Redis finds by name exactly what Memory finds, and nothing of the
// name index is left once every contact is gone.
func TestRedisNamePagesSearchAsMemory(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ixs := []index.Index{index.NewMemory(), index.NewRedis(rdb, prefix)}
	ctx := t.Context()
	first := []string{"Anna", "Anne", "Zoë", "Jürgen", "Jan"}
	last := []string{"Müller", "Muller", "Meier", "Berg"}
	const n = 600
	put := func(i, v int) {
		t.Helper()
		c := events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: first[(i+v)%len(first)] + " " + last[(i/len(first)+v)%len(last)],
			UpdatedAt: time.UnixMilli(int64(1000 + i%13 + v))}
		for _, ix := range ixs {
			if err := ix.Upsert(ctx, "acme", index.Entry{Contact: c}); err != nil {
				t.Fatal(err)
			}
		}
	}
	agree := func(step string) {
		t.Helper()
		for _, q := range []string{"ann", "anna", "mul", "muller", "jan berg", "a m", "z", "zo mei", "x", "berg anne"} {
			for _, limit := range []int{1, 7, 1000} {
				want, err := ixs[0].SearchName(ctx, "acme", q, limit)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ixs[1].SearchName(ctx, "acme", q, limit)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := contactIDs(got), contactIDs(want); !reflect.DeepEqual(g, w) {
					t.Errorf("%s, %q limit %d: Redis finds %v, Memory %v", step, q, limit, g, w)
				}
			}
		}
	}
	for i := range n {
		put(i, 0)
	}
	agree("filled")
	for i := 0; i < n; i += 3 {
		put(i, 1)
	}
	agree("renamed")
	for i := 0; i < n; i += 2 {
		for _, ix := range ixs {
			if err := ix.Delete(ctx, "acme", "crm", fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	agree("half deleted")
	for i := 1; i < n; i += 2 {
		if err := ixs[1].Delete(ctx, "acme", "crm", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range scanKeys(t, rdb, prefix) {
		if k != prefix+":{acme}:tally" {
			t.Errorf("key %s left after deleting every contact", k)
		}
	}
}

func contactIDs(cs []events.Contact) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
