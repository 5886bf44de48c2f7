package sqlcrm_test

import (
	"context"
	"testing"

	"github.com/calldex/calldex/workflows/crm/crmtest"
	"github.com/calldex/calldex/workflows/sqlcrm"
	"github.com/calldex/calldex/workflows/sqlcrm/sqltest"
)

// TestCRMConformance runs the CRM connector suite on every dialect. A
// database fails as its server does: gone (connection refused) or hung
// (no answer by the deadline) is transient, through a proxy between the
// pool and the server; a statement it refuses (here, its tables dropped
// under it: the same SQLSTATE class as a missing privilege) is
// permanent. SQLite has no server to lose.
func TestCRMConformance(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			crmtest.Run(t, func(t *testing.T) crmtest.Subject {
				db := b.Open(t)
				direct, proxy := db, (*sqltest.Proxy)(nil)
				failures := []crmtest.Outcome{crmtest.Rejected}
				if db.Driver != "sqlite" {
					db, proxy = sqltest.WithProxy(t, db)
					failures = append(failures, crmtest.Slow, crmtest.Unreachable)
				}
				s, err := sqlcrm.Open(context.Background(), sqlcrm.Config{
					Driver: db.Driver, DSN: db.DSN, TablePrefix: db.Prefix, CRMName: "Test CRM",
					URLTemplate: "https://crm.example.com/{tenant}/calls/{id}", TicketURLTemplate: "https://crm.example.com/tickets/{id}",
				})
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return crmtest.Subject{
					Connector: s,
					Data: crmtest.Data{
						Call:    call("conformance-1", full),
						Numbers: []string{"+41215522000"}, PhoneMatch: "1",
						Name: "lovel", NameMatch: "1",
						Disposition: disposition("conformance-d", "41"),
					},
					Arrange: func(t *testing.T, op crmtest.Op, o crmtest.Outcome) {
						switch {
						case op == crmtest.LogDisposition && o == crmtest.Created:
							direct.Exec(t, "INSERT INTO "+direct.Prefix+"call_logs (id, idempotency_key, tenant, workflow, note) VALUES (41, 'logged-41', 't1', 'CallLog', '')")
						}
						switch o {
						case crmtest.Found:
							addContact(t, direct, 1, "Ada Lovelace", "021 552 20 00", base)
						case crmtest.Rejected:
							for _, table := range []string{"contacts", "call_logs", "tickets"} {
								direct.Exec(t, "DROP TABLE "+direct.Prefix+table)
							}
						case crmtest.Slow:
							proxy.Stall()
						case crmtest.Unreachable:
							proxy.Cut()
						}
					},
					Failures: failures,
				}
			})
		})
	}
}
