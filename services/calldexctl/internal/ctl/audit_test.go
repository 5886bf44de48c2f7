package ctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
)

func TestAuditShowsWhoDidWhat(t *testing.T) {
	env := natstest.Connect(t)
	file := filepath.Join(t.TempDir(), "contacts.ndjson")
	if err := os.WriteFile(file, []byte(`{"id":"1","name":"Ann","phones":[{"raw":"0215522000"}]}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, env)
	c.env["USER"] = "ops-anna"
	c.ok("import", file, "--tenant", "acme")
	c.ok("dlq", "purge", "--yes")
	if r := c.run("dlq", "redrive", "no-such-id"); r.code == 0 {
		t.Fatalf("redrive of an unknown dead letter succeeded: %s", r.stdout)
	}
	c.ok("streams") // reads only: not audited

	var got []events.AuditEntry
	var tenants []string
	for _, line := range strings.Split(strings.TrimSpace(c.ok("audit", "--json")), "\n") {
		var ev tailedEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event == nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		var e events.AuditEntry
		if err := ev.Event.Payload(&e); err != nil {
			t.Fatal(err)
		}
		got, tenants = append(got, e), append(tenants, ev.Event.Tenant)
	}
	want := []struct{ action, outcome, tenant string }{
		{"calldexctl import", events.OutcomeOK, "acme"},
		{"calldexctl dlq purge", events.OutcomeOK, events.NoTenant},
		{"calldexctl dlq redrive", events.OutcomeFailed, events.NoTenant},
	}
	if len(got) != len(want) {
		t.Fatalf("audit = %+v, want %d events", got, len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Action != w.action || e.Outcome != w.outcome || tenants[i] != w.tenant || e.Via != events.ViaCalldexctl ||
			!strings.HasPrefix(e.Actor, "calldexctl:ops-anna@") {
			t.Errorf("audit %d = %+v (tenant %s), want %s %s for %s", i, e, tenants[i], w.action, w.outcome, w.tenant)
		}
		if _, ok := e.Target["--nats-url"]; ok {
			t.Errorf("audit %d records a URL flag: %v", i, e.Target)
		}
	}
	if got[0].Target["args"] != file || got[0].Target["--tenant"] != "acme" {
		t.Errorf("import target: %v", got[0].Target)
	}
	if got[2].Error == "" {
		t.Error("the failed redrive's error is not recorded")
	}
	if out := c.ok("audit", "--tenant", "acme"); !strings.Contains(out, "calldexctl import") || strings.Contains(out, "purge") {
		t.Errorf("audit --tenant acme:\n%s", out)
	}
}
