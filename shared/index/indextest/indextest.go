// Package indextest is the conformance suite of index.Index: every
// implementation's tests call Run, so Memory and Redis answer alike.
package indextest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
)

// Run runs the suite. newIndex must return a fresh, empty index for each
// call; it gets the subtest's t, so it can skip, fail, or register cleanup.
// Subtests run in parallel. The Batch cases run when the index has
// ApplyBatch (the projector's Batcher), and skip otherwise.
func Run(t *testing.T, newIndex func(t *testing.T) index.Index) {
	tests := []struct {
		name string
		run  func(t *testing.T, ix index.Index)
	}{
		{"UpsertThenLookup", testUpsertThenLookup},
		{"UpsertReplacesKeys", testUpsertReplacesKeys},
		{"UpsertKeepsKeys", testUpsertKeepsKeys},
		{"Delete", testDelete},
		{"ManyContactsOneNumber", testManyContactsOneNumber},
		{"OneContactManyNumbers", testOneContactManyNumbers},
		{"TenantsIsolated", testTenantsIsolated},
		{"SourcesDistinct", testSourcesDistinct},
		{"Limit", testLimit},
		{"RankExactBeforeTail", testRankExactBeforeTail},
		{"RankTopLimitAcrossKeys", testRankTopLimitAcrossKeys},
		{"CandidateOrderIrrelevant", testCandidateOrderIrrelevant},
		{"RoundTrip", testRoundTrip},
		{"StoredCopyIsPrivate", testStoredCopyIsPrivate},
		{"Stats", testStats},
		{"SearchNameFolding", testSearchNameFolding},
		{"SearchNamePrefixAnyWord", testSearchNamePrefixAnyWord},
		{"SearchNameIntersects", testSearchNameIntersects},
		{"SearchNameRanking", testSearchNameRanking},
		{"SearchNameTenantsIsolated", testSearchNameTenantsIsolated},
		{"SearchNameLimit", testSearchNameLimit},
		{"SearchNameReplaced", testSearchNameReplaced},
		{"SearchNameNoWords", testSearchNameNoWords},
		{"Invalid", testInvalid},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentWriters", testConcurrentWriters},
		{"BatchLikeOneByOne", testBatchLikeOneByOne},
		{"BatchSameContactTwice", testBatchSameContactTwice},
		{"BatchLarge", testBatchLarge},
		{"BatchAgain", testBatchAgain},
		{"BatchEmpty", testBatchEmpty},
		{"BatchTenantsIsolated", testBatchTenantsIsolated},
		{"BatchInvalid", testBatchInvalid},
		{"BatchCancelledContext", testBatchCancelledContext},
		{"BatchConcurrentWriters", testBatchConcurrentWriters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newIndex(t))
		})
	}
}

const (
	tenant = "acme"
	source = "hubspot"
)

// Phone keys used throughout; kA… are exact, tA… tail.
const (
	kA phone.Key = "e:+41215522000"
	kB phone.Key = "e:+41791234567"
	kC phone.Key = "d:0215522"
	kD phone.Key = "e:+33142685300"
	tA phone.Key = "t:15522000"
	tB phone.Key = "t:91234567"
)

// base is a fixed time: at(n) is n minutes later, so UpdatedAt orders are
// obvious in the cases.
var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

// entry makes an entry of the default source.
func entry(id, name string, updated time.Time, keys ...phone.Key) index.Entry {
	return index.Entry{
		Contact: events.Contact{ID: id, Source: source, Name: name, UpdatedAt: updated},
		Keys:    keys,
	}
}

func upsert(t *testing.T, ix index.Index, tenant string, e index.Entry) {
	t.Helper()
	if err := ix.Upsert(t.Context(), tenant, e); err != nil {
		t.Fatalf("Upsert(%s, %s/%s): %v", tenant, e.Contact.Source, e.Contact.ID, err)
	}
}

func del(t *testing.T, ix index.Index, tenant, source, id string) {
	t.Helper()
	if err := ix.Delete(t.Context(), tenant, source, id); err != nil {
		t.Fatalf("Delete(%s, %s/%s): %v", tenant, source, id, err)
	}
}

