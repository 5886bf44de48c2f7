package tenantcheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calldex/calldex/services/internal/tenantcheck"
	"github.com/calldex/calldex/shared/tenant"
)

// head starts every config of these tests.
const head = `admin:
  token: admin-token-123
tenants:
  - id: acme
    region: CH
    credentials:
      - {header: X-Token, value: acme-token-1}
`

// refused is a config the services refuse at start or dead-letter at run
// time, one problem per line marked "<-", and no other.
const refused = `# \${CALLDEX_DATA_DIR} in a comment needs no environment
` + head + `    workflows:
      CallFlow:
        action: logCal                 # <- unknown action
        connector: db
      Ticket:
        action: createTicket           # <- upstream cannot create tickets
        connector: peer
      Note: {action: logMessage, connector: zap}
    connectors:
      sf:
        type: salesforce               # <- unknown type
      db:
        type: sql
        driver: oracle                 # <- driver
        dsn: ${CALLDEX_DATA_DIR}/x.db
      hs:                              # <- no token
        type: hubspot
        portalId: 1
        syncInterval: soon             # <- a sync option
      legacy:
        type: upstream
        url: ftp://example.com/x       # <- scheme
        token: tok
      hook:                            # <- no url
        type: webhook
        secret: a-secret-of-16-chars
      peer: {type: upstream, url: "https://peer.example", token: tok}
      zap: {type: webhook, url: "https://hooks.example/x", secret: a-secret-of-16-chars}
    fallback:
      sources: [hs, nothere, zap]      # <- missing, cannot search (same line)
    appConnect:
      allowCreate: maybe               # <- not a boolean
      liveNameSearch: true
      colour: red                      # <- unknown
      crm: zap
    contactRanking: newest             # <- not a ranking
    risk:
      high: 120                        # <- out of range
      timezone: Mars/Olympus           # <- unknown zone
`

func TestCheckFindsWhatTheServicesRefuse(t *testing.T) {
	raw := []byte(strings.ReplaceAll(refused, `\$`, "$"))
	getenv := func(k string) (string, bool) { return "/data", k == "CALLDEX_DATA_DIR" }
	ps := tenantcheck.Check(raw, getenv)
	got := map[int][]string{}
	for _, p := range ps {
		got[p.Line] = append(got[p.Line], p.Path+": "+p.Message)
		t.Logf("%d %s: %s", p.Line, p.Path, p.Message)
	}
	want := map[int][]string{
		11: {`tenants[0].workflows.CallFlow.action: workflow CallFlow: action "logCal" is not one of logCall, createTicket, logMessage, logDisposition`},
		14: {`tenants[0].workflows.Ticket.action: workflow Ticket: connector peer (upstream) cannot createTicket (it can: no workflow action)`},
		19: {`tenants[0].connectors.sf.type: connector sf (salesforce): unknown connector type "salesforce"`},
		22: {`tenants[0].connectors.db.driver: connector db (sql):`, `driver "oracle" must be postgres, mysql or sqlite`},
		24: {`tenants[0].connectors.hs: connector hs (hubspot): hubspot options: token is required`},
		27: {`tenants[0].connectors.hs.syncInterval: connector hs (hubspot): option syncInterval: soon (string) is not a duration`},
		30: {`tenants[0].connectors.legacy.url: connector legacy (upstream): upstream options: url "ftp://example.com/x" must be an absolute http(s) URL`},
		32: {`tenants[0].connectors.hook: connector hook (webhook): webhook: url "" must be an absolute http(s) URL`},
		38: {`tenants[0].fallback.sources[1]: fallback source "nothere" is not a defined connector`,
			`tenants[0].fallback.sources[2]: fallback source zap (webhook) cannot search by phone`},
		40: {"tenants[0].appConnect.allowCreate: appConnect: cannot unmarshal !!str `maybe` into bool"},
		42: {"tenants[0].appConnect.colour: appConnect: field colour not found in type appconnect.TenantOptions"},
		44: {`tenants[0].contactRanking: contactRanking "newest" must be one of mostRecentlyUpdated, alphabetical, earliestCreated`},
		46: {"tenants[0].risk.high: risk: high 120 must be between 1 and 100"},
		47: {`tenants[0].risk.timezone: risk: timezone "Mars/Olympus"`},
	}
	for line, msgs := range want {
		for _, w := range msgs {
			found := false
			for _, g := range got[line] {
				found = found || strings.Contains(g, w)
			}
			if !found {
				t.Errorf("line %d: no problem saying %q (got %q)", line, w, got[line])
			}
		}
	}
	for line, msgs := range got {
		if _, ok := want[line]; !ok {
			t.Errorf("unexpected problems at line %d: %q", line, msgs)
		}
	}
	// With allowCreate fixed, the App Connect CRM is checked too.
	fixed := strings.Replace(string(raw), "allowCreate: maybe", "allowCreate: true", 1)
	fixed = strings.Replace(fixed, "colour: red", "", 1)
	ps = tenantcheck.Check([]byte(fixed), getenv)
	if !hasProblem(ps, 41, "appConnect: liveNameSearch: connector zap (webhook) cannot search by name") {
		t.Errorf("liveNameSearch on a webhook not reported: %v", ps)
	}
}

