package hubspot

import (
	"encoding/json"
	"testing"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// The contract fake plays a script of documented HubSpot exchanges
// (testdata/README.md names the doc page of each fixture), checking the
// bearer token and each request's method, path, query and body.

const testToken = "pat-na1-11111111-2222-3333-4444-555555555555"

// newFake starts a fake that expects exactly the script, in order.
func newFake(t *testing.T, script ...crmfake.Exchange) *crmfake.Server {
	t.Helper()
	return crmfake.New(t, crmfake.Options{
		Auth:        crmfake.WantHeader("Authorization", "Bearer "+testToken),
		ContentType: "application/json;charset=utf-8", // what HubSpot sends
	}, script...)
}

// decodeBody reads a request body for checks.
func decodeBody(t testing.TB, body []byte) searchRequest {
	t.Helper()
	var req searchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("search body: %v", err)
	}
	return req
}

// newConnector builds a connector against the fake with test defaults.
func newConnector(t *testing.T, baseURL string, mutate ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{Token: testToken, PortalID: 62515, BaseURL: baseURL, PageSize: 2}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg, resty.New())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}
