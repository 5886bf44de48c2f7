package lookup

import (
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/tenant"
)

// With the default ranking and a single source, ranking and merging add no
// allocation to a lookup.
func TestDefaultRankingAllocatesNothing(t *testing.T) {
	ms := make([]index.Match, 5)
	for i := range ms {
		ms[i].Contact = events.Contact{ID: string(rune('a' + i)), Source: "crm", Name: "Same Name", UpdatedAt: time.Unix(int64(10-i), 0)}
	}
	allocs := testing.AllocsPerRun(100, func() {
		Rank(tenant.RankMostRecentlyUpdated, ms)
		if kept, merged := merge(ms); len(kept) != len(ms) || merged != nil {
			t.Fatal("one source merged")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}
