package pipedrive

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/internal/crmfake"
)

func at(s string) time.Time {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func pdContact(id, name string, updated time.Time) events.Contact {
	return events.Contact{ID: id, Source: "pipedrive", Type: "person", Name: name,
		ContactURI: "https://acme.pipedrive.com/person/" + id, CRMName: "Pipedrive", UpdatedAt: updated}
}

func decode(t *testing.T, s string) cursor {
	t.Helper()
	c, err := decodeCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	willFull = func() events.Contact {
		c := pdContact("1", "Will Smith", at("2020-05-08 05:30:20"))
		c.CreatedAt = at("2017-10-18 13:23:07")
		c.Company, c.CompanyURI = "Org Name", "https://acme.pipedrive.com/organization/1234"
		c.Phones = []events.Phone{{Raw: "12345", Label: "work"}, {Raw: "+41 79 123 45 67", Label: "mobile"}}
		c.Emails = []string{"12345@email.com"}
		return c
	}()
	alexaFull = func() events.Contact {
		c := pdContact("2", "Alexa Holiday", at("2021-01-02 03:04:05"))
		c.CreatedAt = at("2021-01-02 03:04:05")
		return c
	}()
	bobFull = func() events.Contact {
		c := pdContact("3", "Bob Builder", at("2022-02-02 02:02:02"))
		c.CreatedAt = at("2022-02-02 02:02:02")
		c.Company, c.CompanyURI = "Org Name", "https://acme.pipedrive.com/organization/1234"
		c.Phones = []events.Phone{{Raw: "(123) 123-1234", Label: "home"}}
		return c
	}()
	willRecent = func() events.Contact {
		c := pdContact("1", "Will Smith", at("2024-05-01 10:01:00"))
		c.CreatedAt = at("2017-10-18 13:23:07")
		c.Company, c.CompanyURI = "Org Name", "https://acme.pipedrive.com/organization/1234"
		c.Phones = []events.Phone{{Raw: "12345", Label: "work"}}
		c.Emails = []string{"12345@email.com"}
		return c
	}()
	dora = func() events.Contact {
		c := pdContact("4", "Dora Explorer", at("2024-05-01 10:03:30"))
		c.CreatedAt = at("2024-05-01 10:03:30")
		c.Phones = []events.Phone{{Raw: "0041 79 000 00 00", Label: "mobile"}}
		c.Emails = []string{"dora@example.com"}
		return c
	}()
)

func TestListChangesLoadsEverythingThenFollowsRecents(t *testing.T) {
	now := at("2024-05-01 12:00:00")
	crmfake.SetNow(t, now)
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v2/persons", Query: map[string]string{"cursor": "", "limit": "2", "sort_by": "id", "sort_direction": "asc"}, Answer: "persons_list_page1.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/organizations", Query: map[string]string{"ids": "1234"}, Answer: "organizations_by_ids.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/persons", Query: map[string]string{"cursor": "eyJmaWVsZCI6ImlkIiwiaWQiOjJ9", "limit": "2"}, Answer: "persons_list_page2.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/organizations", Query: map[string]string{"ids": "1234"}, Answer: "organizations_by_ids.json"},
		crmfake.Exchange{Method: "GET", Path: "/v1/recents", Query: map[string]string{"since_timestamp": "2024-05-01 11:59:00", "items": "person", "start": "0", "limit": "2"}, Answer: "recents_page2.json"},
	)
	c := newConnector(t, f.URL)
	ctx := context.Background()

	p, err := c.ListChanges(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p.Upserts, []events.Contact{willFull, alexaFull})
	if !p.More || len(p.Deletes) != 0 {
		t.Fatalf("load page 1: more %v deletes %v", p.More, p.Deletes)
	}
	p, err = c.ListChanges(ctx, p.Next)
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p.Upserts, []events.Contact{bobFull})
	if cur := decode(t, p.Next); !p.More || cur.Full || cur.Since != now.Add(-time.Minute).Unix() {
		t.Fatalf("after the load: more %v cursor %+v, want recents from when the load began", p.More, cur)
	}
	p, err = c.ListChanges(ctx, p.Next)
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p.Upserts, []events.Contact{dora})
	if !reflect.DeepEqual(p.Deletes, []string{"3"}) || p.More {
		t.Errorf("recents: deletes %v more %v", p.Deletes, p.More)
	}
}

