package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/worker"
)

// submitN submits n CallFlows with distinct call ids and returns their keys.
func (h *harness) submitN(prefix string, n int) []string {
	h.t.Helper()
	keys := make([]string, n)
	for i := range keys {
		in := flow
		in.CallID = fmt.Sprintf("%s-%d", prefix, i)
		var err error
		// Right after a restart the dispatcher's connection may still be
		// reconnecting: it refuses at once, so retry until it takes it.
		testwait.Until(h.t, 15*time.Second, "submit "+in.CallID, func() bool {
			keys[i], err = h.dispatch.Submit(context.Background(), "acme", "CallFlow", in, false)
			return err == nil
		})
	}
	return keys
}

// allDone waits until every key's result is done.
func (h *harness) allDone(keys []string) {
	h.t.Helper()
	for _, k := range keys {
		if r := h.waitFinal(k); r.Status != events.StatusDone {
			h.t.Fatalf("workflow %s: %+v, want done", k, r)
		}
	}
}

// underWay waits until the worker holds n messages (some in CRM calls,
// the others in its client buffers: queue groups spread them unevenly over
// its subscriptions) and the CRM got a request beyond the first seen.
func (h *harness) underWay(fake *fakeCRM, seen, n int) {
	h.t.Helper()
	testwait.Until(h.t, 10*time.Second, "workflows under way", func() bool {
		c, err := h.env.JS.PushConsumer(context.Background(), h.env.Topology.Stream(events.StreamWorkflows), worker.DefaultDurable)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumAckPending == n && len(fake.requests()) > seen
	})
}

// lastSeq is the last sequence of the WORKFLOWS stream.
func (h *harness) lastSeq() uint64 {
	h.t.Helper()
	s, err := h.env.JS.Stream(context.Background(), h.env.Topology.Stream(events.StreamWorkflows))
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.LastSeq
}

// outlast keeps an outage going for d: the point is its length, there is no
// condition to poll for.
func outlast(d time.Duration) { <-time.After(d) }

// A worker rides out losing its connection (NATS up, the worker cut off)
// and a NATS restart, each longer than the ack window, without being
// restarted itself; it loses nothing: the messages in flight when the
// connection broke and those published while it was away are all run, and
// none is run twice.
func TestNothingLostAcrossOutages(t *testing.T) {
	t.Parallel()
	srv := natstest.Embedded(t)
	fake := newFakeCRM(t)
	h := newHarnessOn(t, srv.Connect(), fake.connector())
	wl := newLink(t, srv.URL())
	cfg := fastConfig()
	_, nc := h.startVia(cfg, wl.URL())
	disconnected := func() {
		t.Helper()
		testwait.Until(t, 5*time.Second, "worker notices the outage", func() bool { return nc.Status() != nats.CONNECTED })
	}
	var want []string

	// 1. The worker's connection breaks while it runs workflows (CRM calls
	// under way, more messages in its client buffers); NATS stays up.
	fake.hold()
	inFlight := h.submitN("cut-in-flight", cfg.Concurrency+2)
	h.underWay(fake, 0, len(inFlight))
	wl.Cut()
	disconnected()
	fake.release()
	// Their results are recorded (the results bucket is on another
	// connection), their acks are lost.
	h.allDone(inFlight)
	published := h.submitN("cut-published", 3)
	outlast(cfg.AckWait + time.Second)
	wl.Restore()
	h.allDone(published)
	h.consumerSettled(h.lastSeq())
	want = append(append(want, inFlight...), published...)
	for _, k := range want {
		if n := fake.requestsFor(k); n != 1 {
			t.Errorf("workflow %s: %d CRM requests, want 1 (recorded done before the ack was lost)", k, n)
		}
	}

	// 2. NATS restarts while CRM calls are under way; the worker is still
	// away when it is back and new workflows are published.
	fake.hold()
	before := len(fake.requests())
	restartInFlight := h.submitN("restart-in-flight", 2)
	h.underWay(fake, before, len(restartInFlight))
	wl.Cut()
	srv.Stop()
	disconnected()
	fake.release()
	outlast(cfg.AckWait + time.Second)
	srv.Start()
	restartPublished := h.submitN("restart-published", 3)
	wl.Restore()
	h.allDone(restartInFlight)
	h.allDone(restartPublished)
	h.consumerSettled(h.lastSeq())
	for _, k := range restartPublished {
		if n := fake.requestsFor(k); n != 1 {
			t.Errorf("workflow %s published while the worker was away: %d CRM requests, want 1", k, n)
		}
	}
	// A call whose result could not be recorded (NATS was down) is made
	// again, with the same idempotency key: the CRM keeps one effect.
	for _, k := range restartInFlight {
		if n := fake.requestsFor(k); n < 1 {
			t.Errorf("workflow %s in flight at the restart: no CRM request", k)
		}
	}
	want = append(append(want, restartInFlight...), restartPublished...)
	keys := map[string]bool{}
	fake.mu.Lock()
	for _, k := range fake.keys {
		keys[k] = true
	}
	fake.mu.Unlock()
	if len(keys) != len(want) {
		t.Fatalf("CRM saw %d idempotency keys, want %d", len(keys), len(want))
	}
}

