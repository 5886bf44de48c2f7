package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/testwait"
)

// TestSIGTERMFinishesWorkflowsInFlight stops the all-in-one with SIGTERM
// while 200 workflows run against a CRM answering in 300 ms. The worker
// finishes the calls in flight before NATS closes; after a restart the
// rest runs, and every accepted workflow reached the CRM exactly once.
func TestSIGTERMFinishesWorkflowsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	crm := &apptest.WebhookCRM{Delay: 300 * time.Millisecond}
	srv := httptest.NewServer(crm)
	defer srv.Close()
	dir := t.TempDir()
	config := filepath.Join(dir, "calldex.yaml")
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(apptest.WebhookTenants, "${CRM_URL}", srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	dataDir := filepath.Join(dir, "data")
	env := []string{"CALLDEX_CONFIG=" + config, "CALLDEX_WORKER_CONCURRENCY=64"}
	c := start(t, bin, dataDir, env...)

	const workflows = 200
	accepted := 0
	for i := range workflows {
		code, body := c.do("POST", "/peoplefone/CallFlow", apptest.CallFlowBody(fmt.Sprintf("c-%d", i)), "X-Execution-Token", apptest.ShopToken)
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
	testwait.Until(t, 30*time.Second, "calls in flight", func() bool { _, _, n := crm.Counts(); return n >= 32 })
	c.stop() // SIGTERM; fails the test unless the process exits 0 in time
	called, _, inFlight := crm.Counts()
	t.Logf("at SIGTERM's end: %d of %d workflows called, %d in flight", called, workflows, inFlight)
	if inFlight != 0 {
		t.Fatalf("%d CRM calls still running after calldex exited", inFlight)
	}
	if called == workflows {
		t.Fatal("every workflow ran before the stop: the test stopped nothing in flight")
	}

	start(t, bin, dataDir, env...)
	// Messages the stopped worker had received but not started come back
	// when their ack wait (60 s) ends: give them that and room.
	testwait.Until(t, 100*time.Second, "every workflow called", func() bool { n, _, _ := crm.Counts(); return n == accepted })
	// Not a wait for a condition: a window in which a repeat of recorded
	// work (a redelivery of a message whose ack was lost) would reach the CRM.
	time.Sleep(2 * time.Second)
	called, repeated, _ := crm.Counts()
	if called != accepted || repeated != 0 {
		t.Fatalf("%d accepted, %d called, %d called more than once", accepted, called, repeated)
	}
}
