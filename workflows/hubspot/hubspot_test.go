package hubspot

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/internal/crmfake"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Contacts of search_contacts_page1.json and page2, mapped.
var (
	jane = events.Contact{
		ID: "512", Source: "hubspot", Type: "contact", Name: "Jane Doe", Company: "HubSpot",
		ContactURI: "https://app.hubspot.com/contacts/62515/record/0-1/512", CRMName: "HubSpot",
		Phones:    []events.Phone{{Raw: "(555) 555-5555", Label: "work"}},
		Emails:    []string{"example@hubspot.com"},
		UpdatedAt: mustTime("2019-12-07T16:50:06.678Z"),
		CreatedAt: mustTime("2019-10-30T03:30:17.883Z"),
	}
	alexa = events.Contact{
		ID: "513", Source: "hubspot", Type: "contact", Name: "Alexa Holiday", Company: "White Cross Co",
		ContactURI: "https://app.hubspot.com/contacts/62515/record/0-1/513", CRMName: "HubSpot",
		Phones:    []events.Phone{{Raw: "+41 21 552 20 00", Label: "work"}, {Raw: "+41 79 123 45 67", Label: "mobile"}},
		Emails:    []string{"alexa@whitecross.example"},
		UpdatedAt: mustTime("2019-12-07T16:51:00Z"),
		CreatedAt: mustTime("2019-10-30T03:31:02.111Z"),
	}
	// A contact without a name is shown by its email, as HubSpot does.
	nobody = events.Contact{
		ID: "514", Source: "hubspot", Type: "contact", Name: "nobody@example.com",
		ContactURI: "https://app.hubspot.com/contacts/62515/record/0-1/514", CRMName: "HubSpot",
		Emails:    []string{"nobody@example.com"},
		UpdatedAt: mustTime("2019-12-08T09:00:00Z"),
		CreatedAt: mustTime("2019-11-02T10:00:00Z"),
	}
)

func TestListChangesPagesThroughSearch(t *testing.T) {
	now := mustTime("2019-12-10T00:00:00Z")
	crmfake.SetNow(t, now)
	// Start where search_contacts_request.json asks, with a recent sweep.
	start := cursor{V: cursorVersion, Since: 1575737400000, SweptAt: now.Add(-time.Minute).UnixMilli()}
	sinceAfterPage1 := mustTime("2019-12-07T16:51:00Z").UnixMilli()
	f := newFake(t,
		crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/contacts/search", WantBody: "search_contacts_request.json", Answer: "search_contacts_page1.json"},
		crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/contacts/search", Answer: "search_contacts_page2.json",
			Check: func(t testing.TB, _ *http.Request, body []byte) {
				req := decodeBody(t, body)
				if req.After != "" {
					t.Errorf("paging by after %q; want a restart at the last lastmodifieddate", req.After)
				}
				if got := req.FilterGroups[0].Filters[0].Value; got != "1575737460000" {
					t.Errorf("page 2 since %s, want the last lastmodifieddate of page 1 (%d)", got, sinceAfterPage1)
				}
			}},
	)
	c := newConnector(t, f.URL)

	p1, err := c.ListChanges(context.Background(), start.String())
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p1.Upserts, []events.Contact{jane, alexa})
	if !p1.More || len(p1.Deletes) != 0 {
		t.Errorf("page 1: More=%v Deletes=%v, want more and no deletes", p1.More, p1.Deletes)
	}
	cur1, _ := decodeCursor(p1.Next)
	if cur1.Since != sinceAfterPage1 {
		t.Errorf("cursor after page 1: since %d, want %d", cur1.Since, sinceAfterPage1)
	}

	p2, err := c.ListChanges(context.Background(), p1.Next)
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p2.Upserts, []events.Contact{nobody})
	if p2.More {
		t.Error("page 2 is the last one: More must be false")
	}
	cur2, _ := decodeCursor(p2.Next)
	if want := mustTime("2019-12-08T09:00:00Z").UnixMilli(); cur2.Since != want {
		t.Errorf("cursor after the run: since %d, want %d", cur2.Since, want)
	}
}

