package sqlcrm_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/sqlcrm"
	"github.com/calldex/calldex/workflows/sqlcrm/sqltest"
)

// TestReadConformance runs the read side's contract on every dialect.
func TestReadConformance(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			tests := []struct {
				name string
				run  func(*testing.T, sqltest.DB)
			}{
				{"pages through equal timestamps once", testPagesEqualTimestamps},
				{"changes and soft deletes after the cursor", testChangesAndSoftDeletes},
				{"first sync skips soft-deleted rows", testFirstSyncSkipsDeleted},
				{"overlap reads late commits and sends each version once", testOverlap},
				{"custom statements and reconcile of hard deletes", testCustomTableReconcile},
				{"hard deletes of the shipped table", testShippedHardDeletes},
				{"search by phone and by name", testSearch},
				{"statement and cursor errors are permanent", testReadErrors},
			}
			for _, tt := range tests {
				// Each test gets its own tables: the shipped contacts
				// table is shared by every Store of one prefix.
				t.Run(tt.name, func(t *testing.T) { tt.run(t, b.Open(t)) })
			}
		})
	}
}

var base = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// reader opens a Store on the test's prefix (migrating the shipped schema)
// with a page size and no overlap unless mutate says otherwise.
func reader(t *testing.T, db sqltest.DB, mutate ...func(*sqlcrm.Config)) *sqlcrm.Store {
	t.Helper()
	return open(t, db, append([]func(*sqlcrm.Config){func(c *sqlcrm.Config) {
		c.PageSize = 4
		c.SyncOverlap = time.Nanosecond
		c.CRMName = "Test CRM"
	}}, mutate...)...)
}

