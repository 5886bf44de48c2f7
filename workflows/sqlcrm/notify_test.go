package sqlcrm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/workflows/sqlcrm"
	"github.com/calldex/calldex/workflows/sqlcrm/sqltest"
)

// notifyTrigger is the trigger the package documentation gives, for the
// test's table prefix and channel.
func notifyTrigger(prefix, channel string) []string {
	return []string{
		`CREATE OR REPLACE FUNCTION ` + prefix + `contacts_notify() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
			`BEGIN PERFORM pg_notify('` + channel + `', ''); RETURN NULL; END $$`,
		`CREATE TRIGGER ` + prefix + `contacts_notify AFTER INSERT OR UPDATE OR DELETE ON ` + prefix + `contacts ` +
			`FOR EACH STATEMENT EXECUTE FUNCTION ` + prefix + `contacts_notify()`,
	}
}

// TestNotifyChanges: with notify set, a change of the contacts table is
// told through the documented trigger, each time, until the context ends.
func TestNotifyChanges(t *testing.T) {
	db := sqltest.Postgres(t)
	channel := strings.ToLower(db.Prefix) + "changes"
	s := open(t, db, func(c *sqlcrm.Config) { c.Notify = channel })
	for _, stmt := range notifyTrigger(db.Prefix, channel) {
		db.Exec(t, stmt)
	}
	if !s.Notifies() || open(t, db).Notifies() {
		t.Fatal("Notifies must follow the notify option")
	}
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- s.NotifyChanges(ctx, func() { changed <- struct{}{} }) }()

	for i := 1; i <= 2; i++ {
		// LISTEN runs in the goroutine: insert until one is heard.
		deadline := time.After(10 * time.Second)
	heard:
		for n := 0; ; n++ {
			addContact(t, db, i*100+n, "Notified", "021 552 20 00", base)
			select {
			case <-changed:
				break heard
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatalf("change %d: no notification", i)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("NotifyChanges after cancel: %v, want nil", err)
	}
}

func TestNotifyNeedsPostgres(t *testing.T) {
	for _, tt := range []struct{ driver, channel, want string }{
		{"mysql", "changes", "notify needs driver postgres"},
		{"postgres", "Bad-Name", "must be a channel name"},
	} {
		_, err := sqlcrm.ParseOptions(map[string]any{"driver": tt.driver, "dsn": "x", "notify": tt.channel})
		if err == nil {
			c := sqlcrm.Config{Driver: tt.driver, DSN: "x", Notify: tt.channel}
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: %v, want %q", tt.driver, tt.channel, err, tt.want)
		}
	}
}
