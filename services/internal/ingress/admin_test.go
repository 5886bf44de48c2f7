package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/calldex/calldex/services/internal/ingress"
)

const adminAuth = "Bearer admin-secret-token"

func TestAdminPutDeleteContact(t *testing.T) {
	h := newHarness(t)
	put := func(body string) response {
		return h.do("PUT", "/admin/v1/tenants/acme/contacts/p-7", body, "Authorization", adminAuth)
	}
	if r := put(`{"name":"Zoë Keller","phones":[{"raw":"044 123 45 67"}]}`); r.Status != 200 {
		t.Fatalf("put: %d %s", r.Status, r.Body)
	}
	if r := h.peoplefone("41441234567"); !strings.Contains(string(r.Body), `"id":"p-7"`) {
		t.Fatalf("lookup after put: %s", r.Body)
	}
	// Replacing the contact drops its old number.
	if r := put(`{"name":"Zoë Keller","phones":[{"raw":"044 765 43 21"}]}`); r.Status != 200 {
		t.Fatalf("replace: %d %s", r.Status, r.Body)
	}
	if r := h.peoplefone("41441234567"); strings.TrimSpace(string(r.Body)) != "[]" {
		t.Fatalf("old number still found: %s", r.Body)
	}
	if r := h.do("DELETE", "/admin/v1/tenants/acme/contacts/p-7", "", "Authorization", adminAuth); r.Status != 200 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := h.peoplefone("41447654321"); strings.TrimSpace(string(r.Body)) != "[]" {
		t.Fatalf("deleted contact still found: %s", r.Body)
	}
}

func TestAdminRefusals(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, method, path, body string
		header                   []string
		want                     int
	}{
		{"no token", "PUT", "/admin/v1/tenants/acme/contacts/x", `{"name":"X"}`, nil, 401},
		{"tenant token is not admin", "PUT", "/admin/v1/tenants/acme/contacts/x", `{"name":"X"}`, []string{"Authorization", "Bearer acme-token-123"}, 401},
		{"unknown tenant", "PUT", "/admin/v1/tenants/nobody/contacts/x", `{"name":"X"}`, []string{"Authorization", adminAuth}, 404},
		{"no name", "PUT", "/admin/v1/tenants/acme/contacts/x", `{"phones":[{"raw":"0215522000"}]}`, []string{"Authorization", adminAuth}, 400},
		{"id differs", "PUT", "/admin/v1/tenants/acme/contacts/x", `{"id":"y","name":"X"}`, []string{"Authorization", adminAuth}, 400},
		{"bad source", "PUT", "/admin/v1/tenants/acme/contacts/x", `{"name":"X","source":"A B"}`, []string{"Authorization", adminAuth}, 400},
		{"unknown field", "PUT", "/admin/v1/tenants/acme/contacts/x", `{"name":"X","phones":"0215522000"}`, []string{"Authorization", adminAuth}, 400},
		{"bulk wrong type", "POST", "/admin/v1/tenants/acme/contacts", `x`, []string{"Authorization", adminAuth, "Content-Type", "text/plain"}, 415},
		{"bulk bad csv header", "POST", "/admin/v1/tenants/acme/contacts", "id,nom\n1,X\n", []string{"Authorization", adminAuth, "Content-Type", "text/csv"}, 400},
		{"explain without number", "GET", "/admin/v1/tenants/acme/lookup", "", []string{"Authorization", adminAuth}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := h.do(tt.method, tt.path, tt.body, tt.header...); r.Status != tt.want {
				t.Fatalf("got %d %s, want %d", r.Status, r.Body, tt.want)
			}
		})
	}
}

type importAnswer struct {
	Accepted, Rejected int
	Indexed            bool
	Errors             []struct {
		Line   int
		Reason string
	}
}