// ts is a time as the dialect's test tables store it: SQLite keeps the
// text form the shipped schema writes.
func ts(db sqltest.DB, tm time.Time) any {
	if db.Driver == "sqlite" {
		return tm.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return tm.UTC()
}

// addContact inserts a row of the shipped contacts table.
func addContact(t *testing.T, db sqltest.DB, id int, name, phone string, at time.Time) {
	t.Helper()
	db.Exec(t, "INSERT INTO "+db.Prefix+"contacts (id, name, company, phone, email, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
		id, name, "Co "+name, phone, strings.ToLower(strings.ReplaceAll(name, " ", "."))+"@example.com", ts(db, at))
}

// drained is what a sync run made of pages until More was false.
type drained struct {
	upserts []events.Contact
	deletes []string
	next    string
	pages   int
}

func (d drained) ids() []string {
	out := make([]string, len(d.upserts))
	for i, c := range d.upserts {
		out[i] = c.ID
	}
	return out
}

// drain pages as crmsync does: until More is false.
func drain(t *testing.T, s *sqlcrm.Store, cursor string) drained {
	t.Helper()
	d := drained{next: cursor}
	for d.pages < 1000 {
		p, err := s.ListChanges(context.Background(), d.next)
		if err != nil {
			t.Fatalf("ListChanges after %d pages: %v", d.pages, err)
		}
		d.pages++
		d.upserts = append(d.upserts, p.Upserts...)
		d.deletes = append(d.deletes, p.Deletes...)
		d.next = p.Next
		if !p.More {
			return d
		}
	}
	t.Fatal("ListChanges never stopped")
	return d
}

func seq(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func testPagesEqualTimestamps(t *testing.T, db sqltest.DB) {
	s := reader(t, db)
	// Eight rows share one time, five another, twelve a third, in an
	// order that differs from their ids': pages of 4 cut through each group.
	for i := 1; i <= 25; i++ {
		at := base.Add(2 * time.Millisecond)
		switch {
		case i >= 13 && i <= 20:
			at = base
		case i > 20:
			at = base.Add(time.Millisecond)
		}
		addContact(t, db, i, "Person "+strconv.Itoa(i), fmt.Sprintf("021 552 20 %02d", i), at)
	}
	d := drain(t, s, "")
	want := append(append(seq(13, 20), seq(21, 25)...), seq(1, 12)...)
	if got := d.ids(); !slices.Equal(got, want) {
		t.Fatalf("upserts %v\nwant     %v", got, want)
	}
	if d.pages != 7 || len(d.deletes) != 0 {
		t.Fatalf("%d pages, deletes %v; want 7 pages (25 rows by 4), none", d.pages, d.deletes)
	}
	c := d.upserts[0]
	want13 := events.Contact{ID: "13", Name: "Person 13", Company: "Co Person 13", Phones: []events.Phone{{Raw: "021 552 20 13"}},
		Emails: []string{"person.13@example.com"}, CRMName: "Test CRM", UpdatedAt: base}
	if !reflect.DeepEqual(c, want13) {
		t.Fatalf("contact %+v\nwant    %+v", c, want13)
	}

	// Caught up: the next poll, by this Store or a restarted one, finds nothing.
	if again := drain(t, s, d.next); len(again.upserts) != 0 {
		t.Fatalf("second poll %v, want nothing", again.ids())
	}
	restarted := reader(t, db)
	if again := drain(t, restarted, d.next); len(again.upserts) != 0 {
		t.Fatalf("poll after a restart %v, want nothing", again.ids())
	}
}

func testChangesAndSoftDeletes(t *testing.T, db sqltest.DB) {
	s := reader(t, db)
	for i := 1; i <= 6; i++ {
		addContact(t, db, i, "Person "+strconv.Itoa(i), "021 552 20 0"+strconv.Itoa(i), base)
	}
	d := drain(t, s, "")
	if len(d.upserts) != 6 {
		t.Fatalf("first sync %v", d.ids())
	}
	// Neither statement sets updated_at: the shipped schema moves it.
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET phone = ? WHERE id = ?", "044 668 18 00", 2)
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET deleted_at = updated_at WHERE id = ?", 5)
	d = drain(t, s, d.next)
	if got := d.ids(); !slices.Equal(got, []string{"2"}) || d.upserts[0].Phones[0].Raw != "044 668 18 00" {
		t.Fatalf("upserts %+v, want contact 2 with its new phone", d.upserts)
	}
	if !slices.Equal(d.deletes, []string{"5"}) {
		t.Fatalf("deletes %v, want [5]", d.deletes)
	}
	if !d.upserts[0].UpdatedAt.After(base) {
		t.Fatalf("updated_at %s did not move", d.upserts[0].UpdatedAt)
	}
}

// testShippedHardDeletes: the shipped table has deleted_at, and a row
// deleted for good is still reported, by the reconcile pass due by default.
func testShippedHardDeletes(t *testing.T, db sqltest.DB) {
	s := reader(t, db)
	var mu sync.Mutex
	clock := base.Add(24 * time.Hour)
	sqlcrm.SetClock(s, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
	for i := 1; i <= 6; i++ {
		addContact(t, db, i, "Person "+strconv.Itoa(i), "021 552 20 0"+strconv.Itoa(i), base)
	}
	d := drain(t, s, "")
	if len(d.upserts) != 6 || len(d.deletes) != 0 {
		t.Fatalf("first sync: %v, deletes %v", d.ids(), d.deletes)
	}
	db.Exec(t, "DELETE FROM "+db.Prefix+"contacts WHERE id = ?", 3)
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET deleted_at = updated_at WHERE id = ?", 4)
	if d = drain(t, s, d.next); !slices.Equal(d.deletes, []string{"4"}) {
		t.Fatalf("before a reconcile is due: deletes %v, want the soft delete [4]", d.deletes)
	}
	mu.Lock()
	clock = clock.Add(sqlcrm.DefaultReconcileInterval)
	mu.Unlock()
	if d = drain(t, s, d.next); !slices.Equal(d.deletes, []string{"3"}) {
		t.Fatalf("reconcile: deletes %v, want [3]", d.deletes)
	}
	if d = drain(t, s, d.next); len(d.deletes) != 0 || len(d.upserts) != 0 {
		t.Fatalf("after the pass: upserts %v, deletes %v; want nothing", d.ids(), d.deletes)
	}
}

func testFirstSyncSkipsDeleted(t *testing.T, db sqltest.DB) {
	s := reader(t, db)
	addContact(t, db, 1, "Alive", "021 552 20 01", base)
	addContact(t, db, 2, "Gone", "021 552 20 02", base)
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET deleted_at = updated_at WHERE id = ?", 2)
	d := drain(t, s, "")
	if !slices.Equal(d.ids(), []string{"1"}) || len(d.deletes) != 0 {
		t.Fatalf("first sync: upserts %v deletes %v; want [1] and no tombstone of a contact never sent", d.ids(), d.deletes)
	}
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET deleted_at = updated_at WHERE id = ?", 1)
	if d = drain(t, s, d.next); !slices.Equal(d.deletes, []string{"1"}) {
		t.Fatalf("deletes %v, want [1]", d.deletes)
	}
}

func testOverlap(t *testing.T, db sqltest.DB) {
	s := reader(t, db, func(c *sqlcrm.Config) { c.SyncOverlap = time.Hour })
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := 1; i <= 5; i++ {
		addContact(t, db, i, "Recent "+strconv.Itoa(i), "021 552 20 0"+strconv.Itoa(i), now)
	}
	d := drain(t, s, "")
	if len(d.upserts) != 5 {
		t.Fatalf("first sync %v", d.ids())
	}
	// Within the overlap the rows are read again, but not sent again.
	if d = drain(t, s, d.next); len(d.upserts) != 0 {
		t.Fatalf("poll sent %v again", d.ids())
	}
	// A transaction that began half an hour ago commits only now: its row
	// is older than every row read, and still found.
	addContact(t, db, 6, "Late", "021 552 20 06", now.Add(-30*time.Minute))
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET phone = ? WHERE id = ?", "044 668 18 00", 2)
	d = drain(t, s, d.next)
	if got := d.ids(); !slices.Equal(got, []string{"6", "2"}) {
		t.Fatalf("upserts %v, want the late row and the changed one [6 2]", got)
	}
	if d = drain(t, s, d.next); len(d.upserts) != 0 {
		t.Fatalf("poll sent %v again", d.ids())
	}
	// Restarted, the Store still knows what the last poll sent.
	if d = drain(t, reader(t, db, func(c *sqlcrm.Config) { c.SyncOverlap = time.Hour }), d.next); len(d.upserts) != 0 {
		t.Fatalf("poll after a restart sent %v again", d.ids())
	}

	// More rows within the overlap than the cursor keeps fingerprints of:
	// the next poll sends the oldest again, not the newest.
	sqlcrm.SetMaxSent(s, 4)
	for i := 10; i < 16; i++ {
		addContact(t, db, i, "Burst "+strconv.Itoa(i), "021 552 21 "+strconv.Itoa(i), now.Add(time.Minute+time.Duration(i)*time.Millisecond))
	}
	if d = drain(t, s, d.next); len(d.upserts) != 6 {
		t.Fatalf("burst: sent %v, want the 6 new rows", d.ids())
	}
	d = drain(t, s, d.next)
	if got := slices.Sorted(slices.Values(d.ids())); !slices.Equal(got, []string{"1", "10", "11", "2", "3", "4", "5", "6"}) {
		t.Fatalf("poll after the burst sent %v, want all but the 4 newest of the 12 rows in the overlap", got)
	}

	// Without the overlap, a commit that late is behind the position.
	tight := reader(t, db, func(c *sqlcrm.Config) { c.TablePrefix = db.Prefix + "x" })
	for i := 1; i <= 3; i++ {
		db.Exec(t, "INSERT INTO "+db.Prefix+"xcontacts (id, name, updated_at) VALUES (?, ?, ?)", i, "n", ts(db, now))
	}
	d = drain(t, tight, "")
	db.Exec(t, "INSERT INTO "+db.Prefix+"xcontacts (id, name, updated_at) VALUES (?, ?, ?)", 4, "late", ts(db, now.Add(-30*time.Minute)))
	if d = drain(t, tight, d.next); len(d.upserts) != 0 {
		t.Fatalf("without overlap %v; the test does not show what the overlap is for", d.ids())
	}
}

// customerDDL is a table of another schema: text ids, several phone
// columns, no deleted_at.
var customerTime = map[string]string{"postgres": "TIMESTAMPTZ", "mysql": "DATETIME(6)", "sqlite": "TEXT"}

const customerStatements = `SELECT cust_no AS id, full_name AS name, firm AS company, tel AS phone, mobile AS phone_mobile,
	mail AS emails, segment AS custom_segment, queue AS queue_position, modified AS updated_at, modified AS created_at
FROM {{prefix}}customers
WHERE modified > :cursor_time OR (modified = :cursor_time AND cust_no > :cursor_id) OR :cursor_time IS NULL
ORDER BY modified, cust_no LIMIT :limit`

const customerIDs = `SELECT cust_no AS id FROM {{prefix}}customers
WHERE cust_no > :cursor_id OR :cursor_id IS NULL ORDER BY cust_no LIMIT :limit`

func testCustomTableReconcile(t *testing.T, db sqltest.DB) {
	db.Exec(t, "CREATE TABLE "+db.Prefix+"customers (cust_no VARCHAR(32) NOT NULL PRIMARY KEY, full_name VARCHAR(100) NOT NULL, "+
		"firm VARCHAR(100), tel VARCHAR(200), mobile VARCHAR(64), mail VARCHAR(200), segment VARCHAR(20), queue INT, modified "+customerTime[db.Driver]+" NOT NULL)")
	addCustomer := func(n int, at time.Time) {
		db.Exec(t, "INSERT INTO "+db.Prefix+"customers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			fmt.Sprintf("K-%03d", n), fmt.Sprintf("Customer %d", n), "Firm AG", fmt.Sprintf("021 552 20 %02d; 021 552 21 %02d", n, n),
			"079 555 01 01", fmt.Sprintf("a%d@firm.ch, b%d@firm.ch", n, n), "SME", 3, ts(db, at))
	}
	removeCustomer := func(ids ...string) {
		for _, id := range ids {
			db.Exec(t, "DELETE FROM "+db.Prefix+"customers WHERE cust_no = ?", id)
		}
	}
	for i := 1; i <= 25; i++ {
		addCustomer(i, base.Add(time.Duration(i)*time.Millisecond))
	}
	clock := base.Add(24 * time.Hour)
	var mu sync.Mutex
	connect := func(mutate ...func(*sqlcrm.Config)) *sqlcrm.Store {
		no := false
		s := reader(t, db, append([]func(*sqlcrm.Config){func(c *sqlcrm.Config) {
			c.Migrate = &no
			c.PageSize = 2 // a pass lists 20 ids a page: two pages
			c.PhoneSeparator = ";"
			c.ContactURLTemplate = "https://crm.example.com/customers/{id}"
			c.Statements = map[string]string{sqlcrm.StmtListChanges: customerStatements, sqlcrm.StmtListIDs: customerIDs}
		}}, mutate...)...)
		sqlcrm.SetClock(s, func() time.Time { mu.Lock(); defer mu.Unlock(); return clock })
		return s
	}
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	s := connect()

	d := drain(t, s, "")
	if len(d.upserts) != 25 || len(d.deletes) != 0 {
		t.Fatalf("first sync: %d upserts, deletes %v", len(d.upserts), d.deletes)
	}
	q := 3
	want := events.Contact{ID: "K-001", Name: "Customer 1", Company: "Firm AG", ContactURI: "https://crm.example.com/customers/K-001",
		CRMName: "Test CRM", Phones: []events.Phone{{Raw: "021 552 20 01"}, {Raw: "021 552 21 01"}, {Raw: "079 555 01 01", Label: "mobile"}},
		Emails: []string{"a1@firm.ch", "b1@firm.ch"}, CustomData: events.CustomData{{Key: "segment", Value: "SME"}},
		Routing: events.Routing{QueuePosition: &q}, UpdatedAt: base.Add(time.Millisecond), CreatedAt: base.Add(time.Millisecond)}
	if got := d.upserts[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("contact %+v\nwant    %+v", got, want)
	}

	// A hard delete is seen by the next reconcile pass, not before.
	removeCustomer("K-003")
	if d = drain(t, s, d.next); len(d.deletes) != 0 {
		t.Fatalf("deletes %v before a reconcile was due", d.deletes)
	}
	advance(2 * time.Hour)
	if d = drain(t, s, d.next); !slices.Equal(d.deletes, []string{"K-003"}) || d.pages != 4 {
		t.Fatalf("reconcile: deletes %v in %d pages; want [K-003] (changes, 2 pages of ids, changes)", d.deletes, d.pages)
	}

	// A contact synced after that pass and deleted before the next is
	// found too, by a restarted Store: the ids live in the cursor.
	addCustomer(26, time.Now())
	if d = drain(t, s, d.next); !slices.Equal(d.ids(), []string{"K-026"}) {
		t.Fatalf("upserts %v, want [K-026]", d.ids())
	}
	removeCustomer("K-026", "K-010")
	advance(2 * time.Hour)
	if d = drain(t, connect(), d.next); !slices.Equal(d.deletes, []string{"K-010", "K-026"}) {
		t.Fatalf("deletes %v, want [K-010 K-026]", d.deletes)
	}
	if d = drain(t, s, d.next); len(d.deletes) != 0 {
		t.Fatalf("deletes %v reported twice", d.deletes)
	}

	// reconcileInterval 0 turns it off.
	off := time.Duration(0)
	removeCustomer("K-011")
	advance(10 * time.Hour)
	if d = drain(t, connect(func(c *sqlcrm.Config) { c.ReconcileInterval = &off }), d.next); len(d.deletes) != 0 || d.pages != 1 {
		t.Fatalf("reconcile off: deletes %v in %d pages", d.deletes, d.pages)
	}
}

func testSearch(t *testing.T, db sqltest.DB) {
	s := reader(t, db)
	addContact(t, db, 1, "Ada Lovelace", "021 552 20 00", base)
	addContact(t, db, 2, "Charles Babbage", "+41 (0)44 668 18 00", base)
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET company = ? WHERE id = ?", "Analytical Engines", 2)
	addContact(t, db, 3, "Gone Lovelace", "021 552 20 00", base)
	db.Exec(t, "UPDATE "+db.Prefix+"contacts SET deleted_at = updated_at WHERE id = ?", 3)
	ctx := context.Background()

	phoneTests := []struct {
		numbers []string
		want    []string
	}{
		{[]string{"+41215522000"}, []string{"1"}},
		{[]string{"+41446681800"}, []string{"2"}},
		{[]string{"+41790000000", "+41215522000"}, []string{"1"}},
		{[]string{"+41790000000"}, nil},
	}
	for _, tt := range phoneTests {
		cs, err := s.SearchPhone(ctx, tt.numbers)
		if err != nil || !slices.Equal(contactIDs(cs), tt.want) {
			t.Errorf("SearchPhone(%v) = %v, %v; want %v", tt.numbers, contactIDs(cs), err, tt.want)
		}
	}
	nameTests := []struct {
		query string
		limit int
		want  []string
	}{
		{"lovel", 5, []string{"1"}},
		{"ENGINES", 5, []string{"2"}},
		{"a", 1, []string{"1"}},
		{"100%", 5, nil},
		{"  ", 5, nil},
	}
	for _, tt := range nameTests {
		cs, err := s.SearchName(ctx, tt.query, tt.limit)
		if err != nil || !slices.Equal(contactIDs(cs), tt.want) {
			t.Errorf("SearchName(%q, %d) = %v, %v; want %v", tt.query, tt.limit, contactIDs(cs), err, tt.want)
		}
	}
}

func contactIDs(cs []events.Contact) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func testReadErrors(t *testing.T, db sqltest.DB) {
	s := reader(t, db)
	addContact(t, db, 1, "Ada", "021 552 20 00", base)
	if _, err := s.ListChanges(context.Background(), "not a cursor"); !crm.IsPermanent(err) {
		t.Fatalf("bad cursor: %v, want permanent", err)
	}
	tests := []struct {
		name, stmt, want string
	}{
		{"unknown column", "SELECT id, name, phone AS telefon, updated_at FROM {{prefix}}contacts", "telefon"},
		{"no updated_at", "SELECT id, name FROM {{prefix}}contacts", "updated_at"},
		{"no such table", "SELECT id, updated_at FROM {{prefix}}nothing", "nothing"},
		// Page after page from the start, as a statement whose comparison
		// does not hold (a SQLite DATETIME column bound as a time) does.
		{"cursor not honoured", "SELECT id, updated_at FROM {{prefix}}contacts ORDER BY updated_at, id LIMIT :limit", "returned the row of the cursor"},
	}
	// A database of another schema without a contacts table: the error
	// says how to stop syncing it.
	no := false
	other := reader(t, db, func(c *sqlcrm.Config) { c.Migrate, c.TablePrefix = &no, db.Prefix+"other_" })
	if _, err := other.ListChanges(context.Background(), ""); !crm.IsPermanent(err) || !strings.Contains(err.Error(), "sync: false") {
		t.Fatalf("no contacts table: %v, want a permanent error saying how to turn the sync off", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := reader(t, db, func(c *sqlcrm.Config) {
				c.PageSize = 1
				c.Statements = map[string]string{sqlcrm.StmtListChanges: tt.stmt}
			})
			p, err := bad.ListChanges(context.Background(), "")
			if err == nil {
				_, err = bad.ListChanges(context.Background(), p.Next)
			}
			if !crm.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a permanent error naming %s", err, tt.want)
			}
		})
	}
}

func TestParseReadOptions(t *testing.T) {
	c, err := sqlcrm.ParseOptions(map[string]any{
		"driver": "mysql", "dsn": "x", "pageSize": "5000", "syncOverlap": "30s", "reconcileInterval": 0,
		"contactUrlTemplate": "https://crm/c/{id}", "phoneSeparator": ";", "crmName": "Legacy", "crmLogo": "https://crm/logo.png",
		"statements": map[string]any{"listChanges": "SELECT …"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.PageSize != 5000 || c.SyncOverlap != 30*time.Second || c.ReconcileInterval == nil || *c.ReconcileInterval != 0 ||
		c.ContactURLTemplate != "https://crm/c/{id}" || c.PhoneSeparator != ";" || c.CRMName != "Legacy" || c.CRMLogo == "" {
		t.Fatalf("config = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err = sqlcrm.ParseOptions(map[string]any{"driver": "mysql", "dsn": "x"})
	if err != nil || c.ReconcileInterval != nil {
		t.Fatalf("reconcileInterval unset = %v, %v; want nil (the default)", c.ReconcileInterval, err)
	}
	if err := c.Validate(); err != nil || c.PageSize != sqlcrm.DefaultPageSize || c.SyncOverlap != sqlcrm.DefaultSyncOverlap {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	neg := -time.Second
	bad := sqlcrm.Config{Driver: "mysql", DSN: "x", PageSize: 100_000, SyncOverlap: -time.Second, ReconcileInterval: &neg,
		Statements: map[string]string{"listchanges": "x"}}
	if err := bad.Validate(); err == nil || strings.Count(err.Error(), "\n")+1 != 4 {
		t.Fatalf("err = %v, want 4 problems", err)
	}
}
