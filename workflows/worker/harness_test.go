package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/worker"
)

const hookSecret = "worker-test-secret-0123"

// fastConfig keeps tests quick: small backoffs and ack windows.
func fastConfig() worker.Config {
	return worker.Config{
		Concurrency:    4,
		AckWait:        2 * time.Second,
		AttemptTimeout: time.Second,
		CloseTimeout:   time.Second,
		Retry: worker.RetryConfig{
			InitialInterval: 20 * time.Millisecond,
			MaxInterval:     200 * time.Millisecond,
			LocalAttempts:   3,
		},
	}
}

// harness is one test's NATS, tenants, connectors and dispatcher.
type harness struct {
	t        testing.TB
	env      *natstest.Env
	reg      *tenant.Registry
	factory  *connectors.Factory
	dispatch *dispatch.Dispatcher
}

// newHarness configures tenant acme with the given connectors; workflows
// CallFlow and CallLog log calls on connector "crm", Ticket creates
// tickets on it, CallDisposition applies dispositions to logged calls.
func newHarness(t testing.TB, crm tenant.Connector) *harness {
	t.Helper()
	return newHarnessOn(t, natstest.Connect(t), crm)
}

// newHarnessOn is newHarness on a given NATS (an embedded server).
func newHarnessOn(t testing.TB, env *natstest.Env, crm tenant.Connector) *harness {
	t.Helper()
	cfg := &tenant.Config{Tenants: []tenant.Tenant{{
		ID:          "acme",
		Region:      "CH",
		Credentials: []tenant.Credential{{Header: "X-Api-Key", Value: "acme-key-123"}},
		Workflows: map[string]tenant.Workflow{
			"CallFlow":        {Action: connectors.ActionLogCall, Connector: "crm"},
			"CallLog":         {Action: connectors.ActionLogCall, Connector: "crm"},
			"Ticket":          {Action: connectors.ActionCreateTicket, Connector: "crm"},
			"CallDisposition": {Action: connectors.ActionLogDisposition, Connector: "crm"},
		},
		Connectors: map[string]tenant.Connector{"crm": crm},
	}}}
	cfg.Admin.Token = "admin-token-123"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("tenant config: %v", err)
	}
	f, err := connectors.New(connectors.Config{Breaker: breaker.Config{Failures: 1000}}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	t.Cleanup(func() { _ = d.Close() })
	return &harness{t: t, env: env, reg: tenant.NewRegistry(cfg), factory: f, dispatch: d}
}

// start runs a worker on its own connection; stop (also at cleanup) ends it
// and waits for Run to return.
func (h *harness) start(cfg worker.Config) (stop func()) {
	h.t.Helper()
	stop, _ = h.startVia(cfg, h.env.URL)
	return stop
}

