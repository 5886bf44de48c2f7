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

// Lookups up to HitListLen read hit lists, larger ones run the script over
// the sorted sets: through upserts that move contacts up, down and off a
// number, and deletes, both must rank alike.
func TestRedisHitListsAgreeWithScript(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	ctx := t.Context()
	const exact, tail phone.Key = "e:+41215522000", "t:215522000"
	n := 3 * index.HitListLen
	upsert := func(i int, ms int64, keys ...phone.Key) {
		t.Helper()
		c := events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: fmt.Sprint("Contact ", i), UpdatedAt: time.UnixMilli(ms)}
		if err := ix.Upsert(ctx, "acme", index.Entry{Contact: c, Keys: keys}); err != nil {
			t.Fatal(err)
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
		keys := []phone.Key{exact, tail}
		all, err := ix.Lookup(ctx, "acme", keys, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1, index.HitListLen / 2, index.HitListLen} {
			got, err := ix.Lookup(ctx, "acme", keys, limit)
			if err != nil {
				t.Fatal(err)
			}
			if want := all[:min(limit, len(all))]; !reflect.DeepEqual(matchIDs(got), matchIDs(want)) {
				t.Errorf("%s, limit %d: hit lists rank %v, the script %v", step, limit, matchIDs(got), matchIDs(want))
			}
		}
	}
	agree("filled")
	upsert(0, 9000, exact, tail) // to the top
	upsert(2, 1, exact)          // to the bottom
	upsert(5, 1600)              // off every number
	agree("moved")
	for _, m := range mustLookup(t, ix, []phone.Key{exact}, 3) {
		if err := ix.Delete(ctx, "acme", m.Contact.Source, m.Contact.ID); err != nil {
			t.Fatal(err)
		}
	}
	agree("top three deleted")
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

// A hit list that is not what the index writes is an error naming it, not
// a wrong answer.
func TestRedisCorruptHitList(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ix := index.NewRedis(rdb, prefix)
	k := phone.Key("e:+41215522000")
	for _, bad := range []string{"x", "1:5:ab", "1:2:ab9:{}", "1:2:ab-1:"} {
		if err := rdb.Set(t.Context(), prefix+":{acme}:h:"+string(k), bad, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if ms, err := ix.Lookup(t.Context(), "acme", []phone.Key{k}, 5); err == nil {
			t.Errorf("hit list %q: %+v, want an error", bad, ms)
		}
	}
}
