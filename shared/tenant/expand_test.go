package tenant_test

import (
	"strings"
	"testing"

	"github.com/calldex/calldex/shared/tenant"
)

func TestEnvInCommentsIsNotExpanded(t *testing.T) {
	const cfg = `# ${CALLDEX_DATA_DIR} is the data directory (default ./data).
admin:
  token: ${ADMIN}   # from ${SECRET_STORE}
  #token: ${OLD_ADMIN}
tenants:
  - id: acme
    region: CH
    credentials:
      - {header: X-Token, value: "tok#${TOKEN} # ${TOKEN}"}   # ${NOT_THIS}
    connectors:
      crm:
        type: sql
        driver: sqlite
        dsn: 'file:${DIR}/a.db#x' # ${NOR_THIS}
        statements:
          logCall: |
            INSERT INTO t (k) VALUES (:key) -- # ${IN_BLOCK}
            # ${IN_BLOCK}
        urlTemplate: https://crm.example/#${ANCHOR}
      # ${AFTER_BLOCK}
`
	env := map[string]string{"ADMIN": "admin-token", "TOKEN": "abcdefgh", "DIR": "/data", "IN_BLOCK": "blk", "ANCHOR": "top"}
	asked := map[string]bool{}
	getenv := func(k string) (string, bool) {
		asked[k] = true
		v, ok := env[k]
		return v, ok
	}
	c, err := tenant.Parse([]byte(cfg), getenv)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"CALLDEX_DATA_DIR", "SECRET_STORE", "OLD_ADMIN", "NOT_THIS", "NOR_THIS", "AFTER_BLOCK"} {
		if asked[k] {
			t.Errorf("%s (in a comment) was looked up", k)
		}
	}
	if got := c.Tenants[0].Credentials[0].Value; got != "tok#abcdefgh # abcdefgh" {
		t.Errorf("quoted value %q", got)
	}
	opts := c.Tenants[0].Connectors["crm"].Options
	if got := opts["dsn"]; got != "file:/data/a.db#x" {
		t.Errorf("dsn %q", got)
	}
	if got := opts["urlTemplate"]; got != "https://crm.example/#top" {
		t.Errorf("urlTemplate %q", got)
	}
	stmt := opts["statements"].(map[string]any)["logCall"].(string)
	if strings.Count(stmt, "blk") != 2 {
		t.Errorf("block scalar %q: ${IN_BLOCK} expanded %d times, want 2", stmt, strings.Count(stmt, "blk"))
	}
	// A variable in a comment is not required either.
	if ps := tenant.Check([]byte(cfg), getenv); len(ps) != 0 {
		t.Errorf("Check: %v", ps)
	}
}
