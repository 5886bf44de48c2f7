package upstream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// The contract fake plays the lookup service of the peoplefone CONNECTOR
// API (shared/specs/peoplefone-connector-api-v2.txt, Part 1; v1 for the
// legacy shape): it checks the credential header, the path, the method and
// the body or query, and answers the spec's sample as recorded in testdata/.

const testToken = "jlvlkdshvövdjhwgjwogjhwg" // the spec's example value

// newFake starts a fake that expects exactly the script, in order, with the
// credential in the default header.
func newFake(t *testing.T, script ...crmfake.Exchange) *crmfake.Server {
	t.Helper()
	return newFakeWithHeader(t, "X-Execution-Token", script...)
}

// newFakeWithHeader is newFake for a service configured with another
// credential header.
func newFakeWithHeader(t *testing.T, header string, script ...crmfake.Exchange) *crmfake.Server {
	t.Helper()
	return crmfake.New(t, crmfake.Options{Auth: crmfake.WantHeader(header, testToken)}, script...)
}

func newConnector(t *testing.T, url string, mutate ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{URL: url, Token: testToken}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg, resty.New())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

var now = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func alexa(custom events.CustomData) events.Contact {
	return events.Contact{
		ID: "Crm Identification Number", Source: "upstream", Type: "contact", Name: "Alexa Holiday", Company: "White Cross Co",
		ContactURI: "https://crm.example.com/contacts/42", CompanyURI: "https://crm.example.com/companies/7",
		CRMName: "Sugar CRM", CRMLogo: "https://crm.example.com/logo.png", CustomData: custom,
		Phones: []events.Phone{{Raw: "+41215522000"}}, UpdatedAt: now,
	}
}

func TestSearchPhone(t *testing.T) {
	crmfake.SetNow(t, now)
	bob := events.Contact{
		ID: "17", Source: "upstream", Type: "contact", Name: "Bob Builder",
		ContactURI: "https://crm.example.com/contacts/17", CRMName: "Other CRM",
		CustomData: events.CustomData{{Key: "Email", Value: "bob@example.com"}, {Key: "Language", Value: "fr"}},
		Phones:     []events.Phone{{Raw: "+41215522000"}}, UpdatedAt: now,
	}
	f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/services/Lookup", WantBody: "lookup_request.json", Answer: "lookup_response.json"})
	c := newConnector(t, f.URL+"/services/", func(c *Config) { c.CRMName = "Other CRM" })
	got, err := c.SearchPhone(context.Background(), []string{"+41215522000", "0215522000"})
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, got, []events.Contact{
		alexa(events.CustomData{{Key: "title1", Value: "Data1"}, {Key: "title2", Value: "Data2"}}),
		bob,
	})
}

func TestSearchPhoneLegacy(t *testing.T) {
	crmfake.SetNow(t, now)
	f := newFakeWithHeader(t, "X-Api-Key", crmfake.Exchange{Method: "GET", Path: "/lookup.php", Query: map[string]string{"PhoneNumber": "41215522000"}, Answer: "lookup_response_legacy.json"})
	c := newConnector(t, f.URL+"/lookup.php", func(c *Config) { c.Legacy, c.Header = true, "X-Api-Key" })
	got, err := c.SearchPhone(context.Background(), []string{"+41215522000"})
	if err != nil {
		t.Fatal(err)
	}
	crmfake.AssertContacts(t, got, []events.Contact{alexa(events.CustomData{{Key: "Title1", Value: "Data1"}, {Key: "Title2", Value: "Data2"}})})
}

func TestSearchPhoneNoMatch(t *testing.T) {
	crmfake.SetNow(t, now)
	t.Run("empty array", func(t *testing.T) {
		f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/Lookup", Answer: "lookup_empty.json"})
		got, err := newConnector(t, f.URL).SearchPhone(context.Background(), []string{"+41215522000", "0215522000"})
		if err != nil || got != nil {
			t.Fatalf("got %v, %v; want nothing", got, err)
		}
	})
	t.Run("null", func(t *testing.T) {
		f := newFake(t, crmfake.Exchange{Method: "POST", Path: "/Lookup", Raw: []byte("null")})
		got, err := newConnector(t, f.URL).SearchPhone(context.Background(), []string{"+41215522000"})
		if err != nil || got != nil {
			t.Fatalf("got %v, %v; want nothing", got, err)
		}
	})
	t.Run("tries the next format when allowed", func(t *testing.T) {
		f := newFake(t,
			crmfake.Exchange{Method: "POST", Path: "/Lookup", Answer: "lookup_empty.json"},
			crmfake.Exchange{Method: "POST", Path: "/Lookup", Answer: "lookup_response_legacy.json"},
		)
		c := newConnector(t, f.URL, func(c *Config) { c.MaxLookups = 3 })
		got, err := c.SearchPhone(context.Background(), []string{"+41215522000", "41 21 552 20 00", "tel:+41215522000;ext=12", "0215522000"})
		if err != nil || len(got) != 1 || got[0].Phones[0].Raw != "0215522000" {
			t.Fatalf("got %+v, %v; want the entry found under the second distinct number", got, err)
		}
	})
}

