package sqlcrm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/sqlcrm"
	"github.com/calldex/calldex/workflows/sqlcrm/sqltest"
)

// TestConformance runs the same contract on every dialect.
func TestConformance(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			db := b.Open(t)
			t.Run("CallFlow logs one call with its fields", func(t *testing.T) { testLogCall(t, db) })
			t.Run("same call twice is one row", func(t *testing.T) { testIdempotent(t, db) })
			t.Run("concurrent deliveries are one row", func(t *testing.T) { testConcurrent(t, db) })
			t.Run("missed call", func(t *testing.T) { testMissed(t, db) })
			t.Run("invalid time is permanent", func(t *testing.T) { testInvalidTime(t, db) })
			t.Run("ticket", func(t *testing.T) { testTicket(t, db) })
			t.Run("message", func(t *testing.T) { testMessage(t, db) })
			t.Run("disposition", func(t *testing.T) { testDisposition(t, db) })
			t.Run("migrations run again", func(t *testing.T) { testMigrateAgain(t, db) })
			t.Run("custom statements", func(t *testing.T) { testCustomStatements(t, db) })
			t.Run("statement errors are permanent", func(t *testing.T) { testStatementError(t, db) })
		})
	}
}

var full = events.CallInput{
	ContactCRMID:      "c-42",
	UserCRMID:         "u-7",
	OriginatorNumber:  "41215522000",
	OriginatorName:    "Ada Lovelace",
	DestinationNumber: "41215522001",
	DestinationName:   "Support",
	Direction:         "incoming",
	StartedTime:       "2025-01-02T10:00:00Z",
	AnsweredTime:      "2025-01-02T10:00:05.5Z",
	EndedTime:         "2025-01-02T10:01:05.5Z",
}

func open(t *testing.T, db sqltest.DB, mutate ...func(*sqlcrm.Config)) *sqlcrm.Store {
	t.Helper()
	cfg := sqlcrm.Config{
		Driver: db.Driver, DSN: db.DSN, TablePrefix: db.Prefix,
		URLTemplate:       "https://crm.example.com/{tenant}/calls/{id}",
		TicketURLTemplate: "https://crm.example.com/tickets/{id}",
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := sqlcrm.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func call(key string, in events.CallInput) crm.Call {
	return crm.Call{Key: key, Tenant: "acme", Workflow: "CallFlow", Input: in}
}

func newKey(t *testing.T) string {
	return strings.ReplaceAll(sqltest.Prefix(), "_", "") + "-" + t.Name()[len(t.Name())-8:]
}

// ph is the dialect's placeholder for the first argument.
func ph(db sqltest.DB) string {
	if db.Driver == "postgres" {
		return "$1"
	}
	return "?"
}

type row struct {
	id, tenant, workflow, kind, direction, origNum, origName, destNum, destName, contact, user, messageType string
	started, answered, ended                                                                                any
	duration                                                                                                int
	isAnswered, missed                                                                                      any
}

func readCall(t *testing.T, db sqltest.DB, key string) (row, int) {
	t.Helper()
	var n int
	if err := db.SQL.QueryRow("SELECT COUNT(*) FROM "+db.Prefix+"call_logs WHERE idempotency_key = "+ph(db), key).Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	var r row
	err := db.SQL.QueryRow(`SELECT id, tenant, workflow, kind, direction, originator_number, originator_name,
		destination_number, destination_name, contact_crm_id, user_crm_id, message_type, started_at, answered_at, ended_at,
		duration_seconds, answered, missed FROM `+db.Prefix+"call_logs WHERE idempotency_key = "+ph(db), key).Scan(
		&r.id, &r.tenant, &r.workflow, &r.kind, &r.direction, &r.origNum, &r.origName, &r.destNum, &r.destName,
		&r.contact, &r.user, &r.messageType, &r.started, &r.answered, &r.ended, &r.duration, &r.isAnswered, &r.missed)
	if err != nil {
		t.Fatalf("read call log: %v", err)
	}
	return r, n
}

// asTime reads a time column whatever the driver returns for it.
func asTime(t *testing.T, v any) time.Time {
	t.Helper()
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case []byte:
		return asTime(t, string(x))
	case string:
		for _, l := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999-07:00"} {
			if tm, err := time.Parse(l, x); err == nil {
				return tm.UTC()
			}
		}
	case nil:
		return time.Time{}
	}
	t.Fatalf("cannot read time %T %v", v, v)
	return time.Time{}
}

