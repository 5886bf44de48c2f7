package pipedrive

import (
	"net/http"
	"testing"

	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/crmtest"
	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// TestConformance runs the CRM connector suite against the contract fake,
// answering with the documented payloads of testdata/.
func TestConformance(t *testing.T) {
	crmtest.Run(t, func(t *testing.T) crmtest.Subject {
		crmfake.SetNow(t, at("2024-05-01 12:00:00"))
		f := newFake(t)
		answers := crmfake.Answers{
			crmtest.SearchPhone: {
				crmtest.Found:   {{Method: "GET", Path: "/v2/persons/search", Query: map[string]string{"term": "+41215522000", "fields": "phone"}, Answer: "persons_search_phone.json"}},
				crmtest.Missing: {{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_empty.json"}},
			},
			crmtest.SearchName: {
				crmtest.Found:   {{Method: "GET", Path: "/v2/persons/search", Query: map[string]string{"term": "Jane", "fields": "name"}, Answer: "persons_search_name.json"}},
				crmtest.Missing: {{Method: "GET", Path: "/v2/persons/search", Answer: "persons_search_empty.json"}},
			},
			crmtest.CreateContact: {
				crmtest.Created: {{Method: "POST", Path: "/v2/persons", WantBody: "add_person_request.json", Status: http.StatusCreated, Answer: "add_person_response.json"}},
			},
			crmtest.ListChanges: {
				crmtest.Found:   {{Method: "GET", Path: "/v1/recents", Query: map[string]string{"items": "person"}, Answer: "recents_page2.json"}},
				crmtest.Missing: {{Method: "GET", Path: "/v1/recents", Answer: "recents_empty.json"}},
			},
			crmtest.LogCall: {
				crmtest.Created: {
					{Method: "GET", Path: "/v2/activities", Answer: "activities_none.json"},
					{Method: "POST", Path: "/v2/activities", WantBody: "add_activity_request.json", Status: http.StatusCreated, Answer: "add_activity_response.json"},
				},
				crmtest.Repeated: {{Method: "GET", Path: "/v2/activities", Answer: "activities_day.json"}},
			},
			crmtest.LogDisposition: {
				crmtest.Created: {
					{Method: "GET", Path: "/v2/activities/8", Answer: "get_activity_response.json"},
					{Method: "PATCH", Path: "/v2/activities/8", WantBody: "update_activity_request.json", Answer: "update_activity_response.json"},
				},
				crmtest.Repeated: {{Method: "GET", Path: "/v2/activities/8", Answer: "get_activity_disposed.json"}},
			},
		}
		return crmtest.Subject{
			Connector: newConnector(t, f.URL),
			Data: crmtest.Data{
				Call:    callFixture(),
				Numbers: []string{"+41215522000"}, PhoneMatch: "1",
				Name: "Jane", NameMatch: "1",
				NewContact:  crm.NewContact{Name: " Will  Smith ", Phone: "+41215522000"},
				Disposition: dispositionFixture(),
				Cursor:      cursor{V: cursorVersion, Since: at("2024-05-01 10:00:00").Unix()}.String(),
			},
			Arrange:  crmfake.Arrange(f, answers),
			Failures: crmtest.HTTPFailures,
		}
	})
}
