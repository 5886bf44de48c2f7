package ingress_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/risk"
)

// riskConfig has two tenants of one region: acme knows the robocaller as
// a contact, initech sends high-risk callers of its PBX to a voicemail.
const riskConfig = `
admin:
  token: admin-secret-token
tenants:
  - id: acme
    region: CH
    credentials:
      - header: X-Execution-Token
        value: acme-token-123
  - id: initech
    region: CH
    risk:
      timezone: Europe/Zurich
      businessHours: "07:30-17:00"
      highRiskRoute: {routeIdentifier: voicemail}
    credentials:
      - header: X-Execution-Token
        value: initech-token-123
      - query: token
        value: initech-pbx-token
`

const (
	robocaller = "+41791110000"
	premium    = "+41900123456"
	ordinary   = "+41215522000"
)

// newRiskHarness is an ingress whose lookups carry risk from an in-process
// store in which robocaller rang 12 tenants, one ring each.
func newRiskHarness(t *testing.T) *harness {
	t.Helper()
	store, err := risk.NewMemory(risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	var obs []risk.Observation
	for i := range 12 {
		tn := fmt.Sprintf("t%d", i)
		obs = append(obs,
			risk.Observation{Number: robocaller, Tenant: tn, At: time.Now(), Call: true},
			risk.Observation{Number: robocaller, Tenant: tn, At: time.Now(), Finished: true, Short: true})
	}
	if err := store.Record(t.Context(), obs); err != nil {
		t.Fatal(err)
	}
	cache := risk.NewCache(store, risk.CacheConfig{}, nil)
	if err := cache.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return newHarnessWith(t, riskConfig, natstest.Connect(t), func(d *ingress.Deps) {
		d.Risk = store
		d.Lookup.Service().WithRisk(cache)
	})
}

func TestRiskAnswersCarryCountsNeverAnotherTenantsContacts(t *testing.T) {
	h := newRiskHarness(t)
	secret := events.Contact{ID: "acme-secret-7", Name: "Acme Secret Person", Company: "Acme Confidential", Phones: []events.Phone{{Raw: robocaller}}}
	h.putContact("acme", secret)
	h.putContact("initech", events.Contact{ID: "ini-1", Name: "Initech Reception", Phones: []events.Phone{{Raw: ordinary}}})

	initech := func(path, body string) response {
		if body != "" {
			return h.do("POST", path, body, "X-Execution-Token", "initech-token-123")
		}
		return h.do("GET", path, "", "X-Execution-Token", "initech-token-123")
	}
	answers := map[string]response{
		"peoplefone":    initech("/peoplefone/Lookup", `{"inputs":{"phoneNumber":"41791110000"}}`),
		"peoplefone v1": initech("/peoplefone/Lookup?PhoneNumber=41791110000", ""),
		"pbx":           initech("/pbx/lookup?telephone=0791110000&token=initech-pbx-token", ""),
		"admin explain": h.do("GET", "/admin/v1/risk/"+robocaller+"?tenant=initech", "", "Authorization", "Bearer admin-secret-token"),
		"admin top":     h.do("GET", "/admin/v1/risk?limit=5", "", "Authorization", "Bearer admin-secret-token"),
	}
	for name, r := range answers {
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
		for _, leak := range []string{secret.ID, secret.Name, secret.Company, "acme"} {
			if strings.Contains(string(r.Body), leak) {
				t.Errorf("%s answer for initech holds acme's %q: %s", name, leak, r.Body)
			}
		}
	}

	var pbx map[string]any
	answers["pbx"].json(t, &pbx)
	rk, _ := pbx["risk"].(map[string]any)
	if rk["score"] != float64(85) || rk["high"] != true || pbx["route_identifier"] != "voicemail" || pbx["id"] != nil {
		t.Errorf("pbx answer for the robocaller: %s", answers["pbx"].Body)
	}
	if string(answers["peoplefone"].Body) != "[]\n" {
		t.Errorf("peoplefone for an unknown caller: %s, want [] (its only answer for no match)", answers["peoplefone"].Body)
	}
	var ex risk.Explanation
	answers["admin explain"].json(t, &ex)
	if ex.Stats.Tenants != 12 || ex.Score != 85 || !ex.Reasons.Has(risk.ManyTenants) || !ex.Reasons.Has(risk.ShortCalls) || !ex.Reasons.Has(risk.Unanswered) {
		t.Errorf("explanation: %s", answers["admin explain"].Body)
	}

	// acme knows the caller: its own contact, with the risk beside it.
	var entries []map[string]any
	h.peoplefone("41791110000").json(t, &entries)
	if len(entries) != 1 || entries[0]["id"] != secret.ID {
		t.Fatalf("acme's answer: %v", entries)
	}
	if cd := entries[0]["customData"].(map[string]any); cd["Risk"] != "85" || cd["RiskReasons"] != "many_tenants,short_calls,unanswered" {
		t.Errorf("customData = %v", cd)
	}
}

func TestRiskOfNumbersWithoutBehaviour(t *testing.T) {
	h := newRiskHarness(t)
	h.putContact("acme", events.Contact{ID: "c-1", Name: "Alexa Holiday", Phones: []events.Phone{{Raw: ordinary}}})
	h.putContact("acme", events.Contact{ID: "c-2", Name: "Hotline", Phones: []events.Phone{{Raw: premium}}})

	// No signal: the answer is what it was before risk existed.
	if got := string(h.peoplefone("41215522000").Body); got != `[{"name":"Alexa Holiday","company":"","contactUri":"","companyUri":"","id":"c-1","crmName":"","crmLogo":"","customData":{},"crmActions":[]}]`+"\n" {
		t.Errorf("ordinary caller: %s", got)
	}
	var entries []map[string]any
	h.peoplefone("41900123456").json(t, &entries)
	if cd := entries[0]["customData"].(map[string]any); cd["Risk"] != "70" || cd["RiskReasons"] != "premium_rate" {
		t.Errorf("premium-rate caller: customData %v", cd)
	}
	r := h.do("GET", "/pbx/lookup?telephone=0900123456&token=initech-pbx-token", "")
	var pbx map[string]any
	r.json(t, &pbx)
	if rk, _ := pbx["risk"].(map[string]any); rk["high"] != true || pbx["route_identifier"] != "voicemail" {
		t.Errorf("premium-rate caller at initech's PBX: %s", r.Body)
	}
	var none map[string]any
	h.do("GET", "/pbx/lookup?telephone=0215522000&token=initech-pbx-token", "").json(t, &none)
	if _, ok := none["risk"]; ok {
		t.Errorf("ordinary caller at the PBX has a risk field: %v", none)
	}
	if r := h.do("GET", "/admin/v1/risk/"+ordinary, "", "Authorization", "Bearer wrong"); r.Status != http.StatusUnauthorized {
		t.Errorf("explain without the admin token: %d", r.Status)
	}
	var ex risk.Explanation
	h.do("GET", "/admin/v1/risk/41900123456", "", "Authorization", "Bearer admin-secret-token").json(t, &ex)
	if ex.Number != premium || ex.Facts.Type != risk.TypePremiumRate || ex.Score != 70 || len(ex.Rules) != 9 {
		b, _ := json.Marshal(ex)
		t.Errorf("explain premium: %s", b)
	}
}
