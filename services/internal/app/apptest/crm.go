package apptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// WebhookTenants is a tenants file with one tenant, shop, whose CallFlow
// workflow posts to a webhook at ${CRM_URL} (a WebhookCRM). Lookups and
// workflows take the header X-Execution-Token: ShopToken.
const WebhookTenants = `admin: {token: admin-token-0123456789}
tenants:
  - id: shop
    region: CH
    credentials: [{header: X-Execution-Token, value: shop-token-0123456789}]
    workflowWait: 1ms
    workflows:
      CallFlow: {action: logCall, connector: hook}
    connectors:
      hook: {type: webhook, url: "${CRM_URL}", secret: webhook-secret-0123456789}
`

// ShopToken is the credential of WebhookTenants' tenant.
const ShopToken = "shop-token-0123456789"

// CallFlowBody is a CallFlow request whose call names contact id, so that
// a WebhookCRM can tell the workflows apart.
func CallFlowBody(id string) string {
	return fmt.Sprintf(`{"inputs":{"contactCrmId":%q,"originatorNumber":"41215522000","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","endedTime":"2026-01-05T10:01:00Z"}}`, id)
}

// WebhookCRM receives workflow webhooks, taking Delay for each, and counts
// every call by the call's contact id, and the Idempotency-Keys it came
// with: a receiver that honours the key (as the webhook contract asks)
// makes one effect of calls with the same key.
type WebhookCRM struct {
	Delay    time.Duration
	mu       sync.Mutex
	calls    map[string]int
	keys     map[string]map[string]bool
	inFlight int
}

func (c *WebhookCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var call struct {
		Inputs struct{ ContactCrmID string } `json:"inputs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := call.Inputs.ContactCrmID
	c.mu.Lock()
	if c.calls == nil {
		c.calls, c.keys = map[string]int{}, map[string]map[string]bool{}
	}
	c.inFlight++
	c.mu.Unlock()
	time.Sleep(c.Delay)
	c.mu.Lock()
	c.calls[id]++
	if c.keys[id] == nil {
		c.keys[id] = map[string]bool{}
	}
	c.keys[id][r.Header.Get("Idempotency-Key")] = true
	c.inFlight--
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"url":"https://crm.example.com/calls/%s"}`, id, id)
}

// Counts tells how many workflows were called, how many of them more than
// once, and how many calls are running.
func (c *WebhookCRM) Counts() (called, repeated, inFlight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.calls {
		called++
		if n > 1 {
			repeated++
		}
	}
	return called, repeated, c.inFlight
}

// DoubleEffects counts the workflows a key-honouring CRM would have carried
// out more than once: calls for one contact id under different keys.
func (c *WebhookCRM) DoubleEffects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, keys := range c.keys {
		if len(keys) > 1 {
			n++
		}
	}
	return n
}

// Missing lists the ids the CRM never saw.
func (c *WebhookCRM) Missing(ids []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range ids {
		if c.calls[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}
