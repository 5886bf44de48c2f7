package lookup_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/tenant"
)

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(days int) time.Time { return day0.AddDate(0, 0, days) }

func ids(ms []index.Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Contact.ID
	}
	return out
}

func TestRank(t *testing.T) {
	exact := func(id, name, company string, created, updated time.Time) index.Match {
		return index.Match{Contact: events.Contact{ID: id, Source: "crm", Name: name, Company: company, CreatedAt: created, UpdatedAt: updated}}
	}
	tail := func(m index.Match) index.Match { m.Kind = phone.Tail; return m }
	// In the index's order: exact matches, newest update first, then the
	// tail match.
	indexed := []index.Match{
		exact("zoe", "Zoë Zimmermann", "", at(5), at(9)),
		exact("emile", "Émile Favre", "", time.Time{}, at(8)), // created unknown: updated at(8)
		exact("anna-new", "anna berger", "", at(2), at(7)),
		exact("nobody", "", "", at(1), at(6)),
		exact("acme", "", "Acme AG", at(2), at(5)),
		exact("anna-old", "Anna Berger", "", at(3), at(4)),
		tail(exact("aaron", "Aaron Aebi", "", at(0), at(10))),
	}
	tests := []struct {
		ranking tenant.ContactRanking
		want    []string
	}{
		{tenant.RankMostRecentlyUpdated, []string{"zoe", "emile", "anna-new", "nobody", "acme", "anna-old", "aaron"}},
		{"", []string{"zoe", "emile", "anna-new", "nobody", "acme", "anna-old", "aaron"}},
		// Folded names: "acme ag" (a company-only contact by its
		// company), "anna berger" twice (a tie: the more recently updated
		// first, as the index had them), "emile", "zoe"; no name last;
		// the tail match after every exact one.
		{tenant.RankAlphabetical, []string{"acme", "anna-new", "anna-old", "emile", "zoe", "nobody", "aaron"}},
		// Created: nobody 1, anna-new 2 and acme 2 (a tie: index order),
		// anna-old 3, zoe 5, emile 8 (its update time); the tail match last.
		{tenant.RankEarliestCreated, []string{"nobody", "anna-new", "acme", "anna-old", "zoe", "emile", "aaron"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.ranking), func(t *testing.T) {
			ms := slices.Clone(indexed)
			lookup.Rank(tt.ranking, ms)
			if got := ids(ms); !slices.Equal(got, tt.want) {
				t.Errorf("ranked %v, want %v", got, tt.want)
			}
		})
	}
}

// upsert indexes contacts under +41215522000 (and its tail), as the
// projector would: phones normalised.
func upsert(t *testing.T, idx index.Index, cs ...events.Contact) {
	t.Helper()
	for _, c := range cs {
		if len(c.Phones) == 0 {
			c.Phones = []events.Phone{{Raw: "021 552 20 00", Normalized: "+41215522000"}}
		}
		keys := []phone.Key{"t:215522000"}
		if c.Phones[0].Normalized != "" {
			keys = append(keys, phone.Key("e:"+c.Phones[0].Normalized))
		}
		if err := idx.Upsert(context.Background(), "acme", index.Entry{Contact: c, Keys: keys}); err != nil {
			t.Fatal(err)
		}
	}
}

// A ranking other than the index's own ranks more contacts than the
// answer shows: the alphabetically first of seven, not of the three most
// recently updated.
func TestLookupRanksMoreThanItAnswers(t *testing.T) {
	idx := index.NewMemory()
	for i, name := range []string{"Gina", "Fritz", "Eva", "Dora", "Carl", "Bea", "Anton"} {
		upsert(t, idx, events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: name, UpdatedAt: at(10 - i), CreatedAt: at(i)})
	}
	// A tail match only (another number ending alike), named first of all.
	upsert(t, idx, events.Contact{ID: "tail", Source: "crm", Name: "Aaron", UpdatedAt: at(20),
		Phones: []events.Phone{{Raw: "0049 215522000", Normalized: "+49215522000"}}})
	tests := []struct {
		ranking tenant.ContactRanking
		want    []string
	}{
		{tenant.RankMostRecentlyUpdated, []string{"0", "1", "2"}},
		{tenant.RankAlphabetical, []string{"6", "5", "4"}},
		{tenant.RankEarliestCreated, []string{"0", "1", "2"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.ranking), func(t *testing.T) {
			tn := *acme
			tn.MaxResults, tn.ContactRanking = 3, tt.ranking
			res, err := lookup.New(idx).Lookup(context.Background(), &tn, "021 552 20 00")
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res.Matches); !slices.Equal(got, tt.want) {
				t.Errorf("answered %v, want %v", got, tt.want)
			}
		})
	}
	// Created in reverse of the update order: earliestCreated differs.
	idx2 := index.NewMemory()
	for i := range 5 {
		upsert(t, idx2, events.Contact{ID: fmt.Sprint(i), Source: "crm", Name: "N", UpdatedAt: at(10 - i), CreatedAt: at(10 - i)})
	}
	tn := *acme
	tn.MaxResults, tn.ContactRanking = 2, tenant.RankEarliestCreated
	if res, _ := lookup.New(idx2).Lookup(context.Background(), &tn, "0215522000"); !slices.Equal(ids(res.Matches), []string{"4", "3"}) {
		t.Errorf("earliest created answered %v, want [4 3]", ids(res.Matches))
	}
}