func asBool(t *testing.T, v any) bool {
	t.Helper()
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case []byte:
		return string(x) == "1"
	}
	t.Fatalf("cannot read bool %T %v", v, v)
	return false
}

func testLogCall(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	key := newKey(t)
	res, err := s.LogCall(context.Background(), call(key, full))
	if err != nil {
		t.Fatalf("LogCall: %v", err)
	}
	if res.ID == "" || res.URL != "https://crm.example.com/acme/calls/"+res.ID {
		t.Fatalf("result = %+v", res)
	}
	r, n := readCall(t, db, key)
	if n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
	want := row{id: res.ID, tenant: "acme", workflow: "CallFlow", kind: "call", direction: "incoming",
		origNum: "41215522000", origName: "Ada Lovelace", destNum: "41215522001", destName: "Support", contact: "c-42", user: "u-7"}
	got := r
	got.started, got.answered, got.ended, got.isAnswered, got.missed, got.duration = nil, nil, nil, nil, nil, 0
	if got != want {
		t.Fatalf("row = %+v\nwant  %+v", got, want)
	}
	if r.duration != 60 || !asBool(t, r.isAnswered) || asBool(t, r.missed) {
		t.Fatalf("duration %d answered %v missed %v; want 60 true false", r.duration, r.isAnswered, r.missed)
	}
	if got := asTime(t, r.started); !got.Equal(time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("started_at = %s", got)
	}
	if got := asTime(t, r.answered); !got.Equal(time.Date(2025, 1, 2, 10, 0, 5, 5e8, time.UTC)) {
		t.Fatalf("answered_at = %s", got)
	}
}

func testIdempotent(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	key := newKey(t)
	first, err := s.LogCall(context.Background(), call(key, full))
	if err != nil {
		t.Fatalf("first: %v", err)
	}
	second, err := s.LogCall(context.Background(), call(key, full))
	if err != nil {
		t.Fatalf("second: %v", err)
	}
	if first != second {
		t.Fatalf("second result %+v, want %+v", second, first)
	}
	if _, n := readCall(t, db, key); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
	// Another key is another row, with another id.
	other, err := s.LogCall(context.Background(), call(key+"x", full))
	if err != nil || other.ID == first.ID {
		t.Fatalf("other key: %+v, %v", other, err)
	}
}

func testConcurrent(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	key := newKey(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.LogCall(context.Background(), call(key, full))
			ids[i], errs[i] = res.ID, err
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("delivery %d: %q, %v; want %q", i, ids[i], errs[i], ids[0])
		}
	}
	if _, n := readCall(t, db, key); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func testMissed(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	key := newKey(t)
	in := full
	in.AnsweredTime = ""
	in.DeclinedTime = "2025-01-02T10:00:20"
	if _, err := s.LogCall(context.Background(), call(key, in)); err != nil {
		t.Fatalf("LogCall: %v", err)
	}
	r, _ := readCall(t, db, key)
	if r.duration != 0 || asBool(t, r.isAnswered) || !asBool(t, r.missed) || r.answered != nil {
		t.Fatalf("duration %d answered %v missed %v answered_at %v; want 0 false true NULL", r.duration, r.isAnswered, r.missed, r.answered)
	}

	// A duration stated by the source wins over the times.
	key2 := newKey(t) + "d"
	in = full
	d := 42
	in.DurationSeconds = &d
	if _, err := s.LogCall(context.Background(), call(key2, in)); err != nil {
		t.Fatalf("LogCall: %v", err)
	}
	if r, _ := readCall(t, db, key2); r.duration != 42 {
		t.Fatalf("duration %d, want 42", r.duration)
	}
}

func testInvalidTime(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	in := full
	in.EndedTime = "yesterday"
	_, err := s.LogCall(context.Background(), call(newKey(t), in))
	if !crm.IsPermanent(err) || !errors.Is(err, sqlcrm.ErrInvalidInput) || !strings.Contains(err.Error(), "endedTime") {
		t.Fatalf("err = %v, want a permanent error naming endedTime", err)
	}
}

