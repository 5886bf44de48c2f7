package eventpub_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/eventpub"
	"github.com/calldex/calldex/shared/natstest"
)

func wantNoneLost(t *testing.T, dropped, failed prometheus.Counter) {
	t.Helper()
	if d, f := testutil.ToFloat64(dropped), testutil.ToFloat64(failed); d != 0 || f != 0 {
		t.Errorf("dropped %v, failed %v; want none", d, f)
	}
}

func counters() (dropped, failed prometheus.Counter) {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"}), prometheus.NewCounter(prometheus.CounterOpts{Name: "failed"})
}

func lookupEvent(env *natstest.Env, i int) (string, events.Envelope, events.CallLookup) {
	return env.Topology.CallSubject("acme", "lookup"),
		events.Envelope{ID: fmt.Sprint("ev-", i), Type: events.TypeCallLookup, Tenant: "acme", Time: time.Now().UTC(), SchemaVersion: events.SchemaVersion},
		events.CallLookup{Dialect: "peoplefone", Number: fmt.Sprint(41215520000 + i), Hits: i % 2}
}

// stored reads the events of the CALLS stream in order.
func stored(t *testing.T, env *natstest.Env, want int) []events.Envelope {
	out, _ := storedMessages(t, env, want)
	return out
}

// storedMessages reads the events of the CALLS stream in order, and the
// number of messages they came in.
func storedMessages(t *testing.T, env *natstest.Env, want int) ([]events.Envelope, int) {
	t.Helper()
	ctx := t.Context()
	s, err := env.JS.Stream(ctx, env.Topology.Stream(events.StreamCalls))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Envelope
	msgs := 0
	for len(out) < want {
		msg, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), want, err)
		}
		envs, err := events.DecodeBatch(msg.Data())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, envs...)
		msgs++
	}
	return out, msgs
}

// Every event reaches the stream, in order, and bursts lose none.
func TestEventsStoredInOrder(t *testing.T) {
	env := natstest.Embedded(t).Connect()
	dropped, failed := counters()
	pub := eventpub.New(env.JS, 1024, dropped, failed, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	const n = 500 // several bursts
	for i := range n {
		if !pub.Publish(lookupEvent(env, i)) {
			t.Fatalf("event %d dropped with room in the buffer", i)
		}
		if i%100 == 0 {
			time.Sleep(5 * time.Millisecond) // let a burst end
		}
	}
	got := stored(t, env, n)
	for i, e := range got {
		var p events.CallLookup
		if e.ID != fmt.Sprint("ev-", i) || e.Payload(&p) != nil || p.Number != fmt.Sprint(41215520000+i) {
			t.Fatalf("event %d: %+v %+v", i, e, p)
		}
	}
	cancel()
	<-done
	wantNoneLost(t, dropped, failed)
}

// A full buffer drops and counts instead of blocking the caller; what was
// queued is still published when Run stops.
func TestFullBufferDropsAndStopFlushes(t *testing.T) {
	env := natstest.Embedded(t).Connect()
	dropped, failed := counters()
	pub := eventpub.New(env.JS, 10, dropped, failed, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := range 15 {
		if queued := pub.Publish(lookupEvent(env, i)); queued != (i < 10) {
			t.Fatalf("event %d queued %v", i, queued)
		}
	}
	if d := testutil.ToFloat64(dropped); d != 5 {
		t.Errorf("dropped %v, want 5", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // stopping at once: Run only flushes the queue
	if err := pub.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, env, 10); got[9].ID != "ev-9" {
		t.Errorf("last flushed event %s, want ev-9", got[9].ID)
	}
}

// A burst leaves as one message per subject, each holding its subject's
// events in the order they came.
func TestBurstIsOneMessagePerSubject(t *testing.T) {
	env := natstest.Embedded(t).Connect()
	dropped, failed := counters()
	pub := eventpub.New(env.JS, 100, dropped, failed, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tenants := []string{"acme", "beta"}
	for i := range 20 {
		tn := tenants[i%2]
		pub.Publish(env.Topology.CallSubject(tn, "lookup"),
			events.Envelope{ID: fmt.Sprint(tn, "-", i/2), Type: events.TypeCallLookup, Tenant: tn, Time: time.Now().UTC(), SchemaVersion: events.SchemaVersion},
			events.CallLookup{Dialect: "peoplefone", Number: fmt.Sprint(41215520000 + i), Hits: 1})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Run only flushes what is queued: one burst
	if err := pub.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, msgs := storedMessages(t, env, 20)
	if msgs != 2 {
		t.Fatalf("20 events of 2 subjects in %d messages, want 2", msgs)
	}
	for i, e := range got {
		tn := tenants[i/10]
		if e.Tenant != tn || e.ID != fmt.Sprint(tn, "-", i%10) {
			t.Fatalf("event %d: %s of %s", i, e.ID, e.Tenant)
		}
	}
	wantNoneLost(t, dropped, failed)
}

// A burst too big for one message is split, and nothing is lost or
// reordered: 2,000 events of ~600 B are more than the server's 1 MiB
// max_payload.
func TestBigBurstIsSplit(t *testing.T) {
	env := natstest.Embedded(t).Connect()
	dropped, failed := counters()
	const n = 2000
	pub := eventpub.New(env.JS, n, dropped, failed, slog.New(slog.NewTextHandler(io.Discard, nil)))
	dnid := strings.Repeat("4", 400)
	for i := range n {
		pub.Publish(env.Topology.CallSubject("acme", "lookup"),
			events.Envelope{ID: fmt.Sprint(i), Type: events.TypeCallLookup, Tenant: "acme", Time: time.Now().UTC(), SchemaVersion: events.SchemaVersion},
			events.CallLookup{Dialect: "peoplefone", Number: fmt.Sprint(41215520000 + i), DNID: dnid, Hits: 1})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := pub.Run(ctx); err != nil {
		t.Fatal(err)
	}
	got, msgs := storedMessages(t, env, n)
	if msgs < 4 {
		t.Fatalf("%d events of ~600 B in %d messages, want at least 4", n, msgs)
	}
	for i, e := range got {
		if e.ID != fmt.Sprint(i) {
			t.Fatalf("event %d is %s", i, e.ID)
		}
	}
	wantNoneLost(t, dropped, failed)
}

// BenchmarkPublishLookups measures what recording lookups costs the whole
// process, the embedded NATS server included: queueing, encoding, storing.
// cpu-ns/op is the process's CPU time (user and system) per event, which
// load elsewhere on the machine moves less than ns/op.
func BenchmarkPublishLookups(b *testing.B) {
	env := natstest.Embedded(b).Connect()
	dropped, failed := counters()
	pub := eventpub.New(env.JS, 8192, dropped, failed, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- pub.Run(ctx) }()
	subject, e, p := lookupEvent(env, 1)
	cpu0 := processCPU(b)
	for b.Loop() {
		for !pub.Publish(subject, e, p) {
			runtime.Gosched() // the buffer is full: let Run drain it
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
