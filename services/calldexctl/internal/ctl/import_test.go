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