func testTicket(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	key := newKey(t)
	c := call(key, full)
	c.Workflow = "Ticket"
	first, err := s.CreateTicket(context.Background(), c)
	if err != nil {
		t.Fatalf("CreateTicket: %v", err)
	}
	second, err := s.CreateTicket(context.Background(), c)
	if err != nil || second != first || first.URL != "https://crm.example.com/tickets/"+first.ID {
		t.Fatalf("tickets %+v then %+v, %v", first, second, err)
	}
	var n int
	var subject, description, contact string
	if err := db.SQL.QueryRow("SELECT COUNT(*), MAX(subject), MAX(description), MAX(contact_crm_id) FROM "+db.Prefix+"tickets WHERE idempotency_key = "+ph(db), key).
		Scan(&n, &subject, &description, &contact); err != nil {
		t.Fatalf("read ticket: %v", err)
	}
	if n != 1 || subject != "Call from Ada Lovelace" || contact != "c-42" || !strings.Contains(description, "answered, 60 s") {
		t.Fatalf("ticket rows %d subject %q description %q contact %q", n, subject, description, contact)
	}
}

func testMessage(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	key := newKey(t)
	in := events.CallInput{OriginatorNumber: "41790000000", DestinationNumber: "41215522001", Direction: "incoming",
		StartedTime: "2025-01-02T10:00:00+01:00", MessageType: "SMS", Note: "call me back"}
	res, err := s.LogMessage(context.Background(), call(key, in))
	if err != nil || res.ID == "" {
		t.Fatalf("LogMessage: %+v, %v", res, err)
	}
	r, n := readCall(t, db, key)
	if n != 1 || r.kind != "message" || r.messageType != "SMS" || asBool(t, r.missed) {
		t.Fatalf("message row %+v (%d rows)", r, n)
	}
	if got := asTime(t, r.started); !got.Equal(time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("started_at = %s, want 09:00 UTC", got)
	}
}

// disposition is a disposition for the logged call logID.
func disposition(key, logID string) crm.Call {
	return call(key, events.CallInput{CallID: "s-" + logID, LogID: logID,
		Dispositions: map[string]string{"outcome": "Qualified lead", "callback": "yes"}})
}

func testDisposition(t *testing.T, db sqltest.DB) {
	s := open(t, db)
	logged, err := s.LogCall(context.Background(), call(newKey(t), full))
	if err != nil {
		t.Fatalf("LogCall: %v", err)
	}
	res, err := s.LogDisposition(context.Background(), disposition(newKey(t)+"d", logged.ID))
	if err != nil || res != logged {
		t.Fatalf("LogDisposition: %+v, %v; want %+v", res, err, logged)
	}
	var got string
	if err := db.SQL.QueryRow("SELECT disposition FROM " + db.Prefix + "call_logs WHERE id = " + logged.ID).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != `{"callback":"yes","outcome":"Qualified lead"}` {
		t.Fatalf("disposition column = %q", got)
	}
	_, err = s.LogDisposition(context.Background(), disposition(newKey(t)+"x", "999999"))
	if !crm.IsPermanent(err) {
		t.Fatalf("disposition of a call log that does not exist: %v, want a permanent error", err)
	}
}

func testMigrateAgain(t *testing.T, db sqltest.DB) {
	open(t, db)
	open(t, db)
	no := false
	s := open(t, db, func(c *sqlcrm.Config) { c.Migrate = &no })
	if _, err := s.LogCall(context.Background(), call(newKey(t), full)); err != nil {
		t.Fatalf("LogCall without migrate: %v", err)
	}
}