func TestListChangesPagesThroughRecents(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 12:00:00"))
	start := cursor{V: cursorVersion, Since: at("2024-05-01 10:00:00").Unix()}
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v1/recents", Query: map[string]string{"since_timestamp": "2024-05-01 10:00:00", "items": "person", "start": "0", "limit": "2"}, Answer: "recents_page1.json"},
		// Restart after the last second of page 1 instead of start=2.
		crmfake.Exchange{Method: "GET", Path: "/v1/recents", Query: map[string]string{"since_timestamp": "2024-05-01 10:01:59", "start": "0"}, Answer: "recents_page2.json"},
	)
	c := newConnector(t, f.URL)

	p, err := c.ListChanges(context.Background(), start.String())
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p.Upserts, []events.Contact{willRecent})
	// Person 2 was merged into 1: active_flag false.
	if !reflect.DeepEqual(p.Deletes, []string{"2"}) || !p.More {
		t.Fatalf("page 1: deletes %v more %v", p.Deletes, p.More)
	}
	p, err = c.ListChanges(context.Background(), p.Next)
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p.Upserts, []events.Contact{dora})
	if !reflect.DeepEqual(p.Deletes, []string{"3"}) || p.More {
		t.Fatalf("page 2: deletes %v more %v", p.Deletes, p.More)
	}
	if cur := decode(t, p.Next); cur.Since != at("2024-05-01 10:03:29").Unix() || cur.Start != 0 {
		t.Errorf("final cursor %+v, want since 10:03:29", cur)
	}
}

func TestListChangesPagesByOffsetWithinOneSecond(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 12:00:00"))
	start := cursor{V: cursorVersion, Since: at("2024-05-01 10:00:00").Unix()}
	page := func(next int) []byte {
		return []byte(`{"success":true,"data":[
			{"item":"person","id":10,"data":{"id":10,"name":"A","active_flag":true,"update_time":"2024-05-01 10:00:01"}},
			{"item":"person","id":11,"data":{"id":11,"name":"B","active_flag":true,"update_time":"2024-05-01 10:00:01"}}],
			"additional_data":{"since_timestamp":"2024-05-01 10:00:00","last_timestamp_on_page":"2024-05-01 10:00:01",
			"pagination":{"start":0,"limit":2,"more_items_in_collection":true,"next_start":` + string(rune('0'+next)) + `}}}`)
	}
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v1/recents", Query: map[string]string{"since_timestamp": "2024-05-01 10:00:00", "start": "0"}, Raw: page(2)},
		crmfake.Exchange{Method: "GET", Path: "/v1/recents", Query: map[string]string{"since_timestamp": "2024-05-01 10:00:00", "start": "2"}, Raw: page(4)},
	)
	c := newConnector(t, f.URL)
	p, err := c.ListChanges(context.Background(), start.String())
	if err != nil || !p.More {
		t.Fatalf("page 1: %v more %v", err, p.More)
	}
	p, err = c.ListChanges(context.Background(), p.Next)
	if err != nil || !p.More || decode(t, p.Next).Start != 4 {
		t.Fatalf("page 2: %v more %v cursor %+v", err, p.More, decode(t, p.Next))
	}
}

func TestListChangesReloadsWhenRecentsNoLongerReach(t *testing.T) {
	now := at("2024-05-01 12:00:00")
	crmfake.SetNow(t, now)
	old := cursor{V: cursorVersion, Since: now.Add(-40 * 24 * time.Hour).Unix()}
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v2/persons", Query: map[string]string{"cursor": ""}, Answer: "persons_list_page2.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/organizations", Answer: "organizations_by_ids.json"},
	)
	p, err := newConnector(t, f.URL).ListChanges(context.Background(), old.String())
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p.Upserts, []events.Contact{bobFull})
}