func hasProblem(ps []tenant.Problem, line int, msg string) bool {
	for _, p := range ps {
		if p.Line == line && strings.Contains(p.Message, msg) {
			return true
		}
	}
	return false
}

// accepted uses every connector type as documented in the README.
const accepted = head + `    contactRanking: alphabetical
    workflows:
      CallFlow: {action: logCall, connector: hubspot}
      Ticket: {action: createTicket, connector: crm}
      Message: {action: logMessage, connector: zapier}
      PipedriveCall: {action: logCall, connector: pipedrive}
    connectors:
      hubspot:
        type: hubspot
        token: pat-eu1-123
        portalId: 62515
        callKeyProperty: calldex_key
        syncInterval: 15s
        rateLimit: 4
        webhookSecret: hubspot-secret
      pipedrive:
        type: pipedrive
        companyDomain: acme
        token: pd-token
        webhookUser: calldex
        webhookPassword: hook-password
      legacy:
        type: upstream
        url: https://crm.example.com/services
        token: upstream-token
        timeout: 2s
      crm:
        type: sql
        driver: postgres
        dsn: postgres://calldex@127.0.0.1:1/none
        urlTemplate: https://crm.acme.example/calls/{id}
        sync: false
      zapier:
        type: webhook
        url: https://hooks.zapier.com/hooks/catch/123/abc
        secret: zapier-secret-16-chars
    fallback:
      sources: [hubspot, legacy]
    appConnect:
      allowCreate: true
      crm: hubspot
      livePhoneSearch: true
      liveNameSearch: true
      directory:
        - {number: "201", name: Reception}
    risk:
      high: 60
      minTenants: 8
      minCalls: 4
      shortRatio: 0.5
      unansweredRatio: 0.7
      afterHoursRatio: 0.6
      burstCalls: 50
      timezone: Europe/Zurich
      businessHours: "07:30-17:30"
      highRiskRoute: {routeIdentifier: voicemail, directLine: "+41215550099"}
`

func TestCheckAcceptsAWorkingConfig(t *testing.T) {
	if ps := tenantcheck.Check([]byte(accepted), noEnv); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
	demo, err := os.ReadFile("../../../deploy/demo/calldex.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if ps := tenantcheck.Check(demo, func(k string) (string, bool) { return "/data", k == "CALLDEX_DATA_DIR" }); len(ps) != 0 {
		t.Fatalf("demo config: %v", ps)
	}
}

func TestLoadRefusesWhatCheckReports(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(refused, `\$`, "$")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tenantcheck.Load(path, func(k string) (string, bool) { return "/data", k == "CALLDEX_DATA_DIR" })
	if err == nil {
		t.Fatal("a refused config loads")
	}
	for _, w := range []string{`line 11: tenant 0 (acme): workflow CallFlow: action "logCal"`, "line 40: tenant 0 (acme): appConnect: cannot unmarshal"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if err := os.WriteFile(path, []byte(accepted), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tenantcheck.Load(path, noEnv); err != nil {
		t.Fatal(err)
	}
}

func noEnv(string) (string, bool) { return "", false }