func TestAdminBulkNDJSON(t *testing.T) {
	h := newHarness(t)
	body := strings.Join([]string{
		`{"id":"n1","name":"Ann","phones":[{"raw":"+41 21 552 20 01"}]}`,
		`{"id":"n2","name":"Bob","phones":[{"raw":"+41 21 552 20 02"}]`, // line 2: malformed
		``,
		`{"id":"","name":"Nobody"}`, // line 4: no id
		`{"id":"n5","company":"Cie","phones":[{"raw":"0215522005"}],"customData":{"b":"2","a":"1"}}`,
	}, "\n")
	r := h.do("POST", "/admin/v1/tenants/acme/contacts", body, "Authorization", adminAuth, "Content-Type", "application/x-ndjson")
	var got importAnswer
	r.json(t, &got)
	if r.Status != 200 || got.Accepted != 2 || got.Rejected != 2 || !got.Indexed {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	if got.Errors[0].Line != 2 || !strings.Contains(got.Errors[0].Reason, "malformed JSON") ||
		got.Errors[1].Line != 4 || !strings.Contains(got.Errors[1].Reason, "id is required") {
		t.Fatalf("rejected lines: %+v", got.Errors)
	}
	if r := h.peoplefone("41215522005"); !strings.Contains(string(r.Body), `"customData":{"b":"2","a":"1"}`) {
		t.Fatalf("imported contact: %s", r.Body)
	}
}

func TestAdminBulkCSV(t *testing.T) {
	h := newHarness(t)
	body := "id,name,company,phones,emails,contactUri,companyUri,crmName,type\n" +
		"k1,Kim,KCorp,0215522011;+41 79 555 01 11,kim@k.example,https://crm/k1,,Demo,lead\n" +
		"k2,Lee\n" + // line 3: too few fields
		",NoID,,0215522013,,,,,\n" // line 4: no id
	r := h.do("POST", "/admin/v1/tenants/acme/contacts", body, "Authorization", adminAuth, "Content-Type", "text/csv")
	var got importAnswer
	r.json(t, &got)
	if r.Status != 200 || got.Accepted != 1 || got.Rejected != 2 || got.Errors[0].Line != 3 || got.Errors[1].Line != 4 {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	for _, n := range []string{"41215522011", "41795550111"} {
		if r := h.peoplefone(n); !strings.Contains(string(r.Body), `"id":"k1"`) {
			t.Fatalf("%s: %s", n, r.Body)
		}
	}
}

func TestAdminExplainLookup(t *testing.T) {
	h := newHarness(t)
	h.putContact("acme", alexa())
	r := h.do("GET", "/admin/v1/tenants/acme/lookup?number=41215522000", "", "Authorization", adminAuth)
	var got struct {
		Candidates []string
		Matches    []struct{ Kind string }
		TookMicros *int64
	}
	r.json(t, &got)
	if r.Status != http.StatusOK || len(got.Candidates) == 0 || got.Candidates[0] != "e:+41215522000" ||
		len(got.Matches) != 1 || got.Matches[0].Kind != "exact" || got.TookMicros == nil {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
}

type resyncs struct{ got []string }

func (r *resyncs) Resync(_ context.Context, tenant, source string) error {
	r.got = append(r.got, tenant+"/"+source)
	return nil
}

func TestAdminResync(t *testing.T) {
	rs := &resyncs{}
	h := newHarness(t, func(d *ingress.Deps) { d.Resync = rs })
	if r := h.do("POST", "/admin/v1/tenants/acme/sources/hubspot/resync", "", "Authorization", adminAuth); r.Status != 202 {
		t.Fatalf("resync: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/admin/v1/tenants/acme/sources/nope/resync", "", "Authorization", adminAuth); r.Status != 404 {
		t.Fatalf("unknown source: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/admin/v1/tenants/acme/sources/hubspot/resync", ""); r.Status != 401 {
		t.Fatalf("no token: %d %s", r.Status, r.Body)
	}
	if len(rs.got) != 1 || rs.got[0] != "acme/hubspot" {
		t.Fatalf("resyncs requested: %v", rs.got)
	}
}
