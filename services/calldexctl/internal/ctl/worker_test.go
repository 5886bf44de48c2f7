package ctl

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/worker"
)

// crm is a webhook CRM that rejects the first calls it gets.
type crm struct {
	mu     sync.Mutex
	reject int
	keys   []string
}

func (c *crm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, r.Header.Get("Idempotency-Key"))
	if len(c.keys) <= c.reject {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"error":"contact is archived"}`)
		return
	}
	fmt.Fprintf(w, `{"id":"crm-%d","url":"https://crm.example.com/calls/%d"}`, len(c.keys), len(c.keys))
}

func (c *crm) calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.keys...)
}

// TestDeadLettersOfTheWorker goes through what an operator does after a CRM
// rejected calls: list the worker's dead letters, redrive them once the CRM
// is fixed, then replay the workflows — the done one is skipped unless
// forced.
func TestDeadLettersOfTheWorker(t *testing.T) {
	env := natstest.Connect(t)
	fake := &crm{reject: 1}
	hs := httptest.NewServer(fake)
	t.Cleanup(hs.Close)
	cfg := &tenant.Config{Tenants: []tenant.Tenant{{
		ID: "acme", Region: "CH",
		Credentials: []tenant.Credential{{Header: "X-Api-Key", Value: "acme-key-123"}},
		Workflows:   map[string]tenant.Workflow{"CallFlow": {Action: connectors.ActionLogCall, Connector: "crm"}},
		Connectors: map[string]tenant.Connector{"crm": {Type: "webhook", Options: map[string]any{
			"url": hs.URL, "secret": "webhook-secret-0123456789", "timeout": "2s"}}},
	}}}
	cfg.Admin.Token = "admin-token-123"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f, err := connectors.New(connectors.Config{Breaker: breaker.Config{Failures: 1000}}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	nc, err := nats.Connect(env.URL, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{
		Topology: env.Topology, Concurrency: 2, AckWait: 2 * time.Second, AttemptTimeout: time.Second, CloseTimeout: time.Second,
		Retry: worker.RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond},
	}, worker.Deps{Conn: nc, JS: env.JS, Results: env.Buckets.WorkflowResults, Tenants: tenant.NewRegistry(cfg), Connectors: f, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; nc.Close() })
	<-w.Running()

	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	t.Cleanup(func() { _ = d.Close() })
	key, err := d.Submit(ctx, "acme", "CallFlow", events.CallInput{CallID: "call-1", OriginatorNumber: "41215522000"}, false)
	if err != nil {
		t.Fatal(err)
	}
	status := func() string {
		r, err := d.Status(ctx, key)
		if err != nil {
			return ""
		}
		return r.Status
	}
	testwait.Until(t, 10*time.Second, "the workflow fails", func() bool { return status() == events.StatusFailed })

	c := newCLI(t, env)
	var ls struct{ DeadLetters []deadLetter }
	testwait.Until(t, 10*time.Second, "the dead letter", func() bool {
		c.json(&ls, "dlq", "ls")
		return len(ls.DeadLetters) == 1
	})
	dl := ls.DeadLetters[0]
	if dl.Key != key || dl.Subject != env.Topology.WorkflowSubject("acme", "CallFlow") || dl.Attempts != 1 || !strings.Contains(dl.Reason, "422") || dl.OriginalSeq != 1 {
		t.Fatalf("dead letter of the worker: %+v", dl)
	}
	var shown deadLetter
	c.json(&shown, "dlq", "show", fmt.Sprint(dl.ID))
	if shown.Status != events.StatusFailed {
		t.Fatalf("show: status %q", shown.Status)
	}

	// The CRM is fixed: redrive, and the worker runs the workflow again.
	var rep redriveReport
	c.json(&rep, "dlq", "redrive", "--all")
	if len(rep.Redriven) != 1 {
		t.Fatalf("redrive: %+v", rep)
	}
	testwait.Until(t, 10*time.Second, "the redriven workflow is done", func() bool { return status() == events.StatusDone })
	if calls := fake.calls(); len(calls) != 2 || calls[1] != key {
		t.Fatalf("CRM calls %v, want two under key %s", calls, key)
	}

	// Replaying WORKFLOWS into the worker's own consumer skips it: done.
	var rp replayReport
	c.json(&rp, "events", "replay", "--stream", "WORKFLOWS", "--to-consumer", worker.DefaultDurable)
	if rp.Matched != 2 || rp.Skipped != 2 || rp.Replayed != 0 {
		t.Fatalf("replay: %+v", rp)
	}
	// Forced, it runs once more under a new key.
	c.json(&rp, "events", "replay", "--stream", "WORKFLOWS", "--until", "1", "--to-consumer", worker.DefaultDurable, "--force")
	if rp.Forced != 1 || rp.ForcedKeys[key] == "" {
		t.Fatalf("forced replay: %+v", rp)
	}
	testwait.Until(t, 10*time.Second, "the forced run reaches the CRM", func() bool { return len(fake.calls()) == 3 })
	if calls := fake.calls(); calls[2] != rp.ForcedKeys[key] {
		t.Fatalf("third CRM call under %s, want the forced key %s", calls[2], rp.ForcedKeys[key])
	}
}