func TestListChangesReportsArchivedContacts(t *testing.T) {
	now := mustTime("2019-12-10T00:00:00Z")
	crmfake.SetNow(t, now)
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/crm/v3/objects/contacts", Query: map[string]string{"archived": "true", "limit": "100", "after": ""}, Answer: "contacts_archived_page1.json"},
		crmfake.Exchange{Method: "GET", Path: "/crm/v3/objects/contacts", Query: map[string]string{"archived": "true", "after": "NTI1Cg%3D%3D"}, Answer: "contacts_archived_page2.json"},
		crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/contacts/search", Answer: "search_empty.json",
			Check: func(t testing.TB, _ *http.Request, body []byte) {
				if v := decodeBody(t, body).FilterGroups[0].Filters[0].Value; v != "0" {
					t.Errorf("first sync starts at lastmodifieddate %s, want 0", v)
				}
			}},
		// The next sweep, an hour later, reports only recent archivals.
		crmfake.Exchange{Method: "GET", Path: "/crm/v3/objects/contacts", Query: map[string]string{"archived": "true"}, Answer: "contacts_archived_page2.json"},
	)
	c := newConnector(t, f.URL)
	ctx := context.Background()

	p, err := c.ListChanges(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Deletes, []string{"601"}) || !p.More || len(p.Upserts) != 0 {
		t.Fatalf("sweep page 1: deletes %v more %v upserts %d", p.Deletes, p.More, len(p.Upserts))
	}
	p, err = c.ListChanges(ctx, p.Next)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Deletes, []string{"602"}) || !p.More {
		t.Fatalf("sweep page 2 (first sweep reports every archived contact): deletes %v more %v", p.Deletes, p.More)
	}
	p, err = c.ListChanges(ctx, p.Next)
	if err != nil {
		t.Fatal(err)
	}
	if p.More || len(p.Upserts) != 0 {
		t.Fatalf("changes after the sweep: more %v upserts %d", p.More, len(p.Upserts))
	}
	cur, _ := decodeCursor(p.Next)
	if cur.SweptAt != now.UnixMilli() {
		t.Errorf("sweptAt %d, want %d", cur.SweptAt, now.UnixMilli())
	}

	// An hour later a new sweep starts; 602 was archived before the last
	// sweep and is not reported again.
	cur.SweptAt = mustTime("2019-11-15T00:00:00Z").UnixMilli()
	crmfake.SetNow(t, now.Add(time.Hour))
	p, err = c.ListChanges(ctx, cur.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Deletes) != 0 || !p.More {
		t.Errorf("second sweep: deletes %v more %v, want none and more", p.Deletes, p.More)
	}
}

func TestListChangesRefusesABadCursor(t *testing.T) {
	c := newConnector(t, "http://127.0.0.1:1")
	for _, bad := range []string{"%%%", "bm90IGpzb24", cursor{V: 99}.String()} {
		if _, err := c.ListChanges(context.Background(), bad); !crm.IsPermanent(err) {
			t.Errorf("cursor %q: err %v, want permanent", bad, err)
		}
	}
}

func TestSearchPhone(t *testing.T) {
	f := newFake(t,
		crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/contacts/search", WantBody: "search_phone_request.json", Answer: "search_contacts_page1.json"},
		crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/contacts/search", Answer: "search_contacts_page1.json",
			Check: func(t testing.TB, _ *http.Request, body []byte) {
				groups := decodeBody(t, body).FilterGroups
				want := []filterGroup{{Filters: []filter{{PropertyName: "mobilephone", Operator: "EQ", Value: "021 552 20 00"}}}}
				if !reflect.DeepEqual(groups, want) {
					t.Errorf("second chunk %+v, want %+v", groups, want)
				}
			}},
	)
	c := newConnector(t, f.URL)
	got, err := c.SearchPhone(context.Background(), []string{"+41215522000", "+41 21 552 20 00", " ", "+41215522000", "021 552 20 00"})
	if err != nil {
		t.Fatal(err)
	}
	// Both chunks found 512 and 513: each is reported once.
	crmfake.AssertContacts(t, got, []events.Contact{jane, alexa})
}

