package pipelinetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/services/internal/pipelinetest"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/sqlcrm"
	"github.com/calldex/calldex/workflows/sqlcrm/sqltest"
)

const (
	contacts     = 10_000
	syncInterval = 2 * time.Second
)

// number is contact i's phone as people type it, e164 the same number as
// a PBX sends it.
func number(i int) string { return fmt.Sprintf("044 66%d %02d %02d", i/10000, i/100%100, i%100) }
func e164(i int) string   { return fmt.Sprintf("+414466%d%02d%02d", i/10000, i/100%100, i%100) }

// TestContactsFromSQLToLookups syncs a contacts table of 10,000 rows through
// a sync process, CONTACTS and a projector process into Redis, then changes
// it while the sync runs and while it is stopped.
func TestContactsFromSQLToLookups(t *testing.T) {
	for _, b := range []sqltest.Backend{{Name: "postgres", Open: sqltest.Postgres}, {Name: "mysql", Open: sqltest.MySQL}} {
		t.Run(b.Name, func(t *testing.T) { testContactsToLookups(t, b.Open(t)) })
	}
}

func testContactsToLookups(t *testing.T, db sqltest.DB) {
	ctx := t.Context()
	env := natstest.Connect(t)
	_, prefix := redistest.Client(t)
	seed(t, db, contacts)

	p, err := pipelinetest.Start(ctx, pipelinetest.Config{
		NATSURL: env.URL, RedisURL: redisURL(), StreamPrefix: env.Topology.Prefix, RedisPrefix: prefix,
		Tenant: "acme", Source: "crm", Phone: phone.Options{Region: "CH", TailDigits: 9},
		Connector: map[string]any{
			"driver": db.Driver, "dsn": db.DSN, "tablePrefix": db.Prefix, "pageSize": 2000,
			"syncInterval": syncInterval.String(), "rateLimit": 100,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, "projector", p.Close) })

	start := time.Now()
	first, err := p.StartSyncer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, "first sync", first.Stop) })
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitContacts(wctx, contacts); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d contacts from %s into Redis in %s", contacts, db.Driver, time.Since(start).Round(time.Millisecond))
	if n := published(t, first.Upserts); n != contacts {
		t.Errorf("first sync published %d upserts, want %d", n, contacts)
	}
	everyoneFound(t, p, contacts)

	// A new phone and a soft delete are seen within one poll interval.
	changed := time.Now()
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET phone = ? WHERE id = ?", "021 552 20 07", 7)
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET deleted_at = CURRENT_TIMESTAMP WHERE id = ?", 8)
	testwait.Until(t, syncInterval+5*time.Second, "lookups to see the new phone and the delete", func() bool {
		return slices.Equal(lookup(t, p, "+41215522007"), []string{"7"}) && len(lookup(t, p, e164(7))) == 0 && len(lookup(t, p, e164(8))) == 0
	})
	seen := time.Since(changed)
	t.Logf("update and delete seen by lookups %s after the write (poll interval %s)", seen.Round(time.Millisecond), syncInterval)
	// One poll interval, and what one poll and the projection take on a
	// busy machine.
	if seen > syncInterval+time.Second {
		t.Errorf("seen after %s, want within one poll interval (%s) and a second", seen, syncInterval)
	}

	// A restarted syncer resumes from the cursor: it publishes what
	// changed while it was stopped, and nothing else.
	stop(t, "first sync", first.Stop)
	for i := 100; i < 105; i++ {
		db.Exec(t, "UPDATE "+db.Prefix+"contacts SET phone = ? WHERE id = ?", fmt.Sprintf("021 552 21 %02d", i-100), i)
	}
	second, err := p.StartSyncer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, "second sync", second.Stop) })
	testwait.Until(t, 30*time.Second, "lookups to see the changes made while the syncer was stopped", func() bool {
		for i := 100; i < 105; i++ {
			if !slices.Equal(lookup(t, p, fmt.Sprintf("+412155221%02d", i-100)), []string{fmt.Sprint(i)}) {
				return false
			}
		}
		return true
	})
	// Poll once more: nothing new is sent either.
	before := syncedAt(t, env)
	if err := second.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "another poll", func() bool { return syncedAt(t, env).After(before) })
	if u, d := published(t, second.Upserts), published(t, second.Deletes); u != 5 || d != 0 {
		t.Errorf("restarted syncer published %d upserts and %d deletes, want the 5 changed rows only", u, d)
	}
}

// redisURL is the test Redis's (redistest reads the same variable).
func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return redistest.DefaultURL
}

// stop stops a process; it releases what it holds (the sync its lease).
func stop(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Errorf("%s stopped with %v", what, err)
	}
}

// published reads a sync process's counter of published contacts.
func published(t *testing.T, count func() (int64, error)) int64 {
	t.Helper()
	n, err := count()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// syncedAt is when the source's cursor was last stored: after every page.
func syncedAt(t *testing.T, env *natstest.Env) time.Time {
	t.Helper()
	e, err := env.Buckets.SyncCursors.Get(t.Context(), "acme.crm")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		SyncedAt time.Time `json:"syncedAt"`
	}
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatal(err)
	}
	return st.SyncedAt
}

// seed inserts contacts 1 to n, updated an hour ago, in batches (MySQL
// reads an id 0 as "the next one").
func seed(t *testing.T, db sqltest.DB, n int) {
	t.Helper()
	s, err := sqlcrm.Open(t.Context(), sqlcrm.Config{Driver: db.Driver, DSN: db.DSN, TablePrefix: db.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // the schema is there now
	at := time.Now().Add(-time.Hour).UTC()
	const batch = 1000
	for from := 1; from <= n; from += batch {
		var rows []string
		var args []any
		for i := from; i < min(from+batch, n+1); i++ {
			rows = append(rows, "(?, ?, ?, ?, ?, ?)")
			args = append(args, i, fmt.Sprintf("Contact %d", i), "Company", number(i), fmt.Sprintf("c%d@example.com", i), at)
		}
		db.Exec(t, "INSERT INTO "+db.Prefix+"contacts (id, name, company, phone, email, updated_at) VALUES "+strings.Join(rows, ", "), args...)
	}
}

func everyoneFound(t *testing.T, p *pipelinetest.Pipeline, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var missing []int
	const workers = 4
	for w := range workers {
		wg.Go(func() {
			for i := w + 1; i <= n; i += workers {
				if ids := lookup(t, p, e164(i)); !slices.Equal(ids, []string{fmt.Sprint(i)}) {
					mu.Lock()
					missing = append(missing, i)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(missing) > 0 {
		t.Fatalf("%d of %d contacts not found by their number, e.g. %v", len(missing), n, missing[:min(5, len(missing))])
	}
}

func lookup(t *testing.T, p *pipelinetest.Pipeline, number string) []string {
	ids, err := p.Lookup(context.Background(), number)
	if err != nil {
		t.Errorf("lookup %s: %v", number, err)
	}
	return ids
}