func lookup(t *testing.T, ix index.Index, tenant string, limit int, keys ...phone.Key) []index.Match {
	t.Helper()
	ms, err := ix.Lookup(t.Context(), tenant, keys, limit)
	if err != nil {
		t.Fatalf("Lookup(%s, %v, %d): %v", tenant, keys, limit, err)
	}
	return ms
}

// ids renders matches as "id/kind" for readable comparisons.
func ids(ms []index.Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Contact.ID + "/" + m.Kind.String()
	}
	return out
}

func search(t *testing.T, ix index.Index, tenant, query string, limit int) []string {
	t.Helper()
	cs, err := ix.SearchName(t.Context(), tenant, query, limit)
	if err != nil {
		t.Fatalf("SearchName(%s, %q, %d): %v", tenant, query, limit, err)
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func stats(t *testing.T, ix index.Index, tenant string) index.Stats {
	t.Helper()
	s, err := ix.Stats(t.Context(), tenant)
	if err != nil {
		t.Fatalf("Stats(%s): %v", tenant, err)
	}
	return s
}

func wantIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func testUpsertThenLookup(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Alexa Holiday", at(0), kA))
	wantIDs(t, "lookup kA", ids(lookup(t, ix, tenant, 5, kA)), "1/exact")
	wantIDs(t, "lookup unknown", ids(lookup(t, ix, tenant, 5, kB)))
	wantIDs(t, "lookup no keys", ids(lookup(t, ix, tenant, 5)))
}

func testUpsertReplacesKeys(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Old", at(0), kA, tA))
	upsert(t, ix, tenant, entry("1", "New", at(1), kB))
	wantIDs(t, "lookup old kA", ids(lookup(t, ix, tenant, 5, kA, tA)))
	ms := lookup(t, ix, tenant, 5, kB)
	wantIDs(t, "lookup new kB", ids(ms), "1/exact")
	if len(ms) == 1 && ms[0].Contact.Name != "New" {
		t.Errorf("name = %q, want the new version's", ms[0].Contact.Name)
	}
}

// testUpsertKeepsKeys: a new version that keeps some numbers and name words
// ranks by its new UpdatedAt under the kept keys, and is still found by
// the kept words, as if everything had been written anew.
func testUpsertKeepsKeys(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Alexa Holiday", at(0), kA, tA, kB))
	upsert(t, ix, tenant, entry("2", "Bob Holiday", at(5), kA))
	wantIDs(t, "before", ids(lookup(t, ix, tenant, 5, kA)), "2/exact", "1/exact")
	upsert(t, ix, tenant, entry("1", "Alexa Smith", at(10), kA, tA, kC))
	wantIDs(t, "kept key ranks by the new time", ids(lookup(t, ix, tenant, 5, kA)), "1/exact", "2/exact")
	wantIDs(t, "kept tail key", ids(lookup(t, ix, tenant, 5, tA)), "1/tail")
	wantIDs(t, "left key", ids(lookup(t, ix, tenant, 5, kB)))
	wantIDs(t, "joined key", ids(lookup(t, ix, tenant, 5, kC)), "1/exact")
	wantIDs(t, "kept word", search(t, ix, tenant, "alexa", 5), "1")
	wantIDs(t, "left word", search(t, ix, tenant, "holiday", 5), "2")
	wantIDs(t, "joined word", search(t, ix, tenant, "smith", 5), "1")
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: 2, Keys: 3}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

func testDelete(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Alexa Holiday", at(0), kA, kB, tA))
	upsert(t, ix, tenant, entry("2", "Alexa Other", at(0), kD))
	del(t, ix, tenant, source, "1")
	wantIDs(t, "lookup after delete", ids(lookup(t, ix, tenant, 5, kA, kB, tA)))
	wantIDs(t, "search after delete", search(t, ix, tenant, "holiday", 5))
	wantIDs(t, "other contact kept", search(t, ix, tenant, "alexa", 5), "2")
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: 1, Keys: 1}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	del(t, ix, tenant, source, "1")       // again
	del(t, ix, tenant, source, "never")   // never existed
	del(t, ix, "nobody", source, "never") // tenant never existed
}

func testManyContactsOneNumber(t *testing.T, ix index.Index) {
	for _, n := range []int{3, 1, 4, 0, 2} {
		upsert(t, ix, tenant, entry(fmt.Sprint(n), "Desk", at(n), kA))
	}
	wantIDs(t, "lookup kA", ids(lookup(t, ix, tenant, 10, kA)),
		"4/exact", "3/exact", "2/exact", "1/exact", "0/exact")
}

func testOneContactManyNumbers(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Multi", at(0), kA, kB, kC, tA))
	for _, k := range []phone.Key{kA, kB, kC} {
		wantIDs(t, "lookup "+string(k), ids(lookup(t, ix, tenant, 5, k)), "1/exact")
	}
	wantIDs(t, "lookup tA", ids(lookup(t, ix, tenant, 5, tA)), "1/tail")
	wantIDs(t, "lookup all", ids(lookup(t, ix, tenant, 5, tA, kA, kB, kC)), "1/exact")
	wantIDs(t, "lookup repeated key", ids(lookup(t, ix, tenant, 5, kA, kA)), "1/exact")
}

func testTenantsIsolated(t *testing.T, ix index.Index) {
	upsert(t, ix, "t1", entry("1", "In One", at(0), kA))
	upsert(t, ix, "t2", entry("1", "In Two", at(0), kA))
	for tn, want := range map[string]string{"t1": "In One", "t2": "In Two"} {
		ms := lookup(t, ix, tn, 5, kA)
		if len(ms) != 1 || ms[0].Contact.Name != want {
			t.Errorf("lookup in %s = %+v, want only %q", tn, ms, want)
		}
	}
	wantIDs(t, "other tenant", ids(lookup(t, ix, "t3", 5, kA)))
	del(t, ix, "t1", source, "1")
	wantIDs(t, "t1 after delete", ids(lookup(t, ix, "t1", 5, kA)))
	wantIDs(t, "t2 after t1's delete", ids(lookup(t, ix, "t2", 5, kA)), "1/exact")
	if got, want := stats(t, ix, "t2"), (index.Stats{Contacts: 1, Keys: 1}); got != want {
		t.Errorf("t2 stats = %+v, want %+v", got, want)
	}
}

func testSourcesDistinct(t *testing.T, ix index.Index) {
	a := entry("1", "From HubSpot", at(1), kA)
	b := entry("1", "From Pipedrive", at(0), kA)
	b.Contact.Source = "pipedrive"
	upsert(t, ix, tenant, a)
	upsert(t, ix, tenant, b)
	ms := lookup(t, ix, tenant, 5, kA)
	if len(ms) != 2 || ms[0].Contact.Source != source || ms[1].Contact.Source != "pipedrive" {
		t.Fatalf("lookup = %+v, want the hubspot then the pipedrive contact", ms)
	}
	del(t, ix, tenant, "pipedrive", "1")
	ms = lookup(t, ix, tenant, 5, kA)
	if len(ms) != 1 || ms[0].Contact.Source != source {
		t.Errorf("after deleting pipedrive/1: %+v, want hubspot/1 only", ms)
	}
}

func testLimit(t *testing.T, ix index.Index) {
	for n := range 5 {
		upsert(t, ix, tenant, entry(fmt.Sprint(n), "Desk", at(n), kA))
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{0, nil},
		{-1, nil},
		{1, []string{"4/exact"}},
		{2, []string{"4/exact", "3/exact"}},
		{5, []string{"4/exact", "3/exact", "2/exact", "1/exact", "0/exact"}},
		{50, []string{"4/exact", "3/exact", "2/exact", "1/exact", "0/exact"}},
	}
	for _, tt := range tests {
		wantIDs(t, fmt.Sprintf("limit %d", tt.limit), ids(lookup(t, ix, tenant, tt.limit, kA)), tt.want...)
	}
}

func testRankExactBeforeTail(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("old-exact", "X", at(0), kA))
	upsert(t, ix, tenant, entry("new-exact", "X", at(5), kA))
	upsert(t, ix, tenant, entry("newest-tail", "X", at(9), tA))
	upsert(t, ix, tenant, entry("both", "X", at(7), kB, tA)) // exact through kB
	upsert(t, ix, tenant, entry("mid-tail", "X", at(3), tA))
	wantIDs(t, "ranking", ids(lookup(t, ix, tenant, 10, kA, kB, tA)),
		"both/exact", "new-exact/exact", "old-exact/exact", "newest-tail/tail", "mid-tail/tail")
	wantIDs(t, "tail only", ids(lookup(t, ix, tenant, 10, tA)),
		"newest-tail/tail", "both/tail", "mid-tail/tail")
}

