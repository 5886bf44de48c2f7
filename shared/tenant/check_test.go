package tenant_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/calldex/calldex/shared/tenant"
)

// broken has one problem of every kind, at known lines.
const broken = `admin:
  token: ""
tenants:
  - id: Bad.Id
    region: XX
    tailDigits: 2
    maxResult: 3
    credentials:
      - {header: X-A, query: b, value: long-enough-1}
      - header: X-B
        value: short
    allowedCIDRs: [10.0.0.0/8, nonsense]
    crmActions: [CallFlow, Nope]
    workflows:
      CallFlow: {action: logCall, connector: missing}
  - id: other
    region: CH
    workflowWait: soon
    credentials:
      - header: X-Token
        value: ${OTHER_TOKEN}
    connectors:
      crm: {driver: sqlite}
  - id: other
    region: CH
`

func TestCheckListsEveryProblemWithItsLine(t *testing.T) {
	ps := tenant.Check([]byte(broken), noEnv)
	got := map[string]bool{}
	for _, p := range ps {
		got[fmt.Sprintf("%d %s", p.Line, p.Kind)] = true
		t.Logf("%d %-7s %-35s %s", p.Line, p.Kind, p.Path, p.Message)
	}
	want := []struct {
		line           int
		kind, contains string
	}{
		{2, tenant.KindInvalid, "admin.token is required"},
		{4, tenant.KindInvalid, `"Bad.Id"`},
		{5, tenant.KindInvalid, `region "XX"`},
		{6, tenant.KindInvalid, "tail digits 2"},
		{7, tenant.KindField, "field maxResult not found"},
		{9, tenant.KindInvalid, "set exactly one of header or query"},
		{11, tenant.KindInvalid, "at least 8 characters"},
		{12, tenant.KindInvalid, "nonsense"},
		{13, tenant.KindInvalid, `workflow "Nope" is offered`},
		{15, tenant.KindInvalid, `connector "missing" is not defined`},
		{18, tenant.KindField, "soon"},
		{21, tenant.KindEnv, "OTHER_TOKEN is not set"},
		{23, tenant.KindInvalid, "connector crm: type is required"},
		{24, tenant.KindInvalid, `duplicate id "other"`},
		{24, tenant.KindInvalid, "at least one credential is required"},
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			if p.Line == w.line && p.Kind == w.kind && strings.Contains(p.Message, w.contains) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s problem %q at line %d", w.kind, w.contains, w.line)
		}
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].Line < ps[i-1].Line {
			t.Errorf("problems not sorted by line: %d after %d", ps[i].Line, ps[i-1].Line)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d", len(ps), len(want))
	}
}

func TestCheckPaths(t *testing.T) {
	ps := tenant.Check([]byte(broken), noEnv)
	paths := map[string]bool{}
	for _, p := range ps {
		paths[p.Path] = true
	}
	for _, want := range []string{"admin.token", "tenants[0].id", "tenants[0].credentials[1].value", "tenants[0].workflows.CallFlow.connector", "tenants[1].connectors.crm", "tenants[2].credentials"} {
		if !paths[want] {
			t.Errorf("no problem at %s in %v", want, paths)
		}
	}
}

func TestCheckValidAndSyntax(t *testing.T) {
	if ps := tenant.Check([]byte(valid), func(string) (string, bool) { return "acme-secret-1", true }); len(ps) != 0 {
		t.Fatalf("valid config: %v", ps)
	}
	ps := tenant.Check([]byte("admin:\n  token: x\ntenants: [\n"), noEnv)
	if len(ps) != 1 || ps[0].Kind != tenant.KindSyntax || ps[0].Line == 0 {
		t.Fatalf("syntax error: %+v", ps)
	}
}

func TestParseErrorsNameLines(t *testing.T) {
	_, err := tenant.Parse([]byte("admin: {token: x}\ntenants:\n  - id: a\n    region: XX\n    credentials: [{header: X, value: long-value-1}]\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), `line 4: tenant 0 (a): phone options: region "XX"`) {
		t.Fatalf("err = %v", err)
	}
}
