package ctl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calldex/calldex/shared/tenant"
)

func TestConfigCheckListsAllProblemsWithLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(`admin:
  token: ${ADMIN_TOKEN}
tenants:
  - id: Acme
    region: XX
    credentials:
      - {header: X-Token, value: short}
    crmActions: [CallFlow]
  - id: beta
    region: CH
    maxResult: 3
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, nil)
	r := c.run("config", "check", path, "--json")
	if r.code != exitFailed {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got struct {
		OK       bool
		Problems []tenant.Problem
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	lines := map[int]bool{}
	for _, p := range got.Problems {
		lines[p.Line] = true
	}
	if got.OK || len(got.Problems) != 7 {
		t.Fatalf("problems %+v", got.Problems)
	}
	for _, l := range []int{2, 4, 5, 7, 8, 9, 11} {
		if !lines[l] {
			t.Errorf("no problem at line %d: %+v", l, got.Problems)
		}
	}
	out := c.run("config", "check", path).stdout
	for _, want := range []string{path + ":2: environment variable ADMIN_TOKEN is not set", path + ":5: tenants[0].region:", "7 problem(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("human output lacks %q:\n%s", want, out)
		}
	}
	// Without the secrets of the machine it runs on.
	if out := c.run("config", "check", path, "--ignore-missing-env").stdout; strings.Contains(out, "ADMIN_TOKEN") || !strings.Contains(out, "6 problem(s)") {
		t.Fatalf("--ignore-missing-env:\n%s", out)
	}
	c.env["CALLDEX_DATA_DIR"] = "/tmp"
	if out := c.ok("config", "check", "../../../../deploy/demo/calldex.yaml"); !strings.Contains(out, "ok") {
		t.Fatalf("demo config: %s", out)
	}
}