// testRankTopLimitAcrossKeys checks the global top-limit when keys hold
// more than limit contacts, with one contact under an exact and a tail key:
// what Redis's per-key truncation must get right.
func testRankTopLimitAcrossKeys(t *testing.T, ix index.Index) {
	for n := range 6 {
		upsert(t, ix, tenant, entry(fmt.Sprintf("a%d", n), "X", at(30+n), kA))
	}
	for n := range 4 {
		upsert(t, ix, tenant, entry(fmt.Sprintf("b%d", n), "X", at(20+n), kB))
		upsert(t, ix, tenant, entry(fmt.Sprintf("t%d", n), "X", at(10+n), tA))
	}
	// The newest of the tail set, the oldest of kA: an exact match that
	// falls outside kA's top 3 while it heads tA's.
	upsert(t, ix, tenant, entry("z", "X", at(15), kA, tA))
	all := []phone.Key{tA, kA, kB}
	wantIDs(t, "top 3", ids(lookup(t, ix, tenant, 3, all...)), "a5/exact", "a4/exact", "a3/exact")
	exact := []string{"a5/exact", "a4/exact", "a3/exact", "a2/exact", "a1/exact", "a0/exact",
		"b3/exact", "b2/exact", "b1/exact", "b0/exact", "z/exact"}
	wantIDs(t, "top 11", ids(lookup(t, ix, tenant, 11, all...)), exact...)
	wantIDs(t, "top 12", ids(lookup(t, ix, tenant, 12, all...)), append(exact, "t3/tail")...)
	wantIDs(t, "tail top 2", ids(lookup(t, ix, tenant, 2, tA)), "z/tail", "t3/tail")
}

