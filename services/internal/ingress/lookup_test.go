package ingress_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
)

func alexa() events.Contact {
	qp := 3
	return events.Contact{
		ID: "c-1", Name: "Alexa Holiday", Company: "White Cross Co",
		ContactURI: "https://crm.example.com/c/1", CompanyURI: "https://crm.example.com/co/9",
		CRMName: "Sugar CRM", CRMLogo: "https://crm.example.com/logo.png",
		Phones:     []events.Phone{{Raw: "021 552 20 00"}},
		CustomData: events.CustomData{{Key: "Title2", Value: "Data2"}, {Key: "Title1", Value: "Data1"}},
		Routing:    events.Routing{DirectLine: "SIP/ion-popescu", QueuePosition: &qp, RouteIdentifier: "emag"},
	}
}

func TestPeoplefoneLookup(t *testing.T) {
	h := newHarness(t)
	h.putContact("acme", alexa())

	for _, number := range []string{"41215522000", "0041215522000", "+41 21 552 20 00", "0215522000"} {
		r := h.peoplefone(number)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: status %d %s", number, r.Status, r.Body)
		}
		var got []map[string]any
		r.json(t, &got)
		if len(got) != 1 || got[0]["id"] != "c-1" || got[0]["name"] != "Alexa Holiday" || got[0]["crmName"] != "Sugar CRM" {
			t.Fatalf("%s: got %s", number, r.Body)
		}
	}
	// customData keeps the contact's key order.
	if r := h.peoplefone("41215522000"); !strings.Contains(string(r.Body), `"customData":{"Title2":"Data2","Title1":"Data1"}`) {
		t.Fatalf("customData order lost: %s", r.Body)
	}
}

func TestPeoplefoneLookupMissIsEmptyArray(t *testing.T) {
	h := newHarness(t)
	for _, number := range []string{"41449999999", "abc", "12345678901234567890123456789012345678901"} {
		r := h.peoplefone(number)
		if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "[]" {
			t.Fatalf("%q: want 200 [] (never 404), got %d %s", number, r.Status, r.Body)
		}
	}
}

