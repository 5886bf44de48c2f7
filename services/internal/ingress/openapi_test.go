package ingress_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/services/internal/openapitest"
	"github.com/calldex/calldex/shared/risk"
)

// TestOpenAPIDocumentsEveryRoute checks that every route the server
// registers, with every optional part enabled, is in the document it
// serves. The App Connect routes are checked by the appconnect tests, which
// have the real handler.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	sub := http.NotFoundHandler()
	h := newHarness(t, func(d *ingress.Deps) {
		d.Workflows = struct{ ingress.Dispatcher }{}
		d.AppConnect, d.Webhooks, d.TenantAdmin, d.Console = sub, sub, sub, sub
		d.Resync = struct{ ingress.Resyncer }{}
		d.Eraser = struct{ ingress.Eraser }{}
		d.Names = struct{ ingress.NameSearcher }{}
		d.Runs = struct{ ingress.Runs }{}
		d.Sources = struct{ ingress.Sources }{}
		d.DeadLetters = struct{ ingress.DeadLetters }{}
		d.Risk = struct{ risk.Store }{}
	})
	patterns := h.server.Patterns()
	if len(patterns) < 30 {
		t.Fatalf("only %d routes: %q", len(patterns), patterns)
	}
	openapitest.RequireDocumented(t, ingress.OpenAPI, patterns)
}

// TestUndocumentedFindsMissingRoutes keeps the check above able to fail.
func TestUndocumentedFindsMissingRoutes(t *testing.T) {
	missing, err := openapitest.Undocumented(ingress.OpenAPI, []string{
		"GET /pbx/lookup", "POST /pbx/lookup", "GET /admin/v1/tenants/{t}/lookup", "GET /nowhere/{x}", "/webhooks/", "/nowhere/",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /pbx/lookup", "GET /nowhere/{x}", "/nowhere/"}
	if !slices.Equal(missing, want) {
		t.Errorf("undocumented %q, want %q", missing, want)
	}
}