func TestSearchName(t *testing.T) {
	f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/contacts/search", Answer: "search_contacts_page2.json",
		Check: func(t testing.TB, _ *http.Request, body []byte) {
			req := decodeBody(t, body)
			if req.Query != "nobody" || req.Limit != 5 || len(req.FilterGroups) != 0 || !reflect.DeepEqual(req.Properties, contactProperties) {
				t.Errorf("name search body %+v", req)
			}
		}})
	c := newConnector(t, f.URL)
	got, err := c.SearchName(context.Background(), " nobody ", 5)
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, got, []events.Contact{nobody})
	if got, err := c.SearchName(context.Background(), "  ", 5); err != nil || got != nil {
		t.Errorf("blank name: %v, %v; want nothing and no request", got, err)
	}
}

func TestCreateContact(t *testing.T) {
	f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/contacts", WantBody: "create_contact_request.json", Status: http.StatusCreated, Answer: "create_contact_response.json"})
	c := newConnector(t, f.URL, func(c *Config) { c.CRMLogo = "https://example.com/hubspot.png" })
	got, err := c.CreateContact(context.Background(), crm.NewContact{Name: "Jane  Doe", Phone: "+41215522000"})
	if err != nil {
		t.Fatal(err)
	}
	want := events.Contact{
		ID: "512", Source: "hubspot", Type: "contact", Name: "Jane Doe",
		ContactURI: "https://app.hubspot.com/contacts/62515/record/0-1/512", CRMName: "HubSpot",
		CRMLogo: "https://example.com/hubspot.png", Phones: []events.Phone{{Raw: "+41215522000", Label: "work"}},
		UpdatedAt: mustTime("2019-12-07T16:50:06.678Z"), CreatedAt: mustTime("2019-10-30T03:30:17.883Z"),
	}
	crmfake.AssertContacts(t, []events.Contact{got}, []events.Contact{want})

	if _, err := c.CreateContact(context.Background(), crm.NewContact{Phone: "+41215522000"}); !crm.IsPermanent(err) {
		t.Errorf("contact without a name: %v, want permanent", err)
	}
}

// callFixture is the call of create_call_request.json.
func callFixture() crm.Call {
	return crm.Call{Key: "k-123", Tenant: "acme", Workflow: "CallFlow", Input: events.CallInput{
		ContactCRMID: "500", Direction: "incoming",
		OriginatorNumber: "+41215522000", OriginatorName: "Alexa Holiday", DestinationNumber: "+41445556677",
		StartedTime: "2021-03-17T01:32:44.872Z", AnsweredTime: "2021-03-17T01:32:46Z", EndedTime: "2021-03-17T01:32:49.800Z",
		Note: "Resolved issue",
	}}
}

// dispositionFixture is App Connect's outcome for the call of
// create_call_response.json.
func dispositionFixture(outcome string) crm.Call {
	return crm.Call{Key: "k-456", Tenant: "acme", Workflow: "CallDisposition", Input: events.CallInput{
		CallID: "s-1", ContactCRMID: "500", LogID: "9876",
		Dispositions: map[string]string{"outcome": outcome, "note": "wants a quote"},
	}}
}