func testCandidateOrderIrrelevant(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "X", at(1), kA))
	upsert(t, ix, tenant, entry("2", "X", at(2), kB))
	upsert(t, ix, tenant, entry("3", "X", at(3), tA))
	upsert(t, ix, tenant, entry("4", "X", at(0), kC))
	want := []string{"2/exact", "1/exact", "4/exact", "3/tail"}
	orders := [][]phone.Key{
		{kA, kB, kC, tA},
		{tA, kC, kB, kA},
		{kB, tA, kA, kC},
	}
	for _, keys := range orders {
		wantIDs(t, fmt.Sprint("lookup ", keys), ids(lookup(t, ix, tenant, 10, keys...)), want...)
	}
}

// fullContact sets every field, with CustomData deliberately out of
// alphabetical order and UpdatedAt in another zone with sub-ms precision.
func fullContact() events.Contact {
	pos := 3
	zurich := time.FixedZone("CET", 3600)
	return events.Contact{
		ID:         "0031x00000AbCdE",
		Source:     "salesforce",
		Type:       "lead",
		Name:       "Zoë Müller-Lüdenscheidt",
		Title:      "Head of \"Quotes\" & <Tags>",
		Company:    "Ünïcode AG",
		ContactURI: "https://example.my.salesforce.com/0031x00000AbCdE",
		CompanyURI: "https://example.my.salesforce.com/0011x00000XyZ",
		CRMName:    "Salesforce",
		CRMLogo:    "https://example.com/sf.svg",
		Phones: []events.Phone{
			{Raw: "+41 21 552 20 00", Normalized: "+41215522000", Label: "work"},
			{Raw: "0215522", Label: "legacy"},
		},
		Emails: []string{"zoe@example.com", "zm@example.org"},
		CustomData: events.CustomData{
			{Key: "zeta", Value: "last letter first"},
			{Key: "alpha", Value: "1"},
			{Key: "Mitte", Value: "ünïcödé ✓"},
		},
		Routing: events.Routing{
			DirectLine:      "+41215522001",
			QueuePosition:   &pos,
			RouteIdentifier: "sales-fr",
			Language:        "fr",
			OutboundNumber:  "+41215522999",
		},
		UpdatedAt: time.Date(2025, 3, 1, 13, 4, 5, 678_901_234, zurich),
	}
}