func TestListChangesRefusesABadCursor(t *testing.T) {
	c := newConnector(t, "http://127.0.0.1:1")
	for _, bad := range []string{"%%%", "bm90IGpzb24", cursor{V: 7}.String()} {
		if _, err := c.ListChanges(context.Background(), bad); !crm.IsPermanent(err) {
			t.Errorf("cursor %q: err %v, want permanent", bad, err)
		}
	}
}

func TestSearchPhone(t *testing.T) {
	now := at("2024-05-01 12:00:00")
	crmfake.SetNow(t, now)
	jane := pdContact("1", "Jane Doe", now)
	jane.Company, jane.CompanyURI = "Organization name", "https://acme.pipedrive.com/organization/1"
	jane.Phones = []events.Phone{{Raw: "+41 21 552 20 00"}, {Raw: "+372 555555555"}}
	jane.Emails = []string{"jane@pipedrive.com"}

	tests := []struct {
		name    string
		partial bool
		exact   string
	}{{"exact", false, "true"}, {"partial", true, "false"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t,
				crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Query: map[string]string{"term": "+41215522000", "fields": "phone", "exact_match": tt.exact, "limit": "10"}, Answer: "persons_search_phone.json"},
				crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Query: map[string]string{"term": "+41 21 552 20 00", "fields": "phone"}, Answer: "persons_search_phone.json"},
				crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Query: map[string]string{"term": "0215522000"}, Answer: "persons_search_empty.json"},
			)
			c := newConnector(t, f.URL, func(c *Config) { c.PhonePartialMatch = tt.partial })
			got, err := c.SearchPhone(context.Background(), []string{"+41215522000", "+41 21 552 20 00", "+41215522000", "1", "0215522000"})
			if err != nil {
				t.Fatal(err)
			}
			crmfake.AssertContacts(t, got, []events.Contact{jane})
		})
	}
}

func TestSearchName(t *testing.T) {
	now := at("2024-05-01 12:00:00")
	crmfake.SetNow(t, now)
	f := newFake(t, crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Query: map[string]string{"term": "Jane", "fields": "name", "limit": "5", "exact_match": ""}, Answer: "persons_search_name.json"})
	c := newConnector(t, f.URL)
	got, err := c.SearchName(context.Background(), "Jane", 5)
	if err != nil {
		t.Fatal(err)
	}
	jane := pdContact("1", "Jane Doe", now)
	jane.Company, jane.CompanyURI = "Organization name", "https://acme.pipedrive.com/organization/1"
	jane.Phones = []events.Phone{{Raw: "+41 21 552 20 00"}, {Raw: "+372 555555555"}}
	jane.Emails = []string{"jane@pipedrive.com"}
	crmfake.AssertContacts(t, got, []events.Contact{jane, pdContact("7", "Janet Roe", now)})

	if got, err := c.SearchName(context.Background(), "J", 5); got != nil || err != nil {
		t.Errorf("one-letter name: %v %v, want nothing and no request", got, err)
	}
}

func TestCreateContact(t *testing.T) {
	f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/v2/persons", WantBody: "add_person_request.json", Status: http.StatusCreated, Answer: "add_person_response.json"})
	c := newConnector(t, f.URL, func(c *Config) { c.CRMLogo = "https://example.com/pd.png" })
	got, err := c.CreateContact(context.Background(), crm.NewContact{Name: " Will  Smith ", Phone: "+41215522000"})
	if err != nil {
		t.Fatal(err)
	}
	want := pdContact("1", "Will Smith", at("2024-05-01 10:00:00"))
	want.CreatedAt = at("2024-05-01 10:00:00")
	want.CRMLogo = "https://example.com/pd.png"
	want.Phones = []events.Phone{{Raw: "+41215522000"}}
	crmfake.AssertContacts(t, []events.Contact{got}, []events.Contact{want})

	if _, err := c.CreateContact(context.Background(), crm.NewContact{Name: "  "}); !crm.IsPermanent(err) {
		t.Errorf("no name: %v, want permanent", err)
	}
}