// A worker started while NATS is down waits for it, however long, instead
// of giving up: its consumer is created once NATS is back, and what was
// published meanwhile is run.
func TestWorkerStartsWhileNATSIsDown(t *testing.T) {
	t.Parallel()
	srv := natstest.Embedded(t)
	fake := newFakeCRM(t)
	h := newHarnessOn(t, srv.Connect(), fake.connector())
	nc := h.connect(srv.URL())
	srv.Stop()
	r := h.launch(fastConfig(), nc)
	// Longer than one JetStream request may take: the worker has seen its
	// first attempt time out.
	outlast(6 * time.Second)
	select {
	case <-r.done:
		t.Fatalf("worker gave up while NATS was down: %v", r.err)
	case <-r.w.Running():
		t.Fatal("worker consuming while NATS is down")
	default:
	}
	srv.Start()
	keys := h.submitN("after-start", 2)
	select {
	case <-r.w.Running():
	case <-r.done:
		t.Fatalf("worker stopped: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("worker not consuming 10s after NATS is back")
	}
	h.allDone(keys)
	h.consumerSettled(h.lastSeq())
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// Stopping a worker that waits for NATS returns at once, without error.
func TestWorkerStopsWhileWaitingForNATS(t *testing.T) {
	t.Parallel()
	srv := natstest.Embedded(t)
	h := newHarnessOn(t, srv.Connect(), newFakeCRM(t).connector())
	nc := h.connect(srv.URL())
	srv.Stop()
	r := h.launch(fastConfig(), nc)
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("run: %v, want nil", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5s after its context ended")
	}
	if !nc.IsClosed() && !nc.IsDraining() {
		t.Fatalf("the worker's connection is %s after Run, want drained", nc.Status())
	}
	srv.Start() // for the cleanup
}

// A connection closed under a running worker ends Run with an error rather
// than leaving a worker that looks alive and consumes nothing.
func TestWorkerEndsWhenItsConnectionCloses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFakeCRM(t).connector())
	nc := h.connect(h.env.URL)
	r := h.launch(fastConfig(), nc)
	select {
	case <-r.w.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("worker not running after 10s")
	}
	nc.Close()
	select {
	case <-r.done:
		if !errors.Is(r.err, nats.ErrConnectionClosed) {
			t.Fatalf("run: %v, want nats.ErrConnectionClosed", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5s after its connection closed")
	}
}

// A worker needs a connection that never gives up reconnecting; New warns
// of one that does.
func TestNewWarnsOfAConnectionThatGivesUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, newFakeCRM(t).connector())
	tests := []struct {
		name string
		opt  nats.Option
		warn bool
	}{
		{"default max reconnects", func(*nats.Options) error { return nil }, true},
		{"no reconnect", nats.NoReconnect(), true},
		{"reconnects forever", nats.MaxReconnects(-1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(h.env.URL, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			var logs bytes.Buffer
			cfg := fastConfig()
			cfg.Topology = h.env.Topology
			_, err = worker.New(cfg, worker.Deps{Conn: nc, JS: h.env.JS, Results: h.env.Buckets.WorkflowResults,
				Tenants: h.reg, Connectors: h.factory, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if warned := strings.Contains(logs.String(), "MaxReconnects(-1)"); warned != tt.warn {
				t.Fatalf("warned %t, want %t; logs: %s", warned, tt.warn, logs.String())
			}
		})
	}
}

// A server back without the worker's consumer (its state lost, or the
// consumer deleted meanwhile) gets it again when the worker reconnects;
// nothing already done is run again.
func TestConsumerIsEnsuredAfterReconnect(t *testing.T) {
	t.Parallel()
	srv := natstest.Embedded(t)
	fake := newFakeCRM(t)
	h := newHarnessOn(t, srv.Connect(), fake.connector())
	wl := newLink(t, srv.URL())
	_, nc := h.startVia(fastConfig(), wl.URL())
	before := h.submitN("before", 2)
	h.allDone(before)
	h.consumerSettled(h.lastSeq())

	wl.Cut()
	testwait.Until(t, 5*time.Second, "worker notices the cut", func() bool { return nc.Status() != nats.CONNECTED })
	if err := h.env.JS.DeleteConsumer(context.Background(), h.env.Topology.Stream(events.StreamWorkflows), worker.DefaultDurable); err != nil {
		t.Fatal(err)
	}
	after := h.submitN("after", 2)
	wl.Restore()
	h.allDone(after)
	// The new consumer starts from the beginning of the stream: the done
	// ones are acked without a CRM call.
	h.consumerSettled(h.lastSeq())
	for _, k := range append(before, after...) {
		if n := fake.requestsFor(k); n != 1 {
			t.Errorf("workflow %s: %d CRM requests, want 1", k, n)
		}
	}
}
