package ctl

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/eventpub"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/tenant"
)

var lookupContacts = []events.Contact{
	{ID: "landline", Source: "crm", Name: "Alexa Holiday", Company: "White Cross", Phones: []events.Phone{{Raw: "021 552 20 00"}}},
	{ID: "tail", Source: "crm", Name: "Old Record", Phones: []events.Phone{{Raw: "00 41 21 552 20 00 99"}}},
}

func TestLookupExplainsAgainstRedis(t *testing.T) {
	env := natstest.Connect(t)
	_, prefix := redistest.Client(t)
	s := serve(t, env, prefix)
	seq, err := contact.NewPublisher(env.JS, env.Topology).UpsertMany(context.Background(), "acme", lookupContacts)
	if err != nil {
		t.Fatal(err)
	}
	s.waitApplied(t, seq)
	c := newCLI(t, env).withRedis(prefix).withConfig(tenantsYAML)
	var ex lookupExplain
	c.json(&ex, "lookup", "0215522000", "--tenant", "acme")
	if ex.Region != "CH" || ex.MaxResults != 3 || ex.Generation != "original" || len(ex.Candidates) < 2 {
		t.Fatalf("explain %+v", ex)
	}
	first := ex.Candidates[0]
	if first.Key != "e:+41215522000" || first.Kind != "exact" || first.Contacts == nil || *first.Contacts != 1 ||
		first.RedisKey != prefix+":{acme}:k:e:+41215522000" {
		t.Fatalf("first candidate %+v", first)
	}
	if len(ex.Matches) != 1 || ex.Matches[0].Contact.ID != "landline" || ex.Matches[0].Kind != "exact" ||
		len(ex.Matches[0].FoundBy) != 2 || ex.Matches[0].FoundBy[0] != "e:+41215522000" || ex.Matches[0].FoundBy[1] != "t:215522000" {
		t.Fatalf("matches %+v", ex.Matches)
	}
	out := c.ok("lookup", "0215522000", "--tenant", "acme")
	for _, want := range []string{"candidate keys", "e:+41215522000", "crm/landline", "Alexa Holiday", "exact"} {
		if !strings.Contains(out, want) {
			t.Errorf("human explain lacks %q:\n%s", want, out)
		}
	}
	c.json(&ex, "lookup", "abc", "--tenant", "acme")
	if ex.NotANumber == "" || len(ex.Matches) != 0 {
		t.Fatalf("not a number: %+v", ex)
	}
	if r := c.run("lookup", "0215522000", "--tenant", "ghost"); r.code != exitUsage {
		t.Fatalf("unknown tenant: exit %d", r.code)
	}
}

// TestLookupThroughAdminAPI explains a lookup of an in-process index
// through a running calldex's admin API.
func TestLookupThroughAdminAPI(t *testing.T) {
	env := natstest.Connect(t)
	cfg, err := tenant.Parse([]byte(tenantsYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	reg := tenant.NewRegistry(cfg)
	idx := index.NewMemory()
	p, err := projector.New(projector.Config{Topology: env.Topology}, env.JS, idx, regOptions{reg}, &projector.Memory{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = p.Run(ctx) }()
	m := metrics.New()
	pub := eventpub.New(env.JS, 16, m.EventsDropped.WithLabelValues("CALLS"), m.EventsFailed.WithLabelValues("CALLS"), quiet)
	go func() { _ = pub.Run(ctx) }()
	contacts := contact.NewPublisher(env.JS, env.Topology)
	srv, err := ingress.New(ingress.Deps{Config: cfg, Tenants: reg, Index: idx, Lookup: lookup.New(idx), Contacts: contacts,
		Projection: p, Events: pub, JS: env.JS, Topology: env.Topology, Metrics: m, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	seq, err := contacts.UpsertMany(ctx, "acme", lookupContacts)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*1e9)
	defer wcancel()
	if err := p.WaitApplied(wctx, seq); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, env)
	c.env["CALLDEX_ADMIN_TOKEN"] = "admin-secret-token"
	var ex lookupExplain
	c.json(&ex, "lookup", "+41 21 552 20 00", "--tenant", "acme", "--server", hs.URL)
	if len(ex.Candidates) == 0 || ex.Candidates[0].Key != phone.Key("e:+41215522000") || len(ex.Matches) != 1 ||
		ex.Matches[0].Contact.ID != "landline" || ex.Via != hs.URL {
		t.Fatalf("explain %+v", ex)
	}
	if r := c.run("lookup", "1", "--tenant", "acme", "--server", hs.URL, "--admin-token", "wrong-token-123"); r.code != exitFailed || !strings.Contains(r.stderr, "401") {
		t.Fatalf("wrong token: exit %d %s", r.code, r.stderr)
	}
}