// startVia is start with the worker's connection dialled to url (a link
// in front of the server), which it returns.
func (h *harness) startVia(cfg worker.Config, url string) (stop func(), nc *nats.Conn) {
	h.t.Helper()
	nc = h.connect(url)
	r := h.launch(cfg, nc)
	select {
	case <-r.w.Running():
	case <-r.done:
		h.t.Fatalf("worker stopped at start: %v", r.err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("worker not running after 10s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := r.stop(); err != nil {
				h.t.Errorf("worker run: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop, nc
}

// connect dials a connection for a worker, reconnecting forever.
func (h *harness) connect(url string) *nats.Conn {
	h.t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	h.t.Cleanup(nc.Close)
	return nc
}

// run is a worker launched by launch.
type run struct {
	w      *worker.Worker
	done   chan struct{} // closed when Run returned err
	err    error
	cancel context.CancelFunc
}

// stop cancels Run, waits for it and returns its error.
func (r *run) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// launch runs a worker on nc without waiting for it to consume. The caller
// stops it; cleanup does otherwise.
func (h *harness) launch(cfg worker.Config, nc *nats.Conn) *run {
	h.t.Helper()
	cfg.Topology = h.env.Topology
	w, err := worker.New(cfg, worker.Deps{
		Conn: nc, JS: h.env.JS, Results: h.env.Buckets.WorkflowResults,
		Tenants: h.reg, Connectors: h.factory, Logger: testLogger(),
	})
	if err != nil {
		h.t.Fatalf("worker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{w: w, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		r.err = w.Run(ctx)
	}()
	h.t.Cleanup(func() { _ = r.stop() })
	return r
}

// submit sends a CallFlow and waits for its final result.
func (h *harness) submitAndWait(workflow string, in events.CallInput) (string, events.WorkflowResult) {
	h.t.Helper()
	ctx := context.Background()
	key, err := h.dispatch.Submit(ctx, "acme", workflow, in, false)
	if err != nil {
		h.t.Fatalf("submit: %v", err)
	}
	return key, h.waitFinal(key)
}

func (h *harness) waitFinal(key string) events.WorkflowResult {
	h.t.Helper()
	var r events.WorkflowResult
	testwait.Until(h.t, 20*time.Second, "workflow "+key+" finishes", func() bool {
		var err error
		r, err = h.dispatch.Wait(context.Background(), key, 2*time.Second)
		return err == nil && (r.Status == events.StatusDone || r.Status == events.StatusFailed)
	})
	return r
}

// consumerSettled waits until the worker consumer has nothing pending.
func (h *harness) consumerSettled(delivered uint64) *jetstream.ConsumerInfo {
	h.t.Helper()
	var info *jetstream.ConsumerInfo
	testwait.Until(h.t, 20*time.Second, "consumer acks everything", func() bool {
		c, err := h.env.JS.PushConsumer(context.Background(), h.env.Topology.Stream(events.StreamWorkflows), worker.DefaultDurable)
		if err != nil {
			return false
		}
		info, err = c.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.Delivered.Stream >= delivered && info.AckFloor.Stream >= delivered
	})
	return info
}

// deadLetter waits for the dead letter of a workflow subject.
func (h *harness) deadLetter(subject string) *jetstream.RawStreamMsg {
	h.t.Helper()
	s, err := h.env.JS.Stream(context.Background(), h.env.Topology.Stream(events.StreamDLQ))
	if err != nil {
		h.t.Fatalf("dlq stream: %v", err)
	}
	var m *jetstream.RawStreamMsg
	testwait.Until(h.t, 20*time.Second, "dead letter on "+subject, func() bool {
		m, err = s.GetLastMsgForSubject(context.Background(), h.env.Topology.DLQSubject(subject))
		return err == nil
	})
	return m
}

// fakeCRM is a webhook receiver answering a scripted status per request
// (then 200), recording when each request arrived. While held, requests
// wait for release before they are answered.
type fakeCRM struct {
	mu       sync.Mutex
	script   []reply
	received []time.Time
	keys     []string
	gate     chan struct{}
	srv      *httptest.Server
}

type reply struct {
	status     int
	retryAfter string
}

func newFakeCRM(t testing.TB, script ...reply) *fakeCRM {
	f := &fakeCRM{script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.received = append(f.received, time.Now())
		f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
		n := len(f.received)
		rep := reply{status: 200}
		if n <= len(f.script) {
			rep = f.script[n-1]
		}
		gate := f.gate
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		_ = body
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.WriteHeader(rep.status)
		if rep.status == 200 {
			fmt.Fprintf(w, `{"id":"crm-%d","url":"https://crm.example.com/calls/crm-%d"}`, n, n)
		} else {
			fmt.Fprintf(w, `{"error":"status %d"}`, rep.status)
		}
	}))
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.release) // before Close, which waits for held requests
	return f
}

// hold makes requests wait until release.
func (f *fakeCRM) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate == nil {
		f.gate = make(chan struct{})
	}
}

// release answers the held requests and stops holding.
func (f *fakeCRM) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

// requestsFor counts the requests carrying an Idempotency-Key.
func (f *fakeCRM) requestsFor(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range f.keys {
		if k == key {
			n++
		}
	}
	return n
}

func (f *fakeCRM) connector() tenant.Connector {
	return tenant.Connector{Type: "webhook", Options: map[string]any{"url": f.srv.URL, "secret": hookSecret, "timeout": "2s"}}
}

func (f *fakeCRM) requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.received...)
}

func testLogger() *slog.Logger {
	if os.Getenv("WORKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func seqOf(t *testing.T, h *harness, subject string) uint64 {
	t.Helper()
	s, _ := h.env.JS.Stream(context.Background(), h.env.Topology.Stream(events.StreamWorkflows))
	m, err := s.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatalf("original message: %v", err)
	}
	return m.Sequence
}