// The same person from two sources is answered once, by the entry ranked
// first, with the other kept; different people on one number are not
// merged, nor are two records of one source or a tail match.
func TestLookupAnswersTheSamePersonOnce(t *testing.T) {
	idx := index.NewMemory()
	upsert(t, idx,
		events.Contact{ID: "a-1", Source: "admin", Name: "Hans Müller", UpdatedAt: at(3)},
		events.Contact{ID: "512", Source: "hubspot", Name: "Hans MÜLLER", ContactURI: "https://hubspot/512", UpdatedAt: at(2)},
		events.Contact{ID: "77", Source: "pipedrive", Name: "Muller, Hans", UpdatedAt: at(1)},
		events.Contact{ID: "513", Source: "hubspot", Name: "Hans Müller", UpdatedAt: at(0)}, // a second HubSpot record
		events.Contact{ID: "a-2", Source: "admin", Name: "Greta Müller", UpdatedAt: at(4)},
		events.Contact{ID: "a-3", Source: "admin", Company: "Müller AG", UpdatedAt: at(-1)},
		events.Contact{ID: "h-3", Source: "hubspot", Company: "Müller AG", UpdatedAt: at(-2)},
	)
	tn := *acme
	tn.MaxResults = 10
	res, err := lookup.New(idx).Lookup(context.Background(), &tn, "+41 21 552 20 00")
	if err != nil {
		t.Fatal(err)
	}
	// Company-only contacts are never one person: both answered.
	if want := []string{"a-2", "a-1", "513", "a-3", "h-3"}; !slices.Equal(ids(res.Matches), want) {
		t.Fatalf("answered %v, want %v", ids(res.Matches), want)
	}
	if len(res.Merged) != len(res.Matches) || len(res.Merged[0]) != 0 || len(res.Merged[2]) != 0 {
		t.Fatalf("merged %+v", res.Merged)
	}
	var folded []string
	for _, c := range res.Merged[1] {
		folded = append(folded, c.Source+"/"+c.ID)
	}
	if want := []string{"hubspot/512", "pipedrive/77"}; !slices.Equal(folded, want) {
		t.Errorf("folded into a-1: %v, want %v", folded, want)
	}
	if c, ok := res.MergedFrom(1, "hubspot"); !ok || c.ID != "512" {
		t.Errorf("hubspot entry of a-1: %v %v", c.ID, ok)
	}
	if c, ok := res.MergedFrom(1, "admin"); !ok || c.ID != "a-1" {
		t.Errorf("admin entry of a-1: %v %v", c.ID, ok)
	}
	if _, ok := res.MergedFrom(0, "hubspot"); ok {
		t.Error("Greta has no hubspot entry")
	}

	// Alphabetical: "Muller, Hans" sorts under M, yet is folded into the
	// Hans Müller ranked first.
	tn.ContactRanking = tenant.RankAlphabetical
	res, _ = lookup.New(idx).Lookup(context.Background(), &tn, "0215522000")
	if want := []string{"a-2", "a-1", "513", "a-3", "h-3"}; !slices.Equal(ids(res.Matches), want) {
		t.Errorf("alphabetical answered %v, want %v", ids(res.Matches), want)
	}

	// A tail match is not the same number.
	idx = index.NewMemory()
	upsert(t, idx,
		events.Contact{ID: "a-1", Source: "admin", Name: "Hans Müller", UpdatedAt: at(3)},
		events.Contact{ID: "512", Source: "hubspot", Name: "Hans Müller", UpdatedAt: at(2),
			Phones: []events.Phone{{Raw: "0049 215522000", Normalized: "+49215522000"}}},
	)
	res, _ = lookup.New(idx).Lookup(context.Background(), &tn, "0215522000")
	if !slices.Equal(ids(res.Matches), []string{"a-1", "512"}) || res.Merged != nil {
		t.Errorf("tail match merged: %v %v", ids(res.Matches), res.Merged)
	}
}

// Merging happens before the answer is cut to MaxResults.
func TestLookupMergesBeforeCutting(t *testing.T) {
	idx := index.NewMemory()
	upsert(t, idx,
		events.Contact{ID: "a-1", Source: "admin", Name: "Hans Müller", UpdatedAt: at(3)},
		events.Contact{ID: "512", Source: "hubspot", Name: "Hans Müller", UpdatedAt: at(2)},
		events.Contact{ID: "a-2", Source: "admin", Name: "Greta Müller", UpdatedAt: at(1)},
	)
	tn := *acme
	tn.MaxResults, tn.ContactRanking = 2, tenant.RankEarliestCreated
	res, _ := lookup.New(idx).Lookup(context.Background(), &tn, "0215522000")
	// Created (their update times): a-2, 512, a-1: HubSpot's entry answers
	// for Hans, with the admin one folded into it.
	if !slices.Equal(ids(res.Matches), []string{"a-2", "512"}) || len(res.Merged) != 2 || len(res.Merged[1]) != 1 || res.Merged[1][0].ID != "a-1" {
		t.Errorf("answered %v merged %+v", ids(res.Matches), res.Merged)
	}
}