func callFixture() crm.Call {
	hour := 3600
	return crm.Call{Key: "k-123", Tenant: "acme", Workflow: "CallFlow", Input: events.CallInput{
		ContactCRMID: "1101", Direction: "incoming", OriginatorName: "Alexa Holiday", OriginatorNumber: "+41215522000",
		DestinationNumber: "+41445556677", StartedTime: "2020-06-09T10:00:00Z", DurationSeconds: &hour,
		Note: "A note for the activity",
	}}
}

// dispositionFixture is App Connect's dispositions for the activity of
// add_activity_response.json.
func dispositionFixture() crm.Call {
	return crm.Call{Key: "k-456", Tenant: "acme", Workflow: "CallDisposition", Input: events.CallInput{
		CallID: "s-1", ContactCRMID: "1101", LogID: "8",
		Dispositions: map[string]string{"outcome": "Qualified lead", "callback": "yes"},
	}}
}

func TestWithDispositions(t *testing.T) {
	tests := []struct{ name, note, lines, want string }{
		{"appended", "Talked\n\n[cdx:k]", "outcome: A", "Talked\n\n[cdx:k]\n\n[cdx:disposition]\noutcome: A"},
		{"replaced", "Talked\n\n[cdx:k]\n\n[cdx:disposition]\noutcome: A", "outcome: B", "Talked\n\n[cdx:k]\n\n[cdx:disposition]\noutcome: B"},
		{"removed", "Talked\n\n[cdx:disposition]\noutcome: A", "", "Talked"},
		{"empty note", "", "outcome: A", "[cdx:disposition]\noutcome: A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withDispositions(tt.note, tt.lines); got != tt.want {
				t.Errorf("withDispositions(%q, %q) = %q, want %q", tt.note, tt.lines, got, tt.want)
			}
		})
	}
}

