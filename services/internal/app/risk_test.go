package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

// TestRiskThroughTheProcess: one-ring calls to six tenants reach the
// process's feed through CALLS, and its lookups score the caller.
func TestRiskThroughTheProcess(t *testing.T) {
	var b strings.Builder
	b.WriteString("admin: {token: admin-token-0123456789}\ntenants:\n")
	for i := range 6 {
		fmt.Fprintf(&b, "  - {id: t%d, region: CH, credentials: [{query: token, value: token-of-t%d-123}]}\n", i, i)
	}
	tenants, err := tenant.Parse([]byte(b.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.TenantsFile = "risk.yaml"
	cfg.DataDir, cfg.EmbeddedNATSAddr = t.TempDir(), "127.0.0.1:0"
	p := apptest.Start(t, cfg, app.WithTenants(tenants))

	start := time.Now().UTC()
	for i := range 6 {
		q := fmt.Sprintf("?token=token-of-t%d-123", i)
		if code, body, _ := call(t, "GET", p.URL+"/pbx/lookup"+q+"&telephone=0791110000", ""); code != 200 || strings.Contains(body, "risk") {
			t.Fatalf("first lookup at t%d: %d %s", i, code, body)
		}
		ev := fmt.Sprintf(`{"event":"missed","callId":"c%d","direction":"incoming","originatorNumber":"+41791110000","destinationNumber":"0215550000","startedTime":%q,"endedTime":%q}`,
			i, start.Format(time.RFC3339), start.Add(2*time.Second).Format(time.RFC3339))
		if code, body, _ := call(t, "POST", p.URL+"/events/calls"+q, ev); code != 202 {
			t.Fatalf("call event: %d %s", code, body)
		}
	}
	var ex risk.Explanation
	testwait.Until(t, 20*time.Second, "the feed counted six tenants", func() bool {
		_, body, _ := call(t, "GET", p.URL+"/admin/v1/risk/+41791110000", "", "Authorization", "Bearer admin-token-0123456789")
		return json.Unmarshal([]byte(body), &ex) == nil && ex.Stats.Tenants == 6 && ex.Stats.Finished == 6 && ex.Stats.Calls == 6
	})
	// after_hours fires or not with the time the test runs at.
	for _, r := range []risk.Reason{risk.ManyTenants, risk.ShortCalls, risk.Unanswered} {
		if !ex.Reasons.Has(r) || !ex.High {
			t.Fatalf("explanation: %+v", ex)
		}
	}
	// The lookup path sees it once its snapshot is refreshed (each lookup
	// meanwhile counts as a call too).
	testwait.Until(t, 20*time.Second, "a lookup carries the risk", func() bool {
		_, body, _ := call(t, "GET", p.URL+"/pbx/lookup?token=token-of-t0-123&telephone=0791110000", "")
		var ans struct{ Risk *risk.Assessment }
		return json.Unmarshal([]byte(body), &ans) == nil && ans.Risk != nil && ans.Risk.High &&
			ans.Risk.Reasons.Has(risk.ManyTenants) && ans.Risk.Reasons.Has(risk.ShortCalls) && ans.Risk.Reasons.Has(risk.Unanswered)
	})
}
