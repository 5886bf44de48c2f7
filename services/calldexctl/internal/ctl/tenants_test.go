package ctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
)

const tenantsFile = `
admin: {token: ignored-here}
tenants:
  - id: acme
    region: CH
    credentials: [{header: X-Api-Key, value: "${ACME_TOKEN}"}]
    workflows: {CallFlow: {action: logCall, connector: crm}}
    connectors:
      crm: {type: hubspot, token: "${HUBSPOT_TOKEN}"}
  - id: globex
    region: US
    credentials: [{query: token, value: globex-token-1}]
`

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tenantsCLI is a CLI on a topology with its tenants bucket, as a running
// calldex creates it.
func tenantsCLI(t *testing.T) *cli {
	t.Helper()
	env := natstest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tenantstore.EnsureBucket(ctx, env.JS, env.Topology); err != nil {
		t.Fatal(err)
	}
	return newCLI(t, env)
}

func TestTenantsApplyShowsDiffAndWrites(t *testing.T) {
	c := tenantsCLI(t)
	c.env["ACME_TOKEN"] = "acme-token-secret"
	c.env["CALLDEX_CREDENTIAL_KEY"] = "k1"
	file := writeFile(t, tenantsFile)

	out := c.ok("tenants", "apply", "-f", file, "--dry-run")
	if !strings.Contains(out, "create tenant acme") || !strings.Contains(out, "2 to create") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run:\n%s", out)
	}
	if strings.Contains(out, "acme-token-secret") {
		t.Fatalf("dry run shows a token:\n%s", out)
	}
	if list := c.ok("tenants", "list"); strings.Contains(list, "acme") {
		t.Fatalf("dry run wrote:\n%s", list)
	}

	c.ok("tenants", "apply", "-f", file)
	if out := c.ok("tenants", "apply", "-f", file); !strings.Contains(out, "2 unchanged") {
		t.Fatalf("second apply is not a no-op:\n%s", out)
	}

	rotated := strings.Replace(tenantsFile, "globex-token-1", "globex-token-2", 1)
	out = c.ok("tenants", "apply", "-f", writeFile(t, rotated), "--dry-run")
	if !strings.Contains(out, "update tenant globex") || !strings.Contains(out, "+     value: '******** (new)'") || !strings.Contains(out, "-     value: '********'") || !strings.Contains(out, "1 to update, 0 to delete, 1 unchanged") {
		t.Fatalf("rotation diff:\n%s", out)
	}

	got := c.ok("tenants", "get", "acme")
	if strings.Contains(got, "acme-token-secret") || strings.Contains(got, "argon2id") || !strings.Contains(got, "${HUBSPOT_TOKEN}") {
		t.Fatalf("get:\n%s", got)
	}

	pruned := strings.Split(tenantsFile, "  - id: globex")[0]
	out = c.ok("tenants", "apply", "-f", writeFile(t, pruned), "--prune")
	if !strings.Contains(out, "delete tenant globex") {
		t.Fatalf("prune:\n%s", out)
	}
	c.ok("tenants", "delete", "acme")
	if list := c.ok("tenants", "list"); strings.Contains(list, "acme") || strings.Contains(list, "globex") {
		t.Fatalf("after delete:\n%s", list)
	}
}

func TestTenantsApplyReportsEveryProblem(t *testing.T) {
	c := tenantsCLI(t)
	bad := strings.NewReplacer("region: CH", "region: XX", `"${HUBSPOT_TOKEN}"`, "literal-secret").Replace(tenantsFile)
	r := c.run("tenants", "apply", "-f", writeFile(t, bad))
	if r.code != exitFailed {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"tenant acme: region", "tenant acme: credentials[0].value: environment variable ACME_TOKEN", "tenant acme: connectors.crm.token", "nothing written"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("no %q in\n%s", want, r.stderr)
		}
	}
}

func TestTenantsHashToken(t *testing.T) {
	c := newCLI(t, nil)
	c.env["CALLDEX_CREDENTIAL_KEY"] = "k1"
	c.stdin = "acme-token-secret\n"
	out := strings.TrimSpace(c.ok("tenants", "hash-token", "--header", "X-Api-Key"))
	reg := tenant.NewKeyedRegistry([]byte("k1"), []*tenant.Tenant{{ID: "acme", Credentials: []tenant.Credential{{Header: "X-Api-Key", Value: out}}}})
	if got, ok := reg.ByCredentialValue("acme-token-secret"); !ok || got.ID != "acme" {
		t.Fatalf("hash %q does not match its token", out)
	}
	var cfg tenant.Config
	cfg.Admin.Token = strings.TrimSpace(c.ok("tenants", "hash-token", "--admin"))
	if !cfg.CheckAdmin("acme-token-secret") {
		t.Fatalf("admin hash %q refused", cfg.Admin.Token)
	}
	if r := c.run("tenants", "hash-token", "--admin", "--query", "token"); r.code != exitUsage {
		t.Fatalf("two locations: exit %d", r.code)
	}
}