func TestLogDisposition(t *testing.T) {
	wantResult := crm.Result{ID: "9876", URL: "https://app.hubspot.com/contacts/62515/record/0-1/500"}
	patch := crmfake.Exchange{Method: "PATCH", Path: "/crm/v3/objects/calls/9876", WantBody: "update_call_request.json", Answer: "update_call_response.json"}
	for _, outcome := range []string{"Connected", " connected ", "F240BBAC-87C9-4F6E-BF70-924B57D47DB7"} {
		t.Run("outcome "+outcome, func(t *testing.T) {
			f := newFake(t, patch)
			got, err := newConnector(t, f.URL).LogDisposition(context.Background(), dispositionFixture(outcome))
			if err != nil || got != wantResult {
				t.Fatalf("LogDisposition = %+v, %v; want %+v", got, err, wantResult)
			}
		})
	}
	t.Run("a label HubSpot does not have is permanent, unsent", func(t *testing.T) {
		f := newFake(t)
		_, err := newConnector(t, f.URL).LogDisposition(context.Background(), dispositionFixture("Qualified lead"))
		if !crm.IsPermanent(err) || !strings.Contains(err.Error(), "Qualified lead") {
			t.Fatalf("err %v, want a permanent error naming the label", err)
		}
	})
	t.Run("no outcome: nothing to send", func(t *testing.T) {
		f := newFake(t)
		c := dispositionFixture("Connected")
		delete(c.Input.Dispositions, "outcome")
		got, err := newConnector(t, f.URL).LogDisposition(context.Background(), c)
		if err != nil || got != wantResult {
			t.Fatalf("LogDisposition = %+v, %v; want %+v", got, err, wantResult)
		}
	})
	t.Run("dispositionField names another field", func(t *testing.T) {
		f := newFake(t, patch)
		c := dispositionFixture("Qualified lead")
		c.Input.Dispositions["callResult"] = "Connected"
		got, err := newConnector(t, f.URL, func(c *Config) { c.DispositionField = "callResult" }).LogDisposition(context.Background(), c)
		if err != nil || got != wantResult {
			t.Fatalf("LogDisposition = %+v, %v; want %+v", got, err, wantResult)
		}
	})
}

func TestLogCall(t *testing.T) {
	title := "Inbound call from Alexa Holiday (+41215522000) [cdx:k-123]"
	findByTitle := func(t testing.TB, _ *http.Request, body []byte) {
		req := decodeBody(t, body)
		want := []filterGroup{{Filters: []filter{{PropertyName: "hs_call_title", Operator: "EQ", Value: title}}}}
		if !reflect.DeepEqual(req.FilterGroups, want) {
			t.Errorf("idempotency search %+v, want %+v", req.FilterGroups, want)
		}
	}
	wantResult := crm.Result{ID: "9876", URL: "https://app.hubspot.com/contacts/62515/record/0-1/500"}

	t.Run("creates once", func(t *testing.T) {
		f := newFake(t,
			crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/calls/search", Check: findByTitle, Answer: "search_empty.json"},
			crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/calls", WantBody: "create_call_request.json", Status: http.StatusCreated, Answer: "create_call_response.json"},
		)
		got, err := newConnector(t, f.URL).LogCall(context.Background(), callFixture())
		if err != nil || got != wantResult {
			t.Fatalf("LogCall = %+v, %v; want %+v", got, err, wantResult)
		}
	})
	t.Run("returns the call a previous execution created", func(t *testing.T) {
		f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/calls/search", Check: findByTitle, Answer: "search_calls_found.json"})
		got, err := newConnector(t, f.URL).LogCall(context.Background(), callFixture())
		if err != nil || got != wantResult {
			t.Fatalf("LogCall = %+v, %v; want %+v", got, err, wantResult)
		}
	})
	t.Run("key in a custom property", func(t *testing.T) {
		f := newFake(t,
			crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/calls/search", Answer: "search_empty.json", Check: func(t testing.TB, _ *http.Request, body []byte) {
				want := []filterGroup{{Filters: []filter{{PropertyName: "calldex_key", Operator: "EQ", Value: "k-123"}}}}
				if got := decodeBody(t, body).FilterGroups; !reflect.DeepEqual(got, want) {
					t.Errorf("idempotency search %+v, want %+v", got, want)
				}
			}},
			crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/calls", Status: http.StatusCreated, Answer: "create_call_response.json", Check: func(t testing.TB, _ *http.Request, body []byte) {
				var req createRequest
				_ = json.Unmarshal(body, &req)
				if req.Properties["calldex_key"] != "k-123" || strings.Contains(req.Properties["hs_call_title"], "k-123") {
					t.Errorf("properties %v: want the key in calldex_key only", req.Properties)
				}
			}},
		)
		c := newConnector(t, f.URL, func(c *Config) { c.CallKeyProperty = "calldex_key" })
		if _, err := c.LogCall(context.Background(), callFixture()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missed call without contact", func(t *testing.T) {
		crmfake.SetNow(t, mustTime("2024-05-01T10:00:00Z"))
		f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/calls", Status: http.StatusCreated, Answer: "create_call_response.json",
			Check: func(t testing.TB, _ *http.Request, body []byte) {
				var req createRequest
				_ = json.Unmarshal(body, &req)
				want := map[string]string{
					"hs_timestamp": "2024-05-01T10:00:00.000Z", "hs_call_title": "Missed call from +41215522000",
					"hs_call_status": "NO_ANSWER", "hs_call_direction": "INBOUND", "hs_call_from_number": "+41215522000",
				}
				if !reflect.DeepEqual(req.Properties, want) || req.Associations != nil {
					t.Errorf("request %+v, want properties %v and no association", req, want)
				}
			}})
		call := crm.Call{Input: events.CallInput{Direction: "incoming", OriginatorNumber: "+41215522000"}}
		got, err := newConnector(t, f.URL).LogCall(context.Background(), call)
		if err != nil || got != (crm.Result{ID: "9876"}) {
			t.Fatalf("LogCall = %+v, %v", got, err)
		}
	})
}

