package index_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
)

// loadChanges are n random changes of a tenant of 300 contacts: numbers
// shared by many contacts (long postings), names of few words (many in a
// page), updates with ties in UpdatedAt (ranked by ref), link templates,
// and deletes, of loaded contacts and of unknown ones.
func loadChanges(rng *rand.Rand, n int) []index.Change {
	words := []string{"Anna", "Anne", "Zoë", "Jürgen", "Jan", "Müller", "Meier", "Berg", "Ng", "O'Brien"}
	out := make([]index.Change, n)
	for i := range out {
		id := fmt.Sprint(rng.IntN(300))
		source := []string{"crm", "sql"}[rng.IntN(2)]
		if rng.IntN(8) == 0 {
			out[i] = index.Deleted(source, id)
			continue
		}
		c := events.Contact{ID: id, Source: source,
			Name:      words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
			UpdatedAt: time.UnixMilli(1_700_000_000_000 + int64(rng.IntN(5))),
		}
		if rng.IntN(3) > 0 {
			c.ContactURI = []string{"https://acme.example.com/contacts/", "https://crm.example.org/p/"}[rng.IntN(2)] + id
		}
		var keys []phone.Key
		for range 1 + rng.IntN(3) {
			digits := fmt.Sprintf("41215520%03d", rng.IntN(40))
			c.Phones = append(c.Phones, events.Phone{Raw: digits, Normalized: "+" + digits})
			keys = append(keys, phone.Key("e:+"+digits), phone.Key("t:"+digits[2:]))
		}
		out[i] = index.Upserted(index.Entry{Contact: c, Keys: keys})
	}
	return out
}

