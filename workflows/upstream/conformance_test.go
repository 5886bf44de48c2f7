package upstream

import (
	"testing"

	"github.com/calldex/calldex/workflows/crm/crmtest"
	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// upstreamFailures are the suite's HTTP failures but 404: the CONNECTOR
// API spec makes a 404 mean "service not accessible", which is transient
// (TestFailuresAreClassified).
var upstreamFailures = []crmtest.Outcome{crmtest.Unauthorized, crmtest.Forbidden, crmtest.RateLimited, crmtest.ServerError, crmtest.Slow, crmtest.Unreachable}

// TestConformance runs the CRM connector suite against the contract fake,
// answering with the spec's samples of testdata/.
func TestConformance(t *testing.T) {
	crmtest.Run(t, func(t *testing.T) crmtest.Subject {
		crmfake.SetNow(t, now)
		f := newFake(t)
		return crmtest.Subject{
			Connector: newConnector(t, f.URL+"/services/"),
			Data:      crmtest.Data{Numbers: []string{"+41215522000", "0215522000"}, PhoneMatch: "17"},
			Arrange: crmfake.Arrange(f, crmfake.Answers{crmtest.SearchPhone: {
				crmtest.Found:   {{Method: "POST", Path: "/services/Lookup", WantBody: "lookup_request.json", Answer: "lookup_response.json"}},
				crmtest.Missing: {{Method: "POST", Path: "/services/Lookup", Answer: "lookup_empty.json"}},
			}}),
			Failures: upstreamFailures,
		}
	})
}