func TestLogCall(t *testing.T) {
	findQuery := map[string]string{"done": "true", "updated_since": "2020-06-09T00:00:00Z", "person_id": "1101", "limit": "500", "cursor": ""}
	want := crm.Result{ID: "8", URL: "https://acme.pipedrive.com/person/1101"}

	t.Run("creates once", func(t *testing.T) {
		f := newFake(t,
			crmfake.Exchange{Method: "GET", Path: "/v2/activities", Query: findQuery, Answer: "activities_none.json"},
			crmfake.Exchange{Method: "POST", Path: "/v2/activities", WantBody: "add_activity_request.json", Status: http.StatusCreated, Answer: "add_activity_response.json"},
		)
		got, err := newConnector(t, f.URL).LogCall(context.Background(), callFixture())
		if err != nil || got != want {
			t.Fatalf("LogCall = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("returns the activity a previous execution created", func(t *testing.T) {
		f := newFake(t, crmfake.Exchange{Method: "GET", Path: "/v2/activities", Query: findQuery, Answer: "activities_day.json"})
		got, err := newConnector(t, f.URL).LogCall(context.Background(), callFixture())
		if err != nil || got != want {
			t.Fatalf("LogCall = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("short call without key or person", func(t *testing.T) {
		call := callFixture()
		call.Key, call.Input.ContactCRMID, call.Input.Note = "", "", ""
		secs := 61
		call.Input.DurationSeconds = &secs
		f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/v2/activities", Status: http.StatusCreated, Answer: "add_activity_response.json",
			Check: func(t testing.TB, _ *http.Request, body []byte) {
				var got map[string]any
				_ = json.Unmarshal(body, &got)
				if got["duration"] != "00:02" || got["person_id"] != nil || got["note"] != nil {
					t.Errorf("body %v: want duration 00:02 (rounded up), no person, no note", got)
				}
			}})
		got, err := newConnector(t, f.URL).LogCall(context.Background(), call)
		if err != nil || got != (crm.Result{ID: "8"}) {
			t.Fatalf("LogCall = %+v, %v", got, err)
		}
	})
	t.Run("a contact id that is not a person id", func(t *testing.T) {
		call := callFixture()
		call.Input.ContactCRMID = "abc"
		if _, err := newConnector(t, "http://127.0.0.1:1").LogCall(context.Background(), call); !crm.IsPermanent(err) {
			t.Errorf("err %v, want permanent", err)
		}
	})
}

func TestFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name      string
		ex        crmfake.Exchange
		wantErr   error
		wantAfter time.Duration
	}{
		{name: "401", ex: crmfake.Exchange{Status: 401, Answer: "error_401.json"}, wantErr: crm.ErrPermanent},
		{name: "403", ex: crmfake.Exchange{Status: 403, Raw: []byte(`{"success":false,"error":"Forbidden","errorCode":403}`)}, wantErr: crm.ErrPermanent},
		{name: "400", ex: crmfake.Exchange{Status: 400, Raw: []byte(`{"success":false,"error":"term must be at least 2 characters long","errorCode":400}`)}, wantErr: crm.ErrPermanent},
		{name: "429 Retry-After", ex: crmfake.Exchange{Status: 429, Header: map[string]string{"Retry-After": "3"}, Answer: "error_429.json"}, wantErr: crm.ErrTransient, wantAfter: 3 * time.Second},
		{name: "429 x-ratelimit-reset", ex: crmfake.Exchange{Status: 429, Header: map[string]string{"X-Ratelimit-Remaining": "0"}, Answer: "error_429.json"}, wantErr: crm.ErrTransient, wantAfter: 2 * time.Second},
		{name: "500", ex: crmfake.Exchange{Status: 500, Answer: "error_500.json"}, wantErr: crm.ErrTransient},
		{name: "502 HTML", ex: crmfake.Exchange{Status: 502, Header: map[string]string{"Content-Type": "text/html"}, Answer: "malformed.html"}, wantErr: crm.ErrTransient},
		{name: "malformed JSON", ex: crmfake.Exchange{Status: 200, Header: map[string]string{"Content-Type": "text/html"}, Answer: "malformed.html"}, wantErr: crm.ErrTransient},
		{name: "malformed data", ex: crmfake.Exchange{Status: 200, Raw: []byte(`{"success":true,"data":{"items":"nope"}}`)}, wantErr: crm.ErrTransient},
		{name: "success false", ex: crmfake.Exchange{Status: 200, Raw: []byte(`{"success":false,"error":"something"}`)}, wantErr: crm.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := tt.ex
			ex.Method, ex.Path = "GET", "/v2/persons/search"
			f := newFake(t, ex)
			_, err := newConnector(t, f.URL).SearchName(context.Background(), "Jane", 0)
			crmfake.AssertFailure(t, err, tt.wantErr, tt.wantAfter)
			if !strings.Contains(err.Error(), "pipedrive search persons by name") || strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q must name the operation and not the token", err)
			}
		})
	}
}

