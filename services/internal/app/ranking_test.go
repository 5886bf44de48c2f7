package app_test

import (
	"database/sql"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
)

// rankingTenants: shop ranks alphabetically and logs ended calls in its
// SQL CRM "crm"; plain keeps the default ranking. Both answer 2 contacts.
const rankingTenants = `admin: {token: admin-token-0123456789}
tenants:
  - id: shop
    region: CH
    maxResults: 2
    contactRanking: alphabetical
    credentials: [{header: X-Execution-Token, value: shop-token-0123456789}]
    automatic: [CallFlow]
    workflows:
      CallFlow: {action: logCall, connector: crm}
    connectors:
      crm: {type: sql, driver: sqlite, dsn: "${CRM_DSN}", sync: false}
  - id: plain
    region: CH
    maxResults: 2
    credentials: [{header: X-Execution-Token, value: plain-token-0123456789}]
`

// rankingContacts share one number. Anna Keller is in the admin import and
// in the CRM (as "Keller, Anna"): one person from two sources.
const rankingContacts = `{"id":"z1","name":"Zora Weber","phones":[{"raw":"021 552 20 00"}],"updatedAt":"2026-01-05T00:00:00Z"}
{"id":"b1","name":"Bruno Graf","phones":[{"raw":"021 552 20 00"}],"updatedAt":"2026-01-04T00:00:00Z"}
{"id":"a1","name":"Anna Keller","phones":[{"raw":"+41 21 552 20 00"}],"updatedAt":"2026-01-03T00:00:00Z"}
{"id":"crm-9","source":"crm","name":"Keller, Anna","crmName":"Shop CRM","contactUri":"https://crm.example.com/c/9","phones":[{"raw":"0215522000"}],"updatedAt":"2026-01-01T00:00:00Z","createdAt":"2020-01-01T00:00:00Z"}
`

// TestContactRankingThroughTheProcess: a tenant ranking alphabetically
// gets the alphabetically first person in its peoplefone and App Connect
// answers, answered once with the CRM's entry attached, and its automatic
// call log goes to that person's CRM id; a tenant with the default ranking
// gets the most recently updated.
func TestContactRankingThroughTheProcess(t *testing.T) {
	dsn := t.TempDir() + "/crm.sqlite"
	tenants, err := tenant.Parse([]byte(rankingTenants), func(k string) (string, bool) { return dsn, k == "CRM_DSN" })
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.TenantsFile = "ranking.yaml" // not the demo; WithTenants gives the content
	cfg.DataDir, cfg.EmbeddedNATSAddr = t.TempDir(), "127.0.0.1:0"
	cfg.AppConnectSecret = "ranking-test-secret-0123456789abcdef"
	p := apptest.Start(t, cfg, app.WithTenants(tenants))
	for _, id := range []string{"shop", "plain"} {
		code, body, _ := call(t, "POST", p.URL+"/admin/v1/tenants/"+id+"/contacts", rankingContacts,
			"Authorization", "Bearer admin-token-0123456789", "Content-Type", "application/x-ndjson")
		if code != 200 || !strings.Contains(body, `"accepted":4`) || !strings.Contains(body, `"indexed":true`) {
			t.Fatalf("import into %s: %d %s", id, code, body)
		}
	}
	type entry struct {
		ID         string
		Name       string
		CustomData map[string]string
	}
	peoplefone := func(token string) []entry {
		t.Helper()
		code, body, _ := call(t, "POST", p.URL+"/peoplefone/Lookup", `{"inputs":{"phoneNumber":"41215522000"}}`, "X-Execution-Token", token)
		var out []entry
		if err := json.Unmarshal([]byte(body), &out); err != nil || code != 200 {
			t.Fatalf("peoplefone lookup: %d %s", code, body)
		}
		return out
	}
	names := func(es []entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}

	shop := peoplefone("shop-token-0123456789")
	if want := []string{"Anna Keller", "Bruno Graf"}; !slices.Equal(names(shop), want) {
		t.Fatalf("shop (alphabetical) answered %v, want %v", names(shop), want)
	}
	if got := shop[0].CustomData; got["Shop CRM id"] != "crm-9" || got["Shop CRM link"] != "https://crm.example.com/c/9" {
		t.Errorf("Anna's other source in customData: %v", got)
	}
	if plain := peoplefone("plain-token-0123456789"); !slices.Equal(names(plain), []string{"Zora Weber", "Bruno Graf"}) {
		t.Errorf("plain (mostRecentlyUpdated) answered %v", names(plain))
	}

	// App Connect: the same first person, the CRM's entry in additionalInfo.
	code, body, _ := call(t, "POST", p.URL+"/appconnect/apiKeyLogin", `{"platform":"calldex","apiKey":"shop-token-0123456789"}`, "Content-Type", "application/json")
	var login struct{ JWTToken string }
	if err := json.Unmarshal([]byte(body), &login); err != nil || code != 200 || login.JWTToken == "" {
		t.Fatalf("apiKeyLogin: %d %s", code, body)
	}
	code, body, _ = call(t, "GET", p.URL+"/appconnect/contact?phoneNumber="+url.QueryEscape("+41215522000"), "", "Authorization", "Bearer "+login.JWTToken)
	var found struct {
		Contact []struct {
			ID             string
			Name           string
			AdditionalInfo struct {
				Source       string
				OtherSources []struct{ Source, ID, CRMName, ContactURI string }
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &found); err != nil || code != 200 || len(found.Contact) != 2 {
		t.Fatalf("App Connect contact: %d %s", code, body)
	}
	first := found.Contact[0]
	if first.Name != "Anna Keller" || first.ID != "a1" || len(first.AdditionalInfo.OtherSources) != 1 ||
		first.AdditionalInfo.OtherSources[0].ID != "crm-9" || first.AdditionalInfo.OtherSources[0].Source != "crm" {
		t.Errorf("App Connect's first contact: %+v", first)
	}
	if found.Contact[1].Name != "Bruno Graf" {
		t.Errorf("App Connect's second contact: %+v", found.Contact[1])
	}

	// An ended call is logged on the first person, by the id its CRM knows.
	ended := `{"event":"ended","callId":"call-7","direction":"incoming","originatorNumber":"41215522000","destinationNumber":"41215550000","startedTime":"2026-01-05T10:00:00Z","endedTime":"2026-01-05T10:01:05Z"}`
	if code, body, _ := call(t, "POST", p.URL+"/events/calls", ended, "X-Execution-Token", "shop-token-0123456789"); code != 202 {
		t.Fatalf("call event: %d %s", code, body)
	}
	db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var contact string
	testwait.Until(t, 10*time.Second, "the automatic call log", func() bool {
		return db.QueryRow(`SELECT contact_crm_id FROM call_logs`).Scan(&contact) == nil
	})
	if contact != "crm-9" {
		t.Errorf("the call was logged on contact %q, want crm-9 (Anna Keller in the CRM)", contact)
	}
}
