package ingress_test

import (
	"context"
	"strings"
	"testing"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/audit"
	"github.com/calldex/calldex/shared/natstest"
)

// auditEvents reads every event of the AUDIT stream.
func auditEvents(t *testing.T, env *natstest.Env) ([]events.AuditEntry, []events.Envelope, string) {
	t.Helper()
	ctx := context.Background()
	s, err := env.JS.Stream(ctx, env.Topology.Stream(events.StreamAudit))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var entries []events.AuditEntry
	var envs []events.Envelope
	var raw strings.Builder
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("audit #%d: %v", seq, err)
		}
		raw.Write(m.Data)
		env, err := events.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var e events.AuditEntry
		if err := env.Payload(&e); err != nil {
			t.Fatal(err)
		}
		entries, envs = append(entries, e), append(envs, env)
	}
	return entries, envs, raw.String()
}

func TestEveryAdminRouteIsAudited(t *testing.T) {
	h := newHarness(t, func(d *ingress.Deps) {
		d.Resync = &resyncs{}
		d.Audit = audit.New(d.JS, d.Topology)
	})
	calls := []struct {
		method, path, body string
		auth               bool
		action, outcome    string
	}{
		{"PUT", "/admin/v1/tenants/acme/contacts/a1", `{"name":"Ann","phones":[{"raw":"0215522001"}]}`, true,
			"PUT /admin/v1/tenants/{tenant}/contacts/{id}", events.OutcomeOK},
		{"DELETE", "/admin/v1/tenants/acme/contacts/a1", "", true, "DELETE /admin/v1/tenants/{tenant}/contacts/{id}", events.OutcomeOK},
		{"POST", "/admin/v1/tenants/acme/contacts", `{"id":"b1","name":"Bo"}`, true, "POST /admin/v1/tenants/{tenant}/contacts", events.OutcomeOK},
		{"GET", "/admin/v1/tenants/acme/lookup?number=41215522000", "", true, "GET /admin/v1/tenants/{tenant}/lookup", events.OutcomeOK},
		{"POST", "/admin/v1/tenants/acme/sources/hubspot/resync", "", true, "POST /admin/v1/tenants/{tenant}/sources/{source}/resync", events.OutcomeOK},
		{"POST", "/admin/v1/tenants/acme/sources/nope/resync", "", true, "POST /admin/v1/tenants/{tenant}/sources/{source}/resync", events.OutcomeFailed},
		{"DELETE", "/admin/v1/tenants/acme/contacts/a2", "", false, "DELETE /admin/v1/tenants/{tenant}/contacts/{id}", events.OutcomeRefused},
	}
	for _, c := range calls {
		hdr := []string{"Content-Type", "application/x-ndjson"}
		if c.auth {
			hdr = append(hdr, "Authorization", adminAuth)
		} else {
			hdr = append(hdr, "Authorization", "Bearer a-guess-at-the-token")
		}
		if c.method != "POST" || !strings.HasSuffix(c.path, "/contacts") {
			hdr = hdr[2:]
		}
		if r := h.do(c.method, c.path, c.body, hdr...); r.Status >= 500 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	got, envs, raw := auditEvents(t, h.nats)
	if len(got) != len(calls) {
		t.Fatalf("%d audit events for %d admin requests: %+v", len(got), len(calls), got)
	}
	for i, c := range calls {
		e := got[i]
		wantActor := "admin-token"
		if !c.auth {
			wantActor = "none"
		}
		if e.Action != c.action || e.Outcome != c.outcome || e.Actor != wantActor || e.Via != events.ViaAPI ||
			e.Target["tenant"] != "acme" || e.Remote != "127.0.0.1" || envs[i].Tenant != "acme" || envs[i].Time.IsZero() {
			t.Errorf("audit %d = %+v (tenant %s), want %s %s by %s", i, e, envs[i].Tenant, c.action, c.outcome, wantActor)
		}
	}
	if got[0].Target["id"] != "a1" || got[4].Target["source"] != "hubspot" {
		t.Errorf("targets: %v, %v", got[0].Target, got[4].Target)
	}
	for _, secret := range []string{strings.TrimPrefix(adminAuth, "Bearer "), "a-guess-at-the-token"} {
		if strings.Contains(raw, secret) {
			t.Fatalf("an audit event holds a credential: %s", raw)
		}
	}
}
