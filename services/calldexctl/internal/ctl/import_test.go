package ctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
)

func TestImportReportsBadLinesByNumber(t *testing.T) {
	env := natstest.Connect(t)
	dir := t.TempDir()
	ndjson := filepath.Join(dir, "contacts.ndjson")
	if err := os.WriteFile(ndjson, []byte(`{"id":"1","name":"Ann","phones":[{"raw":"0215522000"}]}
{"id":"2","name":"Bob"

{"id":"3","company":"Cie"}
{"id":"4","bogus":true}
{"id":"","name":"No Id"}
{"id":"6","name":"Six","source":"crm"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, env)
	var rep importReport
	c.json(&rep, "import", ndjson, "--tenant", "acme")
	if rep.Accepted != 3 || rep.Rejected != 3 || len(rep.Errors) != 3 || rep.Seq == 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, line := range []int{2, 5, 6} {
		if rep.Errors[i].Line != line || rep.Errors[i].Reason == "" {
			t.Fatalf("error %d: %+v, want line %d", i, rep.Errors[i], line)
		}
	}
	s, err := env.JS.Stream(context.Background(), env.Topology.Stream(events.StreamContacts))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.GetLastMsgForSubject(context.Background(), env.Topology.ContactSubject("acme", "crm", "6")); err != nil || m == nil {
		t.Fatalf("contact with its own source: %v", err)
	}
	if _, err := s.GetLastMsgForSubject(context.Background(), env.Topology.ContactSubject("acme", "admin", "3")); err != nil {
		t.Fatalf("contact 3 under the default source: %v", err)
	}

	csv := filepath.Join(dir, "contacts.csv")
	if err := os.WriteFile(csv, []byte("id,name,phones\n7,Seven,021 552 20 07\n8,,\n9,Nine,+41 44 668 18 00;0791234567\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := c.ok("import", csv, "--tenant", "acme", "--source", "hubspot")
	if !strings.Contains(out, "imported 2 contact(s) into acme") || !strings.Contains(out, "line 3: invalid contact: name or company is required") {
		t.Fatalf("human report:\n%s", out)
	}
	if r := c.run("import", csv, "--tenant", "Not Valid"); r.code != exitUsage {
		t.Fatalf("bad tenant: exit %d", r.code)
	}
	if r := c.run("import", filepath.Join(dir, "missing.csv"), "--tenant", "acme"); r.code != exitFailed {
		t.Fatalf("missing file: exit %d", r.code)
	}
}

// TestImportRefusesUnknownTenant: a tenant that neither the tenants bucket
// nor the tenants file has is refused before anything is published.
func TestImportRefusesUnknownTenant(t *testing.T) {
	c := tenantsCLI(t)
	file := filepath.Join(t.TempDir(), "contacts.ndjson")
	if err := os.WriteFile(file, []byte(`{"id":"1","name":"Ann","phones":[{"raw":"0215522000"}]}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("tenants", "apply", "-f", writeFile(t, "tenants:\n  - id: acme\n    region: CH\n    credentials: [{query: token, value: acme-token-1}]\n"))

	r := c.run("import", file, "--tenant", "ghost")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no such tenant") || !strings.Contains(r.stderr, "tenants bucket") {
		t.Fatalf("unknown tenant: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s, err := c.nats.JS.Stream(context.Background(), c.nats.Topology.Stream(events.StreamContacts))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Fatalf("refused import published: %v %+v", err, info)
	}
	if out := c.ok("import", file, "--tenant", "acme"); !strings.Contains(out, "imported 1 contact(s) into acme") {
		t.Fatalf("known tenant:\n%s", out)
	}
	// A tenant of the tenants file, not stored yet, is taken too.
	c.withConfig("admin: {token: admin-token-1}\ntenants:\n  - id: initech\n    region: CH\n    credentials: [{query: token, value: initech-token-1}]\n")
	if out := c.ok("import", file, "--tenant", "initech"); !strings.Contains(out, "into initech") {
		t.Fatalf("tenant of the file:\n%s", out)
	}
	if r := c.run("import", file, "--tenant", "ghost"); r.code != exitUsage || !strings.Contains(r.stderr, "calldex.yaml nor in the tenants bucket") {
		t.Fatalf("unknown to both: exit %d\n%s", r.code, r.stderr)
	}
}