func TestPeoplefoneLookupBadRequests(t *testing.T) {
	h := newHarness(t)
	tok := []string{"X-Execution-Token", "acme-token-123"}
	tests := []struct {
		name, body string
		want       int
		code       string
	}{
		{"malformed JSON", `{"inputs":`, 400, "bad_request"},
		{"not an object", `[1,2]`, 400, "bad_request"},
		{"two values", `{"inputs":{"phoneNumber":"41215522000"}} {}`, 400, "bad_request"},
		{"missing number", `{"inputs":{}}`, 400, "bad_request"},
		{"empty number", `{"inputs":{"phoneNumber":"  "}}`, 400, "bad_request"},
		{"oversized body", `{"inputs":{"phoneNumber":"41215522000","pad":"` + strings.Repeat("x", 70<<10) + `"}}`, 413, "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", "/peoplefone/Lookup", tt.body, tok...)
			if r.Status != tt.want || r.errorCode(t) != tt.code {
				t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tt.want, tt.code)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	body := `{"inputs":{"phoneNumber":"41215522000"}}`
	unauthorized := []struct {
		name   string
		header []string
		path   string
	}{
		{"no credential", nil, "/peoplefone/Lookup"},
		{"wrong token", []string{"X-Execution-Token", "acme-token-124"}, "/peoplefone/Lookup"},
		{"right value, wrong header", []string{"X-Api-Key", "acme-token-123"}, "/peoplefone/Lookup"},
		{"query value in a header", []string{"X-Execution-Token", "acme-query-token"}, "/peoplefone/Lookup"},
		{"wrong query token", nil, "/peoplefone/Lookup?token=nope-nope-nope"},
	}
	var first string
	for _, tt := range unauthorized {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do("POST", tt.path, body, tt.header...)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("got %d %s, want 401", r.Status, r.Body)
			}
			// Every refusal is the same answer: nothing tells whether a tenant exists.
			if first == "" {
				first = string(r.Body)
			} else if string(r.Body) != first {
				t.Fatalf("401 bodies differ: %s vs %s", r.Body, first)
			}
		})
	}
	t.Run("query token", func(t *testing.T) {
		if r := h.do("POST", "/peoplefone/Lookup?token=acme-query-token", body); r.Status != 200 {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("custom header name of another tenant, refused by CIDR", func(t *testing.T) {
		// httptest clients come from 127.0.0.1, outside globex's 10.9.0.0/16.
		r := h.do("POST", "/peoplefone/Lookup", body, "X-Api-Key", "globex-key-456")
		if r.Status != http.StatusForbidden || r.errorCode(t) != "forbidden" {
			t.Fatalf("got %d %s, want 403", r.Status, r.Body)
		}
	})
}

func TestTenantsAreIsolated(t *testing.T) {
	h := newHarness(t)
	c := alexa()
	c.Phones = []events.Phone{{Raw: "+1 212 555 0100"}}
	h.putContact("globex", c)
	// acme calls the same number: globex's contact must not show.
	if r := h.peoplefone("12125550100"); strings.TrimSpace(string(r.Body)) != "[]" {
		t.Fatalf("acme sees globex's contact: %s", r.Body)
	}
}

func TestMaxResultsAndCRMActions(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		c := alexa()
		c.ID = id
		h.putContact("acme", c)
	}
	var got []map[string]any
	h.peoplefone("41215522000").json(t, &got)
	if len(got) != 3 {
		t.Fatalf("got %d results, tenant maxResults is 3", len(got))
	}
	if got[0]["id"] != "e" {
		t.Fatalf("newest first: got %v first", got[0]["id"])
	}
	if a, ok := got[0]["crmActions"].([]any); !ok || len(a) != 0 {
		t.Fatalf("crmActions = %v, want [] for a tenant with no workflows", got[0]["crmActions"])
	}
}

func TestPeoplefoneLookupV1(t *testing.T) {
	h := newHarness(t)
	h.putContact("acme", alexa())
	r := h.do("GET", "/peoplefone/Lookup?PhoneNumber=41215522000", "", "X-Execution-Token", "acme-token-123")
	var got []map[string]any
	r.json(t, &got)
	if r.Status != 200 || len(got) != 1 || got[0]["Name"] != "Alexa Holiday" || got[0]["Id"] != "c-1" || got[0]["CrmLogo"] == nil {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	if _, camel := got[0]["name"]; camel {
		t.Fatalf("first version answers PascalCase only: %s", r.Body)
	}
	if r := h.do("GET", "/peoplefone/Lookup?PhoneNumber=41449999999", "", "X-Execution-Token", "acme-token-123"); strings.TrimSpace(string(r.Body)) != "[]" {
		t.Fatalf("miss: %s", r.Body)
	}
	if r := h.do("GET", "/peoplefone/Lookup", "", "X-Execution-Token", "acme-token-123"); r.Status != 400 {
		t.Fatalf("missing PhoneNumber: %d", r.Status)
	}
}

func TestPBXLookup(t *testing.T) {
	h := newHarness(t)
	h.putContact("acme", alexa())
	r := h.do("GET", "/pbx/lookup?telephone=0215522000&dnid=0215550000&token=acme-query-token", "")
	want := `{"id":"c-1","name":"Alexa Holiday","backend_link":"https://crm.example.com/c/1","direct_line":"SIP/ion-popescu","queue_position":3,"route_identifier":"emag"}`
	if r.Status != 200 || strings.TrimSpace(string(r.Body)) != want {
		t.Fatalf("got %d %s\nwant %s", r.Status, r.Body, want)
	}
	r = h.do("GET", "/pbx/lookup?telephone=0449999999&token=acme-query-token", "")
	wantNull := `{"id":null,"name":null,"backend_link":null,"direct_line":null,"queue_position":null,"route_identifier":null}`
	if r.Status != 200 || strings.TrimSpace(string(r.Body)) != wantNull {
		t.Fatalf("unknown caller: got %d %s", r.Status, r.Body)
	}
	if r := h.do("GET", "/pbx/lookup?token=acme-query-token", ""); r.Status != 400 {
		t.Fatalf("missing telephone: %d", r.Status)
	}
	if r := h.do("GET", "/pbx/lookup?telephone=0215522000", ""); r.Status != 401 {
		t.Fatalf("no token: %d", r.Status)
	}
}

func TestLookupPublishesCallEvent(t *testing.T) {
	h := newHarness(t)
	h.putContact("acme", alexa())
	h.peoplefone("41215522000")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := h.nats.JS.Stream(ctx, h.nats.Topology.Stream(events.StreamCalls))
	if err != nil {
		t.Fatal(err)
	}
	var msg *jetstream.RawStreamMsg
	for ctx.Err() == nil {
		if msg, err = stream.GetLastMsgForSubject(ctx, h.nats.Topology.CallSubject("acme", "lookup")); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if msg == nil {
		t.Fatalf("no call.lookup event: %v", err)
	}
	env, err := events.Decode(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.CallLookup
	if err := env.Payload(&ev); err != nil {
		t.Fatal(err)
	}
	if env.Type != events.TypeCallLookup || env.Tenant != "acme" || ev.Dialect != "peoplefone" || ev.Number != "41215522000" || ev.Hits != 1 || ev.ContactID != "c-1" {
		t.Fatalf("event = %+v %+v", env, ev)
	}
}

// An unknown route, or a known path with another method, is a JSON 404,
// counted under the route "unknown"; a known route under its pattern.
func TestUnknownRouteIsJSON404(t *testing.T) {
	h := newHarness(t)
	for _, req := range [][2]string{{"GET", "/nope"}, {"DELETE", "/peoplefone/Lookup"}} {
		r := h.do(req[0], req[1], "")
		if r.Status != 404 || r.errorCode(t) != "not_found" {
			t.Fatalf("%s %s: got %d %s", req[0], req[1], r.Status, r.Body)
		}
	}
	h.peoplefone("41215522000")
	m := h.server.Metrics.HTTPRequests
	if got := testutil.ToFloat64(m.WithLabelValues("unknown", "404")); got != 2 {
		t.Errorf("unknown routes counted %v times, want 2", got)
	}
	if got := testutil.ToFloat64(m.WithLabelValues("POST /peoplefone/Lookup", "200")); got != 1 {
		t.Errorf("lookups counted %v times under their pattern, want 1", got)
	}
}
