package pipedrive

import (
	"testing"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/workflows/internal/crmfake"
)

// The contract fake plays a script of documented Pipedrive exchanges
// (testdata/README.md names the doc page of each fixture), checking the
// api_token and each request's method, path, query and body.

const testToken = "0123456789abcdef0123456789abcdef01234567"

// newFake starts a fake that expects exactly the script, in order.
func newFake(t *testing.T, script ...crmfake.Exchange) *crmfake.Server {
	t.Helper()
	return crmfake.New(t, crmfake.Options{
		Auth: crmfake.WantQuery("api_token", testToken),
		// Pipedrive sends its rate limit headers on every answer.
		Header: map[string]string{"X-Ratelimit-Limit": "40", "X-Ratelimit-Remaining": "39", "X-Ratelimit-Reset": "2"},
	}, script...)
}

func newConnector(t *testing.T, baseURL string, mutate ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{CompanyDomain: "acme", APIToken: testToken, BaseURL: baseURL, PageSize: 2}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg, resty.New())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}