// sameContact compares UpdatedAt as an instant to the millisecond, which is
// what the index promises, and every other field exactly.
func sameContact(t *testing.T, what string, got, want events.Contact) {
	t.Helper()
	ms := time.Millisecond
	if !got.UpdatedAt.Truncate(ms).Equal(want.UpdatedAt.Truncate(ms)) {
		t.Errorf("%s: UpdatedAt = %v, want %v", what, got.UpdatedAt, want.UpdatedAt)
	}
	got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

func testRoundTrip(t *testing.T, ix index.Index) {
	c := fullContact()
	upsert(t, ix, tenant, index.Entry{Contact: c, Keys: []phone.Key{kA, kC, tA}})
	ms := lookup(t, ix, tenant, 1, kA)
	if len(ms) != 1 {
		t.Fatalf("lookup = %v, want the contact", ids(ms))
	}
	sameContact(t, "lookup", ms[0].Contact, c)
	cs, err := ix.SearchName(t.Context(), tenant, "lüdensch", 1)
	if err != nil || len(cs) != 1 {
		t.Fatalf("SearchName = %d contacts, %v; want the contact", len(cs), err)
	}
	sameContact(t, "search", cs[0], c)
}

// testStoredCopyIsPrivate: neither the caller's slices nor a returned
// contact alias the stored one.
func testStoredCopyIsPrivate(t *testing.T, ix index.Index) {
	c := fullContact()
	upsert(t, ix, tenant, index.Entry{Contact: c, Keys: []phone.Key{kA}})
	want := fullContact()
	c.Phones[0].Raw = "changed"
	c.CustomData[0].Value = "changed"
	*c.Routing.QueuePosition = 99
	got := lookup(t, ix, tenant, 1, kA)[0].Contact
	sameContact(t, "after changing the input", got, want)
	got.Emails[0] = "changed"
	*got.Routing.QueuePosition = 42
	sameContact(t, "after changing a result", lookup(t, ix, tenant, 1, kA)[0].Contact, want)
}

func testStats(t *testing.T, ix index.Index) {
	check := func(what string, want index.Stats) {
		t.Helper()
		if got := stats(t, ix, tenant); got != want {
			t.Errorf("%s: stats = %+v, want %+v", what, got, want)
		}
	}
	check("empty", index.Stats{})
	upsert(t, ix, tenant, entry("1", "One", at(0), kA, kB))
	upsert(t, ix, tenant, entry("2", "Two", at(0), kB, kC))
	upsert(t, ix, tenant, entry("3", "No phone", at(0)))
	check("three contacts", index.Stats{Contacts: 3, Keys: 3})
	upsert(t, ix, tenant, entry("1", "One", at(1), kB, kB)) // kA gone, repeated key
	check("replaced", index.Stats{Contacts: 3, Keys: 2})
	upsert(t, ix, tenant, entry("1", "One", at(2), kB)) // same keys again
	check("same again", index.Stats{Contacts: 3, Keys: 2})
	del(t, ix, tenant, source, "2")
	check("deleted 2", index.Stats{Contacts: 2, Keys: 1})
	del(t, ix, tenant, source, "1")
	del(t, ix, tenant, source, "3")
	check("deleted all", index.Stats{})
	check("other tenant", index.Stats{})
}

func testSearchNameFolding(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("jm", "Jürgen Müller", at(0)))
	upsert(t, ix, tenant, entry("zs", "ZOË SALDAÑA", at(1)))
	upsert(t, ix, tenant, entry("so", "Søren Łukasz Straße", at(2)))
	tests := []struct {
		query string
		want  []string
	}{
		{"muller", []string{"jm"}},
		{"Müller", []string{"jm"}},
		{"MÜL", []string{"jm"}},
		{"jurg", []string{"jm"}},
		{"zoe", []string{"zs"}},
		{"Zoë saldana", []string{"zs"}},
		{"soren lukasz strasse", []string{"so"}},
		{"mueller", nil},
	}
	for _, tt := range tests {
		wantIDs(t, fmt.Sprintf("search %q", tt.query), search(t, ix, tenant, tt.query, 10), tt.want...)
	}
}