// TestRedisLoadWritesWhatApplyBatchWrites loads changes into a new
// generation and applies the same to another index with ApplyBatch: both
// hold the same contacts, postings and name members, answer every lookup
// and search alike, and stay alike under ApplyBatch after the load.
func TestRedisLoadWritesWhatApplyBatchWrites(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	ctx := t.Context()
	applied := index.NewRedis(rdb, prefix+"-a")
	loadedIx := index.NewRedis(rdb, prefix+"-b")
	b, err := loadedIx.BeginGeneration(ctx, "acme", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	loaded := b.Index()
	rng := rand.New(rand.NewPCG(1, 2))
	l := b.Load()
	for range 8 {
		batch := loadChanges(rng, 150)
		if err := applied.ApplyBatch(ctx, "acme", batch); err != nil {
			t.Fatal(err)
		}
		if err := l.Apply(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Apply(ctx, loadChanges(rng, 1)); err == nil {
		t.Fatal("Apply after Finish succeeded")
	}
	agree := func(step string) {
		t.Helper()
		a := dumpTenant(t, rdb, prefix+"-a:{acme}:")
		l := dumpTenant(t, rdb, prefix+"-b:"+b.Generation().ID+":{acme}:")
		if len(a.recs) < 100 || len(a.postings) < 40 || len(a.names) < 3*64 {
			t.Fatalf("%s: too little to compare: %d contacts, %d postings, %d name members", step, len(a.recs), len(a.postings), len(a.names))
		}
		for _, c := range []struct {
			what      string
			got, want any
		}{
			{"stored contacts", l.recs, a.recs},
			{"postings", l.postings, a.postings},
			{"name members", l.names, a.names},
			{"tally", l.tally, a.tally},
		} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s: loaded %s differ from applied ones", step, c.what)
			}
		}
		for i := range 40 {
			digits := fmt.Sprintf("41215520%03d", i)
			for _, k := range []phone.Key{phone.Key("e:+" + digits), phone.Key("t:" + digits[2:])} {
				if g, w := mustLookup(t, loaded, []phone.Key{k}, 5), mustLookup(t, applied, []phone.Key{k}, 5); !reflect.DeepEqual(g, w) {
					t.Errorf("%s: lookup %s: loaded %v, applied %v", step, k, matchIDs(g), matchIDs(w))
				}
			}
		}
		for _, q := range []string{"ann", "anna m", "mul", "o", "zo", "ng berg", "x"} {
			g, err := loaded.SearchName(ctx, "acme", q, 20)
			if err != nil {
				t.Fatal(err)
			}
			w, err := applied.SearchName(ctx, "acme", q, 20)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s: search %q: loaded %v, applied %v", step, q, contactIDs(g), contactIDs(w))
			}
		}
	}
	agree("loaded")
	// Afterwards the generation is written as any other, its full pages
	// split and emptied by the scripts.
	for range 6 {
		batch := loadChanges(rng, 200)
		for _, ix := range []*index.Redis{applied, loaded.(*index.Redis)} {
			if err := ix.ApplyBatch(ctx, "acme", batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	agree("written after the load")
}

// tenantDump is one tenant's keys in one generation, read back: stored
// contacts with their link templates expanded (ids may differ), postings
// by bucket and key, and the name index's members, whose paging is
// checked as it is read.
type tenantDump struct {
	recs, postings, tally map[string]string
	names                 []string
}

func dumpTenant(t *testing.T, rdb redis.UniversalClient, base string) tenantDump {
	t.Helper()
	ctx := t.Context()
	d := tenantDump{postings: map[string]string{}}
	links := rdb.HGetAll(ctx, base+"links").Val()
	d.recs = rdb.HGetAll(ctx, base+"recs").Val()
	for rf, doc := range d.recs {
		head, body, _ := strings.Cut(doc, "\n")
		if words, id, ok := strings.Cut(head, "\t"); ok {
			d.recs[rf] = words + "\t=" + links[id] + "\n" + body
		}
	}
	d.tally = rdb.HGetAll(ctx, base+"tally").Val()
	for _, k := range scanKeys(t, rdb, base+"ph:") {
		for f, p := range rdb.HGetAll(ctx, k).Val() {
			d.postings[strings.TrimPrefix(k, base)+" "+f] = p
		}
	}
	bounds := rdb.ZRange(ctx, base+"names", 0, -1).Val()
	if len(bounds) > 0 && bounds[0] != "" {
		t.Errorf("%s: lowest page %q, want \"\"", base, bounds[0])
	}
	for i, b := range bounds {
		page := rdb.ZRange(ctx, base+"nm:"+b, 0, -1).Val()
		if len(page) == 0 || len(page) > 64 || page[0] < b || i+1 < len(bounds) && page[len(page)-1] >= bounds[i+1] {
			t.Errorf("%s: page %q holds %d members, %q to %q", base, b, len(page), page[0], page[len(page)-1])
		}
		d.names = append(d.names, page...)
	}
	if pages := len(scanKeys(t, rdb, base+"nm:")); pages != len(bounds) {
		t.Errorf("%s: %d pages, %d in the directory", base, pages, len(bounds))
	}
	return d
}

// failOnce fails the first pipeline it sees after it is armed: without
// sending it, or, sent, as if its replies were lost.
type failOnce struct {
	armed atomic.Bool
	sent  bool
}

func (h *failOnce) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *failOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *failOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.armed.CompareAndSwap(true, false) {
			return next(ctx, cmds)
		}
		if h.sent {
			_ = next(ctx, cmds)
		}
		return errors.New("connection reset")
	}
}

// TestRedisLoadAppliedAgainAfterAFailure: an Apply whose write failed
// (here its new link template and a delete) is applied again, a Finish
// that failed is called again, and the generation holds what it would
// have: whether the failed pipelines were sent or not.
func TestRedisLoadAppliedAgainAfterAFailure(t *testing.T) {
	for _, sent := range []bool{false, true} {
		t.Run(fmt.Sprintf("sent=%v", sent), func(t *testing.T) {
			rdb, prefix := redistest.Client(t)
			ctx := t.Context()
			ix := index.NewRedis(rdb, prefix)
			b, err := ix.BeginGeneration(ctx, "acme", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			l := b.Load()
			k := phone.Key("e:+41215522000")
			if err := l.Apply(ctx, []index.Change{index.Upserted(contactEntry("1", "Anna Berg", k))}); err != nil {
				t.Fatal(err)
			}
			second := contactEntry("2", "Jan Meier", k)
			second.Contact.ContactURI = "https://acme.example.com/contacts/2"
			batch := []index.Change{index.Deleted("crm", "1"), index.Upserted(second)}
			h := failOnce{sent: sent}
			rdb.AddHook(&h)
			h.armed.Store(true)
			if err := l.Apply(ctx, batch); err == nil {
				t.Fatal("Apply succeeded through a failed pipeline")
			}
			if err := l.Apply(ctx, batch); err != nil {
				t.Fatal(err)
			}
			h.armed.Store(true)
			if err := l.Finish(ctx); err == nil {
				t.Fatal("Finish succeeded through a failed pipeline")
			}
			if err := l.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			if st, err := b.Index().Stats(ctx, "acme"); err != nil || st != (index.Stats{Contacts: 1, Keys: 1}) {
				t.Fatalf("stats after the retried Finish: %+v, %v", st, err)
			}
			got := mustLookup(t, b.Index(), []phone.Key{k}, 5)
			if len(got) != 1 || got[0].Contact.ID != "2" || got[0].Contact.ContactURI != second.Contact.ContactURI {
				t.Fatalf("after the retried Apply: %+v", got)
			}
			if recs := slices.Sorted(maps.Keys(rdb.HGetAll(ctx, prefix+":"+b.Generation().ID+":{acme}:recs").Val())); !slices.Equal(recs, []string{"crm:2"}) {
				t.Fatalf("stored contacts %v, want only crm:2", recs)
			}
		})
	}
}