func testCustomStatements(t *testing.T, db sqltest.DB) {
	table := db.Prefix + "legacy_calls"
	idCol := map[string]string{
		"postgres": "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
		"mysql":    "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
		"sqlite":   "id INTEGER PRIMARY KEY AUTOINCREMENT",
	}[db.Driver]
	if _, err := db.SQL.Exec("CREATE TABLE " + table + " (" + idCol + ", ext_ref VARCHAR(64) NOT NULL UNIQUE, caller VARCHAR(64) NOT NULL, secs INT NOT NULL)"); err != nil {
		t.Fatalf("create legacy table: %v", err)
	}
	insert := "INSERT INTO {{prefix}}legacy_calls (ext_ref, caller, secs) VALUES (:key, :originator_number, :duration_seconds) "
	if db.Driver == "mysql" {
		insert += "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)"
	} else {
		insert += "ON CONFLICT (ext_ref) DO NOTHING RETURNING id"
	}
	no := false
	s := open(t, db, func(c *sqlcrm.Config) {
		c.Migrate = &no
		c.URLTemplate = "legacy://{id}"
		c.Statements = map[string]string{
			sqlcrm.StmtLogCall:  insert,
			sqlcrm.StmtFindCall: "SELECT id FROM {{prefix}}legacy_calls WHERE ext_ref = :key",
		}
	})
	key := newKey(t)
	first, err := s.LogCall(context.Background(), call(key, full))
	if err != nil {
		t.Fatalf("LogCall: %v", err)
	}
	second, err := s.LogCall(context.Background(), call(key, full))
	if err != nil || second != first || first.URL != "legacy://"+first.ID {
		t.Fatalf("results %+v then %+v, %v", first, second, err)
	}
	var caller string
	var secs int
	if err := db.SQL.QueryRow(fmt.Sprintf("SELECT caller, secs FROM %s WHERE ext_ref = %s", table, ph(db)), key).Scan(&caller, &secs); err != nil {
		t.Fatalf("read legacy row: %v", err)
	}
	if caller != "41215522000" || secs != 60 {
		t.Fatalf("legacy row %q %d", caller, secs)
	}
}

func testStatementError(t *testing.T, db sqltest.DB) {
	no := false
	s := open(t, db, func(c *sqlcrm.Config) {
		c.Migrate = &no
		c.Statements = map[string]string{sqlcrm.StmtCreateTicket: "INSERT INTO {{prefix}}no_such_table (k) VALUES (:key)"}
	})
	_, err := s.CreateTicket(context.Background(), call(newKey(t), full))
	if !crm.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent", err)
	}
}

func TestUnreachableDatabaseIsTransient(t *testing.T) {
	tests := []struct{ driver, dsn string }{
		{"postgres", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"},
		{"mysql", "root@tcp(127.0.0.1:1)/test?timeout=2s"},
	}
	for _, tt := range tests {
		t.Run(tt.driver, func(t *testing.T) {
			_, err := sqlcrm.Open(context.Background(), sqlcrm.Config{Driver: tt.driver, DSN: tt.dsn})
			if err == nil || crm.IsPermanent(err) || !errors.Is(err, crm.ErrTransient) {
				t.Fatalf("err = %v, want transient", err)
			}
			if strings.Contains(err.Error(), "127.0.0.1:1/test") {
				t.Fatalf("error prints the DSN: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     sqlcrm.Config
		wantErr int
	}{
		{"ok", sqlcrm.Config{Driver: "mariadb", DSN: "x"}, 0},
		{"everything wrong", sqlcrm.Config{Driver: "oracle", TablePrefix: "a-b", Statements: map[string]string{"logcall": ""}, MaxOpenConns: -1}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, sqlcrm.ErrConfig) || strings.Count(err.Error(), "\n")+1 != tt.wantErr {
				t.Fatalf("err = %v, want %d problems", err, tt.wantErr)
			}
		})
	}
	c := sqlcrm.Config{Driver: "sqlite", DSN: "x"}
	if err := c.Validate(); err != nil || c.MaxOpenConns != 1 || !*c.Migrate {
		t.Fatalf("sqlite defaults: %v %d", err, c.MaxOpenConns)
	}
}

func TestParseOptions(t *testing.T) {
	c, err := sqlcrm.ParseOptions(map[string]any{
		"type": "sql", "driver": "postgres", "dsn": "postgres://x", "migrate": "false", "maxOpenConns": 4,
		"statements": map[string]any{"logCall": "INSERT …"},
	})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if c.Driver != "postgres" || *c.Migrate || c.MaxOpenConns != 4 || c.Statements["logCall"] != "INSERT …" {
		t.Fatalf("config = %+v", c)
	}
	if c, err := sqlcrm.ParseOptions(map[string]any{"driver": "sqlite", "dsn": "x"}); err != nil || !*c.Migrate {
		t.Fatalf("migrate defaults to true: %v", err)
	}
	_, err = sqlcrm.ParseOptions(map[string]any{"drvier": "sqlite", "maxOpenConns": "many"})
	if err == nil || !strings.Contains(err.Error(), "drvier") || !strings.Contains(err.Error(), "maxOpenConns") {
		t.Fatalf("err = %v, want both problems", err)
	}
}
