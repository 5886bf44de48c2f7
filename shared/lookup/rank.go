package lookup

import (
	"slices"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/tenant"
)

// RankWindow is how many contacts a lookup asks the index for when the
// tenant's ranking is not the index's own (more when MaxResults is more):
// enough to rank a shared number's contacts, few enough to keep the lookup
// one cheap round trip. A ranking orders the first RankWindow contacts in
// the index's order (exact matches, then the most recently updated); the
// answer is then cut to MaxResults.
const RankWindow = 10

// Rank orders ms as the tenant's ranking wants: exact matches before tail
// matches whatever the ranking, then by the ranking; contacts it cannot
// tell apart keep their order (the index's: the most recently updated
// first). ms in the index's order is already ranked by
// RankMostRecentlyUpdated, which does nothing.
func Rank(ranking tenant.ContactRanking, ms []index.Match) {
	if len(ms) < 2 {
		return
	}
	switch ranking {
	case tenant.RankAlphabetical:
		rankBy(ms, func(c *events.Contact) string { return strings.Join(index.FoldName(displayName(c)), " ") }, compareNames)
	case tenant.RankEarliestCreated:
		rankBy(ms, createdAt, time.Time.Compare)
	}
}

// rankBy sorts ms stably by kind, then by the key of each contact.
func rankBy[K any](ms []index.Match, key func(*events.Contact) K, cmp func(a, b K) int) {
	type keyed struct {
		kind phone.Kind
		key  K
		i    int
	}
	ks := make([]keyed, len(ms))
	for i := range ms {
		ks[i] = keyed{ms[i].Kind, key(&ms[i].Contact), i}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return cmp(a.key, b.key)
	})
	sorted := make([]index.Match, len(ms))
	for j, k := range ks {
		sorted[j] = ms[k.i]
	}
	copy(ms, sorted)
}

// displayName is what a phone shows for a contact: its name, or its
// company when it has none.
func displayName(c *events.Contact) string {
	if c.Name != "" {
		return c.Name
	}
	return c.Company
}

// compareNames orders folded names, a contact without one last.
func compareNames(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	return strings.Compare(a, b)
}

// createdAt is when the contact was created, or, when its source does not
// tell, when it was last updated.
func createdAt(c *events.Contact) time.Time {
	if c.CreatedAt.IsZero() {
		return c.UpdatedAt
	}
	return c.CreatedAt
}