func TestEveryOperationClassifiesFailures(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 12:00:00"))
	recent := cursor{V: cursorVersion, Since: at("2024-05-01 11:00:00").Unix()}.String()
	ops := []struct {
		name, method, path, op string
		run                    func(c *Connector) error
	}{
		{"ListChanges load", "GET", "/v2/persons", "list persons", func(c *Connector) error { _, err := c.ListChanges(context.Background(), ""); return err }},
		{"ListChanges recents", "GET", "/v1/recents", "list recent persons", func(c *Connector) error { _, err := c.ListChanges(context.Background(), recent); return err }},
		{"SearchPhone", "GET", "/v2/persons/search", "search persons by phone", func(c *Connector) error {
			_, err := c.SearchPhone(context.Background(), []string{"+41215522000"})
			return err
		}},
		{"CreateContact", "POST", "/v2/persons", "create person", func(c *Connector) error {
			_, err := c.CreateContact(context.Background(), crm.NewContact{Name: "Will"})
			return err
		}},
		{"LogCall", "GET", "/v2/activities", "log call", func(c *Connector) error { _, err := c.LogCall(context.Background(), callFixture()); return err }},
	}
	for _, op := range ops {
		t.Run(op.name+" 401", func(t *testing.T) {
			f := newFake(t, crmfake.Exchange{Method: op.method, Path: op.path, Status: 401, Answer: "error_401.json"})
			err := op.run(newConnector(t, f.URL))
			crmfake.AssertFailure(t, err, crm.ErrPermanent, 0)
			if !strings.Contains(err.Error(), "pipedrive "+op.op) {
				t.Errorf("error %q does not name %q", err, op.op)
			}
		})
		t.Run(op.name+" 503", func(t *testing.T) {
			f := newFake(t, crmfake.Exchange{Method: op.method, Path: op.path, Status: 503, Answer: "error_500.json"})
			err := op.run(newConnector(t, f.URL))
			crmfake.AssertFailure(t, err, crm.ErrTransient, 0)
		})
	}
}

func TestTransportErrorsAreTransientAndHideTheToken(t *testing.T) {
	f := newFake(t)
	url := f.URL
	f.Close()
	_, err := newConnector(t, url).SearchName(context.Background(), "Jane", 1)
	crmfake.AssertFailure(t, err, crm.ErrTransient, 0)
	if strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "api_token=REDACTED") {
		t.Errorf("error %q leaks or drops the token placeholder", err)
	}
}

func TestNewRefusesARetryingClient(t *testing.T) {
	cfg := Config{CompanyDomain: "acme", APIToken: testToken}
	if _, err := New(cfg, resty.New().SetRetryCount(2)); err == nil {
		t.Error("New accepted a client with retries")
	}
	if _, err := New(cfg, nil); err == nil {
		t.Error("New accepted a nil client")
	}
}

func TestFromOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]any
		want    func(Config) bool
		wantErr []string
	}{
		{
			name: "minimal",
			opts: map[string]any{"type": "pipedrive", "companyDomain": "acme", "token": "t"},
			want: func(c Config) bool {
				return c.BaseURL == "https://acme.pipedrive.com/api" && c.DailyBudget == 0 && c.AppURL == "https://acme.pipedrive.com" &&
					c.Source == "pipedrive" && c.PageSize == 500 && c.Timeout == 10*time.Second &&
					c.RecentsMaxAge == 29*24*time.Hour && c.ActivityType == "call" && !c.PhonePartialMatch
			},
		},
		{
			name: "everything",
			opts: map[string]any{"companyDomain": "acme", "token": "t", "baseURL": "http://pd.internal/api/v1", "appURL": "https://acme.pipedrive.com",
				"source": "pd", "crmLogo": "https://x/l.png", "timeout": "2s", "pageSize": "100", "syncOverlap": "30s",
				"recentsMaxAge": "168h", "phonePartialMatch": "true", "activityType": "phone_call", "dailyBudget": "30000"},
			want: func(c Config) bool {
				return c.BaseURL == "http://pd.internal/api/v1" && c.Source == "pd" && c.PageSize == 100 && c.Timeout == 2*time.Second &&
					c.SyncOverlap == 30*time.Second && c.RecentsMaxAge == 168*time.Hour && c.PhonePartialMatch && c.ActivityType == "phone_call" && c.DailyBudget == 30000
			},
		},
		{
			name:    "every problem at once",
			opts:    map[string]any{"companyDomain": "acme.pipedrive.com", "pageSize": 900, "phonePartialMatch": "sometimes", "recentsMaxAge": "2000h", "apiToken": "x", "dailyBudget": -1},
			wantErr: []string{"dailyBudget -1", "companyDomain", "token is required", "pageSize 900", "option phonePartialMatch", "recentsMaxAge", "option apiToken: unknown option"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromOptions(tt.opts)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !tt.want(c) {
					t.Errorf("config %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// waits counts the turns taken under a search limit.
type waits struct{ n atomic.Int32 }

func (w *waits) Wait(context.Context) error { w.n.Add(1); return nil }

func TestSearchesWaitForTheCompanySearchLimit(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 12:00:00"))
	w := &waits{}
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_name.json"},
		crmfake.Exchange{Method: "POST", Path: "/v2/persons", Status: http.StatusCreated, Answer: "add_person_response.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_empty.json"},
	)
	c := newConnector(t, f.URL, func(c *Config) { c.SearchLimiter = w })
	ctx := context.Background()
	if _, err := c.SearchName(ctx, "Jane", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContact(ctx, crm.NewContact{Name: "Will Smith"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SearchPhone(ctx, []string{"+41215522000"}); err != nil {
		t.Fatal(err)
	}
	if got := w.n.Load(); got != 2 {
		t.Errorf("%d turns taken, want one per search (2)", got)
	}
}

func TestNewKeepsToTheSearchLimitAlone(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 12:00:00"))
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_empty.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_empty.json"},
	)
	c := newConnector(t, f.URL)
	if _, err := c.SearchName(context.Background(), "Jane", 5); err != nil {
		t.Fatal(err)
	}
	// The second search's turn is 200 ms away: a deadline before it fails
	// at once, unsent (the fake's script would fail on a third request).
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := c.SearchName(ctx, "Jane", 5)
	if !errors.Is(err, crm.ErrNotSent) || !errors.Is(err, crm.ErrTransient) {
		t.Fatalf("search before its turn: %v, want transient, not sent", err)
	}
	if _, err := c.SearchName(context.Background(), "Jane", 5); err != nil {
		t.Fatal(err)
	}
}

func TestDailyBudget(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 22:00:00"))
	// Budget for one search (20) and one person list (10), no more.
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_empty.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/persons", Answer: "persons_list_page2.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/organizations", Answer: "organizations_by_ids.json"},
	)
	c := newConnector(t, f.URL, func(c *Config) { c.DailyBudget = 40 })
	ctx := context.Background()
	if _, err := c.SearchName(ctx, "Jane", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListChanges(ctx, ""); err != nil { // 10 + 10 for the organizations
		t.Fatal(err)
	}
	_, err := c.CreateContact(ctx, crm.NewContact{Name: "Will Smith"})
	crmfake.AssertFailure(t, err, crm.ErrTransient, 2*time.Hour) // until 00:00 UTC
	if !errors.Is(err, crm.ErrNotSent) || !strings.Contains(err.Error(), "pipedrive create person") {
		t.Errorf("past the budget: %v, want not sent, naming the operation", err)
	}
}

func TestAnOffsetLoadCursorRestartsTheLoad(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 12:00:00"))
	f := newFake(t,
		crmfake.Exchange{Method: "GET", Path: "/v2/persons", Query: map[string]string{"cursor": "", "start": ""}, Answer: "persons_list_page2.json"},
		crmfake.Exchange{Method: "GET", Path: "/v2/organizations", Answer: "organizations_by_ids.json"},
	)
	old := cursor{V: cursorVersion, Full: true, Start: 500, Since: at("2024-05-01 11:00:00").Unix()}
	p, err := newConnector(t, f.URL).ListChanges(context.Background(), old.String())
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, p.Upserts, []events.Contact{bobFull})
}

func TestAV1BaseURLIsReadAsTheRoot(t *testing.T) {
	crmfake.SetNow(t, at("2024-05-01 12:00:00"))
	f := newFake(t, crmfake.Exchange{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_empty.json"})
	if _, err := newConnector(t, f.URL+"/v1/").SearchName(context.Background(), "Jane", 5); err != nil {
		t.Fatal(err)
	}
}
