package index_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/index/indextest"
	"github.com/calldex/calldex/shared/phone"
)

func TestMemory(t *testing.T) {
	indextest.Run(t, func(*testing.T) index.Index { return index.NewMemory() })
}

// Memory finds contacts and keys by hash and checks every hit against the
// record: with every string in a handful of hash chains, it must still
// answer exactly.
func TestMemoryHashCollisions(t *testing.T) {
	indextest.Run(t, func(*testing.T) index.Index {
		return index.NewMemoryHashed(func(s string) uint64 { return uint64(len(s) % 3) })
	})
}

func BenchmarkMemoryLookup(b *testing.B) {
	ix := index.NewMemory()
	fillBench(b, ix)
	benchLookup(b, ix)
}

// Benchmark data, shared by the Memory and Redis benchmarks.
const (
	benchTenant   = "bench"
	benchContacts = 100_000
)

// benchEntry is contact i of the benchmark tenant: a Swiss landline, the
// tail of it, every fifth contact a mobile too, and a realistic document.
func benchEntry(i int) index.Entry {
	first := []string{"Alexa", "Jürgen", "Zoë", "Marie-Claire", "Søren", "Ann", "Bob", "Chloé"}
	last := []string{"Holiday", "Müller", "Saldaña", "O'Neil", "Berg", "Smith", "Dubois", "Rossi"}
	landline := fmt.Sprintf("+4121%07d", i)
	e := index.Entry{
		Contact: events.Contact{
			ID:         fmt.Sprintf("003%012d", i),
			Source:     "hubspot",
			Type:       "contact",
			Name:       first[i%len(first)] + " " + last[(i/len(first))%len(last)],
			Company:    fmt.Sprintf("Company %d SA", i%5000),
			ContactURI: fmt.Sprintf("https://app.hubspot.com/contacts/4711/record/0-1/%d", i),
			Phones:     []events.Phone{{Raw: landline, Normalized: landline, Label: "work"}},
			Emails:     []string{fmt.Sprintf("contact%d@example.com", i)},
			UpdatedAt:  time.UnixMilli(1_700_000_000_000 + int64(i)*1000).UTC(),
		},
		Keys: []phone.Key{phone.Key("e:" + landline), phone.Key("t:" + landline[len(landline)-8:])},
	}
	if i%5 == 0 {
		mobile := fmt.Sprintf("+4179%07d", i)
		e.Contact.Phones = append(e.Contact.Phones, events.Phone{Raw: mobile, Normalized: mobile, Label: "mobile"})
		e.Keys = append(e.Keys, phone.Key("e:"+mobile))
	}
	return e
}

// fillBench indexes benchContacts contacts with a few writers in parallel.
func fillBench(b *testing.B, ix index.Index) {
	b.Helper()
	const writers = 32
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < benchContacts; i += writers {
				if err := ix.Upsert(ctx, benchTenant, benchEntry(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("fill: %v", err)
	}
}

// benchLookup looks up random numbers in an index filled by fillBench, half
// of them unknown, with three candidates each, as the ringing path does.
// The candidate lists are made before the clock starts.
func benchLookup(b *testing.B, ix index.Index) {
	type query struct {
		keys  []phone.Key
		known bool
	}
	rng := rand.New(rand.NewPCG(1, 2))
	queries := make([]query, 4096)
	for q := range queries {
		i := rng.IntN(2 * benchContacts) // ≥ benchContacts: unknown
		n := fmt.Sprintf("%07d", i)
		queries[q] = query{
			keys:  []phone.Key{phone.Key("e:+4121" + n), phone.Key("e:+4179" + n), phone.Key("t:21" + n[1:])},
			known: i < benchContacts,
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	q := 0
	for b.Loop() {
		query := queries[q%len(queries)]
		q++
		ms, err := ix.Lookup(ctx, benchTenant, query.keys, 5)
		if err != nil {
			b.Fatal(err)
		}
		if (len(ms) > 0) != query.known {
			b.Fatalf("lookup %v: %d matches", query.keys, len(ms))
		}
	}
}