func TestFailuresAreClassified(t *testing.T) {
	tests := []struct {
		name    string
		ex      crmfake.Exchange
		wantErr error
		after   time.Duration
	}{
		{name: "401", ex: crmfake.Exchange{Status: 401, Raw: []byte("unauthorized")}, wantErr: crm.ErrPermanent},
		{name: "403", ex: crmfake.Exchange{Status: 403}, wantErr: crm.ErrPermanent},
		{name: "404 means not accessible", ex: crmfake.Exchange{Status: 404, Raw: []byte("not found")}, wantErr: crm.ErrTransient},
		{name: "429 Retry-After", ex: crmfake.Exchange{Status: 429, Header: map[string]string{"Retry-After": "5"}}, after: 5 * time.Second, wantErr: crm.ErrTransient},
		{name: "500", ex: crmfake.Exchange{Status: 500, Raw: []byte(`{"error":"boom"}`)}, wantErr: crm.ErrTransient},
		{name: "malformed JSON", ex: crmfake.Exchange{Header: map[string]string{"Content-Type": "text/html"}, Answer: "malformed.html"}, wantErr: crm.ErrTransient},
		{name: "an object, not an array", ex: crmfake.Exchange{Raw: []byte(`{"name":"Alexa Holiday"}`)}, wantErr: crm.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := tt.ex
			ex.Method, ex.Path = "POST", "/Lookup"
			f := newFake(t, ex)
			_, err := newConnector(t, f.URL).SearchPhone(context.Background(), []string{"+41215522000"})
			crmfake.AssertFailure(t, err, tt.wantErr, tt.after)
			if !strings.HasPrefix(err.Error(), "upstream lookup: ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
	t.Run("no answer", func(t *testing.T) {
		f := newFake(t)
		url := f.URL
		f.Close()
		_, err := newConnector(t, url).SearchPhone(context.Background(), []string{"+41215522000"})
		crmfake.AssertFailure(t, err, crm.ErrTransient, 0)
	})
}

func TestDigitsOf(t *testing.T) {
	for in, want := range map[string]string{
		"+41215522000": "41215522000", "+41 21 552 20 00": "41215522000", "tel:+41215522000;ext=12": "41215522000",
		"(123) 123-1234": "1231231234", "": "", "abc": "",
	} {
		if got := digitsOf(in); got != want {
			t.Errorf("digitsOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromOptions(t *testing.T) {
	c, err := FromOptions(map[string]any{"type": "upstream", "url": "https://crm.example.com/services", "token": "secret-value"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Header != "X-Execution-Token" || c.Source != "upstream" || c.Timeout != 2*time.Second || c.MaxLookups != 1 || c.Legacy {
		t.Errorf("defaults %+v", c)
	}
	c, err = FromOptions(map[string]any{"url": "https://x/lookup", "token": "t", "header": "X-Api-Key", "legacy": true,
		"source": "erp", "crmName": "ERP", "crmLogo": "https://x/l.png", "timeout": "1500ms", "maxLookups": 2})
	if err != nil || !c.Legacy || c.Header != "X-Api-Key" || c.Timeout != 1500*time.Millisecond || c.MaxLookups != 2 || c.CRMName != "ERP" {
		t.Errorf("%+v, %v", c, err)
	}
	_, err = FromOptions(map[string]any{"url": "crm.example.com", "header": "Bad Header:", "maxLookups": 9, "legacy": "maybe", "headers": 1})
	for _, w := range []string{"url", "header", "token is required", "maxLookups 9", "option legacy", "option headers: unknown option"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not mention %q", err, w)
		}
	}
	if _, err := New(Config{URL: "https://x", Token: "t"}, resty.New().SetRetryCount(1)); err == nil {
		t.Error("New accepted a client with retries")
	}
}
