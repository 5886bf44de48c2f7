package ctl

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	calldex "github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
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
		!strings.HasPrefix(first.RedisKey, prefix+":{acme}:ph:") {
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

// runningCalldex runs the ingress and projector roles on the test's NATS,
// with the lookup tests' tenants and their in-process index.
func runningCalldex(t *testing.T) (*natstest.Env, *apptest.Process) {
	t.Helper()
	env := natstest.Connect(t)
	cfg, err := tenant.Parse([]byte(tenantsYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	conf := calldex.DefaultConfig()
	conf.NATSURL, conf.StreamPrefix, conf.Roles = env.URL, env.Topology.Prefix, calldex.Roles{calldex.RoleIngress, calldex.RoleProjector}
	srv := apptest.Start(t, conf, calldex.WithTenants(cfg))
	return env, srv
}

// TestLookupThroughAdminAPI explains a lookup of an in-process index
// through a running calldex's admin API.
func TestLookupThroughAdminAPI(t *testing.T) {
	env, srv := runningCalldex(t)
	ctx := context.Background()
	if _, err := contact.NewPublisher(env.JS, env.Topology).UpsertMany(ctx, "acme", lookupContacts); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the contacts indexed", func() bool {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/v1/tenants/acme/lookup?number=%2B41215522000", nil)
		req.Header.Set("Authorization", "Bearer admin-secret-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var ex struct{ Matches []json.RawMessage }
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&ex) == nil && len(ex.Matches) == 1
	})
	c := newCLI(t, env)
	c.env["CALLDEX_ADMIN_TOKEN"] = "admin-secret-token"
	var ex lookupExplain
	c.json(&ex, "lookup", "+41 21 552 20 00", "--tenant", "acme", "--server", srv.URL)
	if len(ex.Candidates) == 0 || ex.Candidates[0].Key != phone.Key("e:+41215522000") || len(ex.Matches) != 1 ||
		ex.Matches[0].Contact.ID != "landline" || ex.Via != srv.URL {
		t.Fatalf("explain %+v", ex)
	}
	if r := c.run("lookup", "1", "--tenant", "acme", "--server", srv.URL, "--admin-token", "wrong-token-123"); r.code != exitFailed || !strings.Contains(r.stderr, "401") {
		t.Fatalf("wrong token: exit %d %s", r.code, r.stderr)
	}
}

// TestEraseThroughAdminAPI erases a number through a running calldex and
// records the run, without the number, on AUDIT.
func TestEraseThroughAdminAPI(t *testing.T) {
	env, srv := runningCalldex(t)
	if _, err := contact.NewPublisher(env.JS, env.Topology).UpsertMany(context.Background(), "acme", lookupContacts); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, env)
	c.env["CALLDEX_ADMIN_TOKEN"] = "admin-secret-token"
	var ex lookupExplain
	testwait.Until(t, 10*time.Second, "the contacts indexed", func() bool {
		r := c.run("lookup", "+41215522000", "--tenant", "acme", "--server", srv.URL, "--json")
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &ex) == nil && len(ex.Matches) == 1
	})
	var rep eraseReport
	c.json(&rep, "erase", "+41215522000", "--tenant", "acme", "--server", srv.URL)
	if rep.Removed["contacts"] != 1 || len(rep.Contacts) != 1 || !rep.Indexed {
		t.Fatalf("erase report %+v", rep)
	}
	c.json(&ex, "lookup", "+41215522000", "--tenant", "acme", "--server", srv.URL)
	if len(ex.Matches) != 0 {
		t.Fatalf("the erased number still finds %+v", ex.Matches)
	}
	out := c.ok("audit", "--tenant", "acme", "--json")
	if !strings.Contains(out, `"calldexctl erase"`) || !strings.Contains(out, "numbers/{number}") || strings.Contains(out, "215522000") {
		t.Fatalf("audit of the erasure:\n%s", out)
	}
}