func TestCreateTicket(t *testing.T) {
	call := callFixture()
	call.Input.Subject = "troubleshoot report"
	call.Input.Note = "Printer on fire"
	call.Input.StartedTime = "2021-03-17T01:32:44Z"
	f := newFake(t,
		crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/tickets/search", Answer: "search_empty.json", Check: func(t testing.TB, _ *http.Request, body []byte) {
			want := []filterGroup{{Filters: []filter{{PropertyName: "subject", Operator: "EQ", Value: "troubleshoot report [cdx:k-123]"}}}}
			if got := decodeBody(t, body).FilterGroups; !reflect.DeepEqual(got, want) {
				t.Errorf("idempotency search %+v, want %+v", got, want)
			}
		}},
		crmfake.Exchange{Method: "POST", Path: "/crm/v3/objects/tickets", WantBody: "create_ticket_request.json", Status: http.StatusCreated, Answer: "create_ticket_response.json"},
	)
	got, err := newConnector(t, f.URL).CreateTicket(context.Background(), call)
	want := crm.Result{ID: "512", URL: "https://app.hubspot.com/contacts/62515/record/0-5/512"}
	if err != nil || got != want {
		t.Fatalf("CreateTicket = %+v, %v; want %+v", got, err, want)
	}
}

func TestFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name      string
		ex        crmfake.Exchange
		wantErr   error
		wantAfter time.Duration
	}{
		{name: "401", ex: crmfake.Exchange{Status: 401, Answer: "error_401.json"}, wantErr: crm.ErrPermanent},
		{name: "403", ex: crmfake.Exchange{Status: 403, Answer: "error_401.json"}, wantErr: crm.ErrPermanent},
		{name: "400", ex: crmfake.Exchange{Status: 400, Raw: []byte(`{"status":"error","message":"Invalid input JSON","category":"VALIDATION_ERROR"}`)}, wantErr: crm.ErrPermanent},
		{name: "429 Retry-After", ex: crmfake.Exchange{Status: 429, Header: map[string]string{"Retry-After": "7"}, Answer: "error_429_secondly.json"}, wantErr: crm.ErrTransient, wantAfter: 7 * time.Second},
		{name: "429 secondly", ex: crmfake.Exchange{Status: 429, Answer: "error_429_secondly.json"}, wantErr: crm.ErrTransient, wantAfter: time.Second},
		{name: "429 ten secondly", ex: crmfake.Exchange{Status: 429, Header: map[string]string{"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
			Raw: []byte(`{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}`)},
			wantErr: crm.ErrTransient, wantAfter: 10 * time.Second},
		{name: "429 daily", ex: crmfake.Exchange{Status: 429, Answer: "error_429_daily.json"}, wantErr: crm.ErrTransient, wantAfter: time.Hour},
		{name: "500", ex: crmfake.Exchange{Status: 500, Answer: "error_500.json"}, wantErr: crm.ErrTransient},
		{name: "503 Retry-After", ex: crmfake.Exchange{Status: 503, Header: map[string]string{"Retry-After": "30"}, Raw: []byte("unavailable")}, wantErr: crm.ErrTransient, wantAfter: 30 * time.Second},
		{name: "malformed JSON", ex: crmfake.Exchange{Status: 200, Header: map[string]string{"Content-Type": "text/html"}, Answer: "malformed.html"}, wantErr: crm.ErrTransient},
		{name: "truncated JSON", ex: crmfake.Exchange{Status: 200, Raw: []byte(`{"results":[{"id":"5`)}, wantErr: crm.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := tt.ex
			ex.Method, ex.Path = "POST", "/crm/v3/objects/contacts/search"
			f := newFake(t, ex)
			_, err := newConnector(t, f.URL).SearchName(context.Background(), "jane", 0)
			crmfake.AssertFailure(t, err, tt.wantErr, tt.wantAfter)
			if !strings.Contains(err.Error(), "hubspot search contacts by name") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

// Every operation wraps and classifies its failures.
func TestEveryOperationClassifiesFailures(t *testing.T) {
	crmfake.SetNow(t, mustTime("2024-05-01T10:00:00Z"))
	fresh := cursor{V: cursorVersion, SweptAt: mustTime("2024-05-01T09:59:00Z").UnixMilli()}.String()
	ops := []struct {
		name, method, path, op string
		run                    func(c *Connector) error
	}{
		{"ListChanges sweep", "GET", "/crm/v3/objects/contacts", "list archived contacts", func(c *Connector) error { _, err := c.ListChanges(context.Background(), ""); return err }},
		{"ListChanges", "POST", "/crm/v3/objects/contacts/search", "list changed contacts", func(c *Connector) error { _, err := c.ListChanges(context.Background(), fresh); return err }},
		{"SearchPhone", "POST", "/crm/v3/objects/contacts/search", "search contacts by phone", func(c *Connector) error {
			_, err := c.SearchPhone(context.Background(), []string{"+41215522000"})
			return err
		}},
		{"CreateContact", "POST", "/crm/v3/objects/contacts", "create contact", func(c *Connector) error {
			_, err := c.CreateContact(context.Background(), crm.NewContact{Name: "Jane"})
			return err
		}},
		{"LogCall", "POST", "/crm/v3/objects/calls/search", "log call", func(c *Connector) error { _, err := c.LogCall(context.Background(), callFixture()); return err }},
		{"CreateTicket", "POST", "/crm/v3/objects/tickets/search", "create ticket", func(c *Connector) error {
			_, err := c.CreateTicket(context.Background(), callFixture())
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name+" 401", func(t *testing.T) {
			f := newFake(t, crmfake.Exchange{Method: op.method, Path: op.path, Status: 401, Answer: "error_401.json"})
			err := op.run(newConnector(t, f.URL))
			crmfake.AssertFailure(t, err, crm.ErrPermanent, 0)
			if !strings.Contains(err.Error(), "hubspot "+op.op) {
				t.Errorf("error %q does not name %q", err, op.op)
			}
		})
		t.Run(op.name+" 502", func(t *testing.T) {
			f := newFake(t, crmfake.Exchange{Method: op.method, Path: op.path, Status: 502, Answer: "malformed.html"})
			err := op.run(newConnector(t, f.URL))
			crmfake.AssertFailure(t, err, crm.ErrTransient, 0)
		})
	}
}

func TestTransportErrorsAreTransient(t *testing.T) {
	f := newFake(t)
	url := f.URL
	f.Close()
	_, err := newConnector(t, url).SearchName(context.Background(), "jane", 1)
	crmfake.AssertFailure(t, err, crm.ErrTransient, 0)
}

func TestNewRefusesARetryingClient(t *testing.T) {
	cfg := Config{Token: testToken, PortalID: 1}
	if _, err := New(cfg, resty.New().SetRetryCount(3)); err == nil {
		t.Error("New accepted a client with retries")
	}
	if _, err := New(cfg, nil); err == nil {
		t.Error("New accepted a nil client")
	}
	if _, err := New(Config{}, resty.New()); err == nil {
		t.Error("New accepted an empty config")
	}
}
