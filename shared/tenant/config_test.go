package tenant_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/tenant"
)

func noEnv(string) (string, bool) { return "", false }

const valid = `
admin: {token: admin-token-1}
tenants:
  - id: acme
    region: CH
    credentials:
      - {header: x-execution-token, value: "${ACME_TOKEN}"}
      - {query: token, value: acme-pbx-token}
    allowedCIDRs: [192.0.2.0/24]
    workflows:
      CallFlow: {action: logCall, connector: crm}
    connectors:
      crm: {type: sql, driver: sqlite, dsn: x.db}
  - id: globex
    region: US
    maxResults: 2
    credentials: [{header: X-Api-Key, value: globex-key-1}]
`

func TestParseAppliesDefaultsAndEnv(t *testing.T) {
	cfg, err := tenant.Parse([]byte(valid), func(k string) (string, bool) {
		if k == "ACME_TOKEN" {
			return "acme-secret-1", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := tenant.NewRegistry(cfg)
	acme, _ := reg.Tenant("acme")
	if acme.TailDigits != 9 || acme.MaxResults != 5 || acme.WorkflowWait != 2*time.Second ||
		acme.LookupTimeout != tenant.DefaultLookupTimeout {
		t.Fatalf("defaults not applied: %+v", acme)
	}
	if got := acme.Actions(); len(got) != 1 || got[0] != "CallFlow" {
		t.Fatalf("actions = %v", got)
	}
	if acme.Credentials[0].Value != "acme-secret-1" {
		t.Fatalf("env not expanded: %q", acme.Credentials[0].Value)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	bad := `
admin: {token: ""}
tenants:
  - id: Bad.Id
    region: XX
    tailDigits: 2
    credentials: [{header: X-A, query: b, value: short}]
    crmActions: [Nope]
    workflows:
      CallFlow: {action: logCall, connector: missing}
  - id: dup
    region: CH
    credentials: [{header: X-A, value: shared-value-1}]
  - id: dup
    region: CH
    credentials: [{header: X-B, value: own-value-1}]
  - id: other
    region: CH
    credentials: [{header: X-A, value: shared-value-1}]
`
	_, err := tenant.Parse([]byte(bad), noEnv)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"admin.token is required", `id "Bad.Id"`, `"XX"`, "tail digits 2", "set exactly one of header or query",
		`workflow "Nope" is offered but not defined`, `connector "missing" is not defined`, `duplicate id "dup"`,
		"tenant other: a credential is shared with tenant dup",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestParseMissingEnvNamesLine(t *testing.T) {
	_, err := tenant.Parse([]byte("admin: {token: x}\ntenants:\n  - id: a\n    credentials: [{header: X, value: \"${NOPE}\"}]\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "line 4: environment variable NOPE is not set") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseRejectsUnknownFields(t *testing.T) {
	_, err := tenant.Parse([]byte("admin: {token: x}\ntenants:\n  - id: a\n    regoin: CH\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "regoin") {
		t.Fatalf("err = %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	cfg, err := tenant.Parse([]byte(valid), func(string) (string, bool) { return "acme-secret-1", true })
	if err != nil {
		t.Fatal(err)
	}
	reg := tenant.NewRegistry(cfg)
	tests := []struct {
		name, target, remote string
		header               []string
		want                 string
		wantErr              error
	}{
		{"header, name case-insensitive", "/", "192.0.2.7:5000", []string{"X-Execution-Token", "acme-secret-1"}, "acme", nil},
		{"query", "/?token=acme-pbx-token", "192.0.2.7:5000", nil, "acme", nil},
		{"other tenant's header", "/", "10.0.0.1:1", []string{"X-Api-Key", "globex-key-1"}, "globex", nil},
		{"wrong value", "/", "192.0.2.7:5000", []string{"X-Execution-Token", "acme-secret-2"}, "", tenant.ErrUnauthenticated},
		{"value under another tenant's header", "/", "192.0.2.7:5000", []string{"X-Api-Key", "acme-secret-1"}, "", tenant.ErrUnauthenticated},
		{"none", "/", "192.0.2.7:5000", nil, "", tenant.ErrUnauthenticated},
		{"outside CIDR", "/", "198.51.100.1:5000", []string{"X-Execution-Token", "acme-secret-1"}, "", tenant.ErrAddressRefused},
		{"IPv4-mapped IPv6 inside CIDR", "/", "[::ffff:192.0.2.9]:5000", []string{"X-Execution-Token", "acme-secret-1"}, "acme", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			r.RemoteAddr = tt.remote
			for i := 0; i+1 < len(tt.header); i += 2 {
				r.Header.Set(tt.header[i], tt.header[i+1])
			}
			got, err := reg.Authenticate(r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got.ID != tt.want {
				t.Fatalf("tenant = %s, want %s", got.ID, tt.want)
			}
		})
	}
	if !cfg.CheckAdmin("admin-token-1") || cfg.CheckAdmin("admin-token-2") || cfg.CheckAdmin("") {
		t.Fatal("CheckAdmin")
	}
}