func testSearchNamePrefixAnyWord(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("ah", "Alexa Holiday", at(0)))
	upsert(t, ix, tenant, entry("mc", "Marie-Claire O'Neil", at(1)))
	for _, q := range []string{"hol", "ale", "Holiday", "h"} {
		wantIDs(t, fmt.Sprintf("search %q", q), search(t, ix, tenant, q, 10), "ah")
	}
	for _, q := range []string{"claire", "neil", "marie"} {
		wantIDs(t, fmt.Sprintf("search %q", q), search(t, ix, tenant, q, 10), "mc")
	}
	wantIDs(t, `search "lexa" (not a prefix)`, search(t, ix, tenant, "lexa", 10))
}

func testSearchNameIntersects(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("ah", "Alexa Holiday", at(0)))
	upsert(t, ix, tenant, entry("as", "Alexa Smith", at(1)))
	upsert(t, ix, tenant, entry("bh", "Bob Holiday", at(2)))
	wantIDs(t, "alexa hol", search(t, ix, tenant, "alexa hol", 10), "ah")
	wantIDs(t, "ho al", search(t, ix, tenant, "ho, al", 10), "ah")
	wantIDs(t, "holiday", search(t, ix, tenant, "holiday", 10), "bh", "ah")
	wantIDs(t, "alexa bob", search(t, ix, tenant, "alexa bob", 10))
}

func testSearchNameRanking(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("ann-lee", "Ann Lee", at(0)))
	upsert(t, ix, tenant, entry("anna", "Anna Berg", at(5)))
	upsert(t, ix, tenant, entry("annette", "Annette Lee", at(3)))
	upsert(t, ix, tenant, entry("ann-new", "Ann Leeds", at(4)))
	// Whole-word hits first ("ann"), newest first within a count.
	wantIDs(t, "ann", search(t, ix, tenant, "ann", 10), "ann-new", "ann-lee", "anna", "annette")
	// "ann lee": ann-lee has 2 whole hits, ann-new 1 (lee only starts
	// leeds), annette 1 (ann only starts annette); anna has no "lee".
	wantIDs(t, "ann lee", search(t, ix, tenant, "ann lee", 10), "ann-lee", "ann-new", "annette")
}

func testSearchNameTenantsIsolated(t *testing.T, ix index.Index) {
	upsert(t, ix, "t1", entry("1", "Alexa Holiday", at(0)))
	upsert(t, ix, "t2", entry("1", "Alexa Other", at(0)))
	wantIDs(t, "t1 holiday", search(t, ix, "t1", "holiday", 10), "1")
	wantIDs(t, "t2 holiday", search(t, ix, "t2", "holiday", 10))
	wantIDs(t, "t3 alexa", search(t, ix, "t3", "alexa", 10))
}

func testSearchNameLimit(t *testing.T, ix index.Index) {
	for n := range 5 {
		upsert(t, ix, tenant, entry(fmt.Sprint(n), fmt.Sprintf("Smith %d", n), at(n)))
	}
	wantIDs(t, "limit 2", search(t, ix, tenant, "smith", 2), "4", "3")
	wantIDs(t, "limit 50", search(t, ix, tenant, "smith", 50), "4", "3", "2", "1", "0")
	wantIDs(t, "limit 0", search(t, ix, tenant, "smith", 0))
}

