package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// slowCRM is a webhook receiver that takes 300 ms per call and counts the
// calls of each workflow (its Idempotency-Key): what the CRM would hold.
type slowCRM struct {
	mu       sync.Mutex
	calls    map[string]int
	inFlight int
}

func (c *slowCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	c.mu.Lock()
	c.calls[key]++
	c.inFlight++
	c.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	c.mu.Lock()
	c.inFlight--
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":%q,"url":"https://crm.example.com/calls/%s"}`, key, key)
}

// counts returns how many workflows were called, how many more than once,
// and how many calls are running.
func (c *slowCRM) counts() (called, repeated, inFlight int) {
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

// TestSIGTERMFinishesWorkflowsInFlight stops the all-in-one with SIGTERM
// while 200 workflows run against a CRM answering in 300 ms. The worker
// finishes the calls in flight before NATS closes; after a restart the
// rest runs, and every accepted workflow reached the CRM exactly once.
func TestSIGTERMFinishesWorkflowsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	crm := &slowCRM{calls: map[string]int{}}
	srv := httptest.NewServer(crm)
	defer srv.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "calldex.yaml")
	if err := os.WriteFile(config, []byte(`admin: {token: admin-token-0123456789}
tenants:
  - id: shop
    region: CH
    credentials: [{header: X-Execution-Token, value: shop-token-0123456789}]
    workflowWait: 1ms
    workflows:
      CallFlow: {action: logCall, connector: hook}
    connectors:
      hook: {type: webhook, url: "`+srv.URL+`", secret: webhook-secret-0123456789}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	dataDir := filepath.Join(dir, "data")
	env := []string{"CALLDEX_CONFIG=" + config, "CALLDEX_WORKER_CONCURRENCY=64"}
	c := start(t, bin, dataDir, env...)

	const workflows = 200
	accepted := 0
	for i := range workflows {
		call := fmt.Sprintf(`{"inputs":{"contactCrmId":"c-%d","originatorNumber":"4121552%04d","destinationNumber":"41215550000","direction":"incoming","startedTime":"2026-01-05T10:00:00Z","endedTime":"2026-01-05T10:01:00Z"}}`, i, i)
		code, body := c.do("POST", "/peoplefone/CallFlow", call, "X-Execution-Token", "shop-token-0123456789")
		// 202: accepted, still running after the tenant's workflowWait.
		if code != http.StatusOK && code != http.StatusAccepted {
			t.Fatalf("workflow %d: %d %s", i, code, body)
		}
		var answer map[string]any
		if err := json.Unmarshal([]byte(body), &answer); err != nil {
			t.Fatalf("workflow %d answer %s: %v", i, body, err)
		}
		accepted++
	}
	waitFor(t, 30*time.Second, "calls in flight", func() bool { _, _, n := crm.counts(); return n >= 32 })
	c.stop() // SIGTERM; fails the test unless the process exits 0 in time
	called, _, inFlight := crm.counts()
	t.Logf("at SIGTERM's end: %d of %d workflows called, %d in flight", called, workflows, inFlight)
	if inFlight != 0 {
		t.Fatalf("%d CRM calls still running after calldex exited", inFlight)
	}
	if called == workflows {
		t.Fatal("every workflow ran before the stop: the test stopped nothing in flight")
	}

	start(t, bin, dataDir, env...)
	waitFor(t, 60*time.Second, "every workflow called", func() bool { n, _, _ := crm.counts(); return n == accepted })
	// Not a wait for a condition: a window in which a repeat of recorded
	// work (a redelivery of a message whose ack was lost) would reach the CRM.
	time.Sleep(2 * time.Second)
	called, repeated, _ := crm.counts()
	if called != accepted || repeated != 0 {
		t.Fatalf("%d accepted, %d called, %d called more than once", accepted, called, repeated)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
