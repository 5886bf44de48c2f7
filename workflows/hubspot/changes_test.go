package hubspot

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// searchIndex is a fake of the contacts search endpoint that evaluates the
// filters ListChanges uses (lastmodifieddate GTE/EQ, hs_object_id GT, one
// sort, limit) over an in-memory set, as documented at
// developers.hubspot.com/docs/api/crm/search. Ties in lastmodifieddate come
// back in descending id order, so nothing may rely on HubSpot's tie order.
type searchIndex struct {
	t        *testing.T
	mu       sync.Mutex
	modified map[int]int64 // id → lastmodifieddate (ms)
	searches int
	// beforeSearch runs (locked) before the n-th search is answered.
	beforeSearch func(n int, modified map[int]int64)
}

func (s *searchIndex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(`{"results":[]}`))
		return
	}
	var req searchRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.t.Errorf("search body: %v", err)
		return
	}
	if req.After != "" {
		s.t.Errorf("ListChanges paged with after=%q: offset paging skips contacts modified during the run", req.After)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.searches++
	if s.beforeSearch != nil {
		s.beforeSearch(s.searches, s.modified)
	}
	type hit struct {
		id  int
		mod int64
	}
	var hits []hit
	for id, mod := range s.modified {
		ok := true
		for _, f := range req.FilterGroups[0].Filters {
			v, _ := strconv.ParseInt(f.Value, 10, 64)
			switch f.PropertyName + " " + f.Operator {
			case "lastmodifieddate GTE":
				ok = ok && mod >= v
			case "lastmodifieddate EQ":
				ok = ok && mod == v
			case "hs_object_id GT":
				ok = ok && int64(id) > v
			default:
				s.t.Errorf("unexpected filter %+v", f)
			}
		}
		if ok {
			hits = append(hits, hit{id, mod})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if req.Sorts[0].PropertyName == "hs_object_id" {
			return cmp.Compare(a.id, b.id)
		}
		return cmp.Or(cmp.Compare(a.mod, b.mod), cmp.Compare(b.id, a.id))
	})
	resp := searchResponse{Total: len(hits)}
	for _, h := range hits[:min(req.Limit, len(hits))] {
		id := strconv.Itoa(h.id)
		resp.Results = append(resp.Results, object{ID: id, Properties: props{
			"firstname": "c" + id, "lastmodifieddate": time.UnixMilli(h.mod).UTC().Format(time.RFC3339Nano),
		}})
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// syncAll runs ListChanges from cur while More, and returns every upsert
// (id → lastmodifieddate) and the last cursor.
func syncAll(t *testing.T, c *Connector, cur string) (map[string]int64, string, int) {
	t.Helper()
	seen := map[string]int64{}
	for pages := 1; pages <= 100; pages++ {
		p, err := c.ListChanges(context.Background(), cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range p.Upserts {
			seen[ct.ID] = max(seen[ct.ID], ct.UpdatedAt.UnixMilli())
		}
		cur = p.Next
		if !p.More {
			return seen, cur, pages
		}
	}
	t.Fatal("ListChanges never stopped asking for more")
	return nil, "", 0
}

func TestListChangesMissesNothing(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	crmfake.SetNow(t, now)
	idx := &searchIndex{t: t, modified: map[int]int64{
		1: 1000, 2: 2000, 3: 2000,
		4: 3000, 5: 3000, 6: 3000, 7: 3000, 8: 3000, // a bulk edit: more than a page in one millisecond
		9: 4000, 10: 5000, 11: 6000,
	}}
	// While the run is under way, contact 2 (already read) is edited; it
	// moves behind the others and must be read again.
	idx.beforeSearch = func(n int, m map[int]int64) {
		if n == 3 {
			m[2] = 7000
		}
	}
	srv := httptest.NewServer(idx)
	t.Cleanup(srv.Close)
	c := newConnector(t, srv.URL, func(c *Config) { c.Token = testToken })
	start := cursor{V: cursorVersion, SweptAt: now.UnixMilli()}.String()

	seen, last, _ := syncAll(t, c, start)
	for id, mod := range idx.modified {
		if got := seen[strconv.Itoa(id)]; got != mod {
			t.Errorf("contact %d: last upsert at %d, want %d", id, got, mod)
		}
	}
	cur, _ := decodeCursor(last)
	if cur.Since != 7000 || cur.Tie {
		t.Errorf("final cursor %+v, want since 7000", cur)
	}
}

func TestListChangesWaitsForTheSearchIndexNearNow(t *testing.T) {
	now := time.UnixMilli(100_000)
	crmfake.SetNow(t, now)
	// Three contacts changed within the last minute, one page is two.
	idx := &searchIndex{t: t, modified: map[int]int64{1: 50_000, 2: 51_000, 3: 52_000}}
	srv := httptest.NewServer(idx)
	t.Cleanup(srv.Close)
	c := newConnector(t, srv.URL)

	seen, last, pages := syncAll(t, c, cursor{V: cursorVersion, SweptAt: now.UnixMilli()}.String())
	if pages > 3 || len(seen) != 2 {
		t.Fatalf("%d pages, saw %v: want to stop (More=false) once only changes newer than now-overlap remain", pages, seen)
	}
	if cur, _ := decodeCursor(last); cur.Since != 40_000 {
		t.Errorf("cursor since %d, want now-overlap (40000)", cur.Since)
	}

	// A minute later the rest is read.
	crmfake.SetNow(t, now.Add(2*time.Minute))
	seen, _, _ = syncAll(t, c, last)
	if seen["3"] != 52_000 {
		t.Errorf("contact 3 not read once the horizon moved: %v", seen)
	}
}