func testSearchNameReplaced(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Old Name", at(0), kA))
	upsert(t, ix, tenant, entry("1", "New Name", at(1), kA))
	wantIDs(t, "old", search(t, ix, tenant, "old", 10))
	wantIDs(t, "new", search(t, ix, tenant, "new", 10), "1")
	wantIDs(t, "name", search(t, ix, tenant, "name", 10), "1")
}

func testSearchNameNoWords(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Alexa Holiday", at(0)))
	upsert(t, ix, tenant, entry("2", "", at(0), kA))
	for _, q := range []string{"", "  ", "-+ ./"} {
		wantIDs(t, fmt.Sprintf("search %q", q), search(t, ix, tenant, q, 10))
	}
}

func testInvalid(t *testing.T, ix index.Index) {
	ctx := t.Context()
	good := entry("1", "X", at(0), kA)
	noID := entry("", "X", at(0), kA)
	badSource := entry("1", "X", at(0), kA)
	badSource.Contact.Source = "Hub Spot"
	tests := []struct {
		name string
		err  error
	}{
		{"upsert empty tenant", ix.Upsert(ctx, "", good)},
		{"upsert tenant with hash tag", ix.Upsert(ctx, "a}b{", good)},
		{"upsert empty id", ix.Upsert(ctx, tenant, noID)},
		{"upsert bad source", ix.Upsert(ctx, tenant, badSource)},
		{"delete empty id", ix.Delete(ctx, tenant, source, "")},
		{"delete bad tenant", ix.Delete(ctx, "A", source, "1")},
		{"lookup bad tenant", second(ix.Lookup(ctx, "{x}", []phone.Key{kA}, 1))},
		{"search bad tenant", second(ix.SearchName(ctx, "", "x", 1))},
		{"stats bad tenant", second(ix.Stats(ctx, "x y"))},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, events.ErrInvalid) {
			t.Errorf("%s: err = %v, want events.ErrInvalid", tt.name, tt.err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func testCancelledContext(t *testing.T, ix index.Index) {
	upsert(t, ix, tenant, entry("1", "Alexa", at(0), kA))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		err  error
	}{
		{"upsert", ix.Upsert(ctx, tenant, entry("2", "X", at(0), kB))},
		{"delete", ix.Delete(ctx, tenant, source, "1")},
		{"lookup", second(ix.Lookup(ctx, tenant, []phone.Key{kA}, 1))},
		{"search", second(ix.SearchName(ctx, tenant, "alexa", 1))},
		{"stats", second(ix.Stats(ctx, tenant))},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", tt.name, tt.err)
		}
	}
	wantIDs(t, "nothing changed", ids(lookup(t, ix, tenant, 5, kA, kB)), "1/exact")
}

// testConcurrentWriters races writers on distinct contacts sharing a key,
// and on one contact whose every version has a different key: afterwards
// the index must hold exactly one version's keys.
func testConcurrentWriters(t *testing.T, ix index.Index) {
	const writers, rounds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*3) // three calls per round
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				id := fmt.Sprintf("w%d-%d", w, r)
				errs <- ix.Upsert(t.Context(), tenant, entry(id, "Shared", at(r), kA))
				key := phone.Key(fmt.Sprintf("e:+4179000%02d%02d", w, r))
				errs <- ix.Upsert(t.Context(), tenant, entry("contested", "Contested", at(r), key))
				_, err := ix.Lookup(t.Context(), tenant, []phone.Key{kA, key}, 3)
				errs <- err
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
	if got := len(lookup(t, ix, tenant, 1000, kA)); got != writers*rounds {
		t.Errorf("contacts on the shared key = %d, want %d", got, writers*rounds)
	}
	// kA plus the one key of the surviving version of "contested".
	if got, want := stats(t, ix, tenant), (index.Stats{Contacts: writers*rounds + 1, Keys: 2}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}
