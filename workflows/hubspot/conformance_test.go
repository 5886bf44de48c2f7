package hubspot

import (
	"net/http"
	"testing"
	"time"

	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/crmtest"
	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// TestConformance runs the CRM connector suite against the contract fake,
// answering with the documented payloads of testdata/.
func TestConformance(t *testing.T) {
	crmtest.Run(t, func(t *testing.T) crmtest.Subject {
		now := mustTime("2019-12-10T00:00:00Z")
		crmfake.SetNow(t, now)
		f := newFake(t)
		const search = "/crm/v3/objects/contacts/search"
		answers := crmfake.Answers{
			crmtest.SearchPhone: {
				crmtest.Found:   {{Method: "POST", Path: search, Answer: "search_contacts_page1.json"}},
				crmtest.Missing: {{Method: "POST", Path: search, Answer: "search_empty.json"}},
			},
			crmtest.SearchName: {
				crmtest.Found:   {{Method: "POST", Path: search, Answer: "search_contacts_page2.json"}},
				crmtest.Missing: {{Method: "POST", Path: search, Answer: "search_empty.json"}},
			},
			crmtest.CreateContact: {
				crmtest.Created: {{Method: "POST", Path: "/crm/v3/objects/contacts", WantBody: "create_contact_request.json", Status: http.StatusCreated, Answer: "create_contact_response.json"}},
			},
			crmtest.ListChanges: {
				crmtest.Found:   {{Method: "POST", Path: search, Answer: "search_contacts_page2.json"}},
				crmtest.Missing: {{Method: "POST", Path: search, Answer: "search_empty.json"}},
			},
			crmtest.LogCall: {
				crmtest.Created: {
					{Method: "POST", Path: "/crm/v3/objects/calls/search", Answer: "search_empty.json"},
					{Method: "POST", Path: "/crm/v3/objects/calls", WantBody: "create_call_request.json", Status: http.StatusCreated, Answer: "create_call_response.json"},
				},
				crmtest.Repeated: {{Method: "POST", Path: "/crm/v3/objects/calls/search", Answer: "search_calls_found.json"}},
			},
			crmtest.LogDisposition: {
				// The doc's update example: one PATCH of the call, the same
				// when the outcome was set before.
				crmtest.Created:  {{Method: "PATCH", Path: "/crm/v3/objects/calls/9876", WantBody: "update_call_request.json", Answer: "update_call_response.json"}},
				crmtest.Repeated: {{Method: "PATCH", Path: "/crm/v3/objects/calls/9876", WantBody: "update_call_request.json", Answer: "update_call_response.json"}},
			},
			crmtest.CreateTicket: {
				crmtest.Created: {
					{Method: "POST", Path: "/crm/v3/objects/tickets/search", Answer: "search_empty.json"},
					{Method: "POST", Path: "/crm/v3/objects/tickets", Status: http.StatusCreated, Answer: "create_ticket_response.json"},
				},
				crmtest.Repeated: {{Method: "POST", Path: "/crm/v3/objects/tickets/search", Answer: "search_tickets_found.json"}},
			},
		}
		return crmtest.Subject{
			Connector: newConnector(t, f.URL),
			Data: crmtest.Data{
				Call:    callFixture(),
				Numbers: []string{"+41215522000", "+41 21 552 20 00"}, PhoneMatch: "513",
				Name: "nobody", NameMatch: "514",
				NewContact:  crm.NewContact{Name: "Jane  Doe", Phone: "+41215522000"},
				Disposition: dispositionFixture("Connected"),
				Cursor:      cursor{V: cursorVersion, Since: 1575737400000, SweptAt: now.Add(-time.Minute).UnixMilli()}.String(),
			},
			Arrange:  crmfake.Arrange(f, answers),
			Failures: crmtest.HTTPFailures,
		}
	})
}
