package ctl

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/risk"
)

func TestRiskTopListsTheRiskiestCallersFromRedis(t *testing.T) {
	env := natstest.Connect(t)
	rdb, prefix := redistest.Client(t)
	store, err := risk.NewRedis(rdb, prefix, risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var obs []risk.Observation
	for i := range 8 {
		tn := fmt.Sprintf("t%d", i)
		obs = append(obs,
			risk.Observation{Number: "+41791110000", Tenant: tn, At: now, Call: true},
			risk.Observation{Number: "+41791110000", Tenant: tn, At: now, Finished: true, Short: true},
			risk.Observation{Number: "+41900123456", Tenant: tn[:1] + "0", At: now, Finished: true, Answered: true},
			risk.Observation{Number: "+41215522000", Tenant: "t0", At: now, Call: true, Finished: true, Answered: true})
	}
	if err := store.Record(t.Context(), obs); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, env).withRedis(prefix)
	var ranked []risk.Ranked
	c.json(&ranked, "risk", "top", "--limit", "5")
	if len(ranked) != 2 || ranked[0].Number != "+41791110000" || ranked[0].Score != 85 || ranked[0].Tenants != 8 ||
		ranked[1].Number != "+41900123456" || ranked[1].Reasons != 1<<risk.PremiumRate {
		t.Fatalf("risk top = %+v; want the robocaller, then the premium-rate number, and not the ordinary caller", ranked)
	}
	out := c.ok("risk", "top")
	for _, want := range []string{"+41791110000", "many_tenants,short_calls,unanswered", "premium_rate"} {
		if !strings.Contains(out, want) {
			t.Errorf("risk top lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "+41215522000") {
		t.Errorf("risk top lists a caller without a signal:\n%s", out)
	}
}
