package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/shared/eventpub"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenantstore"
	"github.com/calldex/calldex/workflows/dispatch"
)

// publishCalls stores n call events, alternating tenants acme and beta,
// and returns their sequences.
func publishCalls(t *testing.T, env *natstest.Env, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := range n {
		tn := []string{"acme", "beta"}[i%2]
		e, err := events.New(fmt.Sprintf("ev-%d", i), events.TypeCallEvent, tn, "pbx", time.Now(), events.CallEvent{Event: events.CallEnded, CallID: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(e)
		ack, err := env.JS.Publish(context.Background(), env.Topology.CallSubject(tn, "ended"), b)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	return seqs
}

// durable creates a pull consumer on a stream, drains what it has, and
// returns it.
func durable(t *testing.T, env *natstest.Env, stream, name, filter string) jetstream.Consumer {
	t.Helper()
	c, err := env.JS.CreateOrUpdateConsumer(context.Background(), env.Topology.Stream(stream), jetstream.ConsumerConfig{
		Durable: name, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	drain(t, c)
	return c
}

// drain fetches and acks everything a consumer has pending.
func drain(t *testing.T, c jetstream.Consumer) []jetstream.Msg {
	t.Helper()
	var got []jetstream.Msg
	for {
		b, err := c.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			_ = m.Ack()
			got = append(got, m)
		}
		if n == 0 {
			return got
		}
	}
}

func TestStreams(t *testing.T) {
	env := natstest.Connect(t)
	publishCalls(t, env, 3)
	if _, err := env.JS.CreateOrUpdateConsumer(context.Background(), env.Topology.Stream(events.StreamCalls), jetstream.ConsumerConfig{
		Durable: "probe", FilterSubject: env.Topology.CallSubject("acme", "*"), AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, env)
	var got struct{ Streams []streamReport }
	c.json(&got, "streams")
	names := map[string]streamReport{}
	for _, s := range got.Streams {
		names[s.Name] = s
	}
	calls, ok := names[env.Topology.Stream(events.StreamCalls)]
	if !ok || len(names) != 7 {
		t.Fatalf("streams = %v, want the five streams and two buckets of the topology", names)
	}
	// The buckets a calldex creates beside natsx.Setup's are listed too:
	// every KV bucket of the topology.
	ctx := context.Background()
	if _, err := tenantstore.EnsureBucket(ctx, env.JS, env.Topology); err != nil {
		t.Fatal(err)
	}
	if _, _, err := appconnect.EnsureBuckets(ctx, env.JS, env.Topology, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, b := range []string{appconnect.BucketRevoked, appconnect.BucketCallLogs} {
			_ = env.JS.DeleteKeyValue(context.Background(), env.Topology.Stream(b))
		}
	})
	var kvs []string
	for name := range env.JS.KeyValueStoreNames(ctx).Name() {
		if strings.HasPrefix(name, env.Topology.Stream("")) {
			kvs = append(kvs, name)
		}
	}
	if len(kvs) != 5 {
		t.Fatalf("KV buckets of the topology: %v, want 5", kvs)
	}
	got.Streams = nil
	c.json(&got, "streams")
	listed := map[string]bool{}
	for _, s := range got.Streams {
		listed[s.Name] = true
	}
	for _, kv := range kvs {
		if !listed["KV_"+kv] {
			t.Errorf("bucket %s not listed: %v", kv, listed)
		}
	}
	if calls.Messages != 3 || calls.LastSeq != 3 || calls.Bytes == 0 || len(calls.Consumers) != 1 || calls.MaxAge != events.DefaultCallsMaxAge {
		t.Fatalf("CALLS = %+v", calls)
	}
	if p := calls.Consumers[0]; p.Name != "probe" || !p.Durable || p.Pending != 2 || p.Lag != 2 || p.AckPending != 0 {
		t.Fatalf("consumer = %+v, want probe with 2 pending (acme's)", p)
	}
	out := c.ok("streams")
	for _, want := range []string{"CALLS", "probe", "PENDING", "LAG", "MAX AGE", "30d"} {
		if !strings.Contains(out, want) {
			t.Errorf("human output lacks %q:\n%s", want, out)
		}
	}
}

func TestEventsTail(t *testing.T) {
	env := natstest.Connect(t)
	publishCalls(t, env, 4)
	c := newCLI(t, env)
	out := c.ok("events", "tail", "calls.acme.>", "--since", "1h", "--limit", "2", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		var ev tailedEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		if ev.Event == nil || ev.Event.Tenant != "acme" || ev.Event.Type != events.TypeCallEvent || ev.Seq != uint64(2*i+1) {
			t.Fatalf("line %d: %+v", i, ev)
		}
	}
	// Human form, stopping once caught up; new events only without --since.
	out = c.ok("events", "tail", ">", "--since", "1h", "--no-follow")
	if n := strings.Count(out, "── "); n != 4 || !strings.Contains(out, "call.event  tenant=beta") || !strings.Contains(out, `"callId": "3"`) {
		t.Fatalf("human tail (%d events):\n%s", n, out)
	}
	if out := c.ok("events", "tail", "calls.>", "--no-follow"); out != "" {
		t.Fatalf("without --since only new events: %q", out)
	}
}

// Lookup events travel in batches, one message per burst; tail prints
// each event of a batch under the message's sequence.
func TestEventsTailReadsLookupBatches(t *testing.T) {
	env := natstest.Connect(t)
	pub := eventpub.New(env.JS, 10, prometheus.NewCounter(prometheus.CounterOpts{Name: "d"}), prometheus.NewCounter(prometheus.CounterOpts{Name: "f"}),
		slog.New(slog.DiscardHandler))
	for i := range 3 {
		pub.Publish(env.Topology.CallSubject("acme", "lookup"),
			events.Envelope{ID: fmt.Sprint("lk-", i), Type: events.TypeCallLookup, Tenant: "acme", Time: time.Now().UTC(), SchemaVersion: events.SchemaVersion},
			events.CallLookup{Dialect: "peoplefone", Number: fmt.Sprint(41215522000 + i), Hits: 1})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Run flushes the queue: one burst, one message
	if err := pub.Run(ctx); err != nil {
		t.Fatal(err)
	}
	out := newCLI(t, env).ok("events", "tail", "calls.acme.lookup", "--since", "1h", "--no-follow", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, l := range lines {
		var ev tailedEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		var p events.CallLookup
		if ev.Event == nil || ev.Event.ID != fmt.Sprint("lk-", i) || ev.Event.Payload(&p) != nil || p.Number != fmt.Sprint(41215522000+i) || ev.Seq != 1 {
			t.Fatalf("line %d: %s", i, l)
		}
	}
}

// replayed reads what a consumer gets after a replay: the original
// sequences (from the replay header) in delivery order.
func replayed(t *testing.T, c jetstream.Consumer, stream string) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, m := range drain(t, c) {
		of := m.Headers().Get(HeaderReplayOf)
		s, ok := strings.CutPrefix(of, stream+":")
		if !ok {
			t.Fatalf("message without %s: %v", HeaderReplayOf, m.Headers())
		}
		seq, _ := strconv.ParseUint(s, 10, 64)
		seqs = append(seqs, seq)
	}
	return seqs
}

func TestReplayRangeToConsumer(t *testing.T) {
	env := natstest.Connect(t)
	seqs := publishCalls(t, env, 10)
	stream := env.Topology.Stream(events.StreamCalls)
	sink := durable(t, env, events.StreamCalls, "calls-sink", env.Topology.CallSubject("*", "*"))
	c := newCLI(t, env)

	var rep replayReport
	c.json(&rep, "events", "replay", "--stream", "CALLS", "--from-seq", "3", "--until", "7", "--to-consumer", "calls-sink")
	if rep.Replayed != 5 || rep.Matched != 5 || rep.FirstSeq != 3 || rep.LastSeq != 7 || rep.Skipped != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := replayed(t, sink, stream); fmt.Sprint(got) != "[3 4 5 6 7]" {
		t.Fatalf("consumer got %v, want exactly 3..7 in order", got)
	}
	// The copies are the originals: same data, headers saying what they are.
	orig, err := env.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := orig.GetMsg(context.Background(), 4)
	cp, _ := orig.GetMsg(context.Background(), seqs[len(seqs)-1]+2)
	if string(o.Data) != string(cp.Data) || o.Subject != cp.Subject || cp.Header.Get(HeaderReplayFor) != "calls-sink" || cp.Header.Get(nats.MsgIdHdr) == "" {
		t.Fatalf("copy of 4: %s %v, original %s", cp.Subject, cp.Header, o.Subject)
	}

	// A subject filter and a time bound; the copies made above are after
	// --until and never replayed again.
	c.json(&rep, "events", "replay", "--stream", "CALLS", "--since", "1h", "--until", "10", "--subject", "calls.acme.>", "--to-consumer", "calls-sink")
	if got := replayed(t, sink, stream); fmt.Sprint(got) != "[1 3 5 7 9]" || rep.Replayed != 5 {
		t.Fatalf("acme's replay delivered %v (report %+v), want 1 3 5 7 9", got, rep)
	}

	// A dry run publishes nothing.
	before, _ := orig.Info(context.Background())
	c.json(&rep, "events", "replay", "--stream", "CALLS", "--to-consumer", "calls-sink", "--until", "10", "--dry-run")
	after, _ := orig.Info(context.Background())
	if rep.Replayed != 10 || !rep.DryRun || after.State.Msgs != before.State.Msgs {
		t.Fatalf("dry run: %+v, messages %d → %d", rep, before.State.Msgs, after.State.Msgs)
	}

	// Another durable consumer on the same subjects would get the copies too.
	durable(t, env, events.StreamCalls, "other", env.Topology.CallSubject("beta", "*"))
	r := c.run("events", "replay", "--stream", "CALLS", "--to-consumer", "calls-sink", "--until", "2")
	if r.code != exitUsage || !strings.Contains(r.stderr, "other") {
		t.Fatalf("fan-out: exit %d: %s", r.code, r.stderr)
	}
	// …unless narrowed to subjects only calls-sink takes, or allowed.
	c.json(&rep, "events", "replay", "--stream", "CALLS", "--to-consumer", "calls-sink", "--until", "2", "--subject", "calls.acme.>")
	if rep.Replayed != 1 {
		t.Fatalf("narrowed: %+v", rep)
	}
	c.json(&rep, "events", "replay", "--stream", "CALLS", "--to-consumer", "calls-sink", "--until", "2", "--allow-fanout")
	if rep.Replayed != 2 {
		t.Fatalf("fan-out allowed: %+v", rep)
	}
	if r := c.run("events", "replay", "--stream", "CALLS", "--to-consumer", "nobody"); r.code != exitFailed || !strings.Contains(r.stderr, "no consumer nobody") {
		t.Fatalf("unknown consumer: exit %d: %s", r.code, r.stderr)
	}
}

func TestReplayToSubjectInOrderAtRate(t *testing.T) {
	env := natstest.Connect(t)
	publishCalls(t, env, 6)
	sub, err := env.Conn.SubscribeSync(env.Topology.Prefix + ".debug.copy")
	if err != nil {
		t.Fatal(err)
	}
	c := newCLI(t, env)
	start := time.Now()
	var rep replayReport
	c.json(&rep, "events", "replay", "--stream", "CALLS", "--from-seq", "2", "--until", "5", "--to-subject", "debug.copy", "--rate", "20/s")
	if rep.Replayed != 4 {
		t.Fatalf("report %+v", rep)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("4 messages at 20/s took %s", took)
	}
	for want := 2; want <= 5; want++ {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get(HeaderReplayOf); got != env.Topology.Stream(events.StreamCalls)+":"+strconv.Itoa(want) ||
			!strings.HasPrefix(m.Header.Get(HeaderReplaySubject), env.Topology.Prefix+".calls.") {
			t.Fatalf("copy %d: %v", want, m.Header)
		}
	}
	if r := c.run("events", "replay", "--stream", "CALLS", "--to-subject", "debug.copy", "--force"); r.code != exitUsage {
		t.Fatalf("--force with --to-subject: exit %d %s", r.code, r.stderr)
	}
}

// TestReplayWorkflowsSkipsDoneUnlessForced: a replayed workflow request
// whose key is done is not run again, unless --force gives it a new key.
func TestReplayWorkflowsSkipsDoneUnlessForced(t *testing.T) {
	env := natstest.Connect(t)
	ctx := context.Background()
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	t.Cleanup(func() { _ = d.Close() })
	var keys []string
	for i := range 3 {
		k, err := d.Submit(ctx, "acme", "CallFlow", events.CallInput{CallID: fmt.Sprint("call-", i), OriginatorNumber: "41215522000"}, false)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for _, k := range keys[:2] {
		b, _ := json.Marshal(events.WorkflowResult{Key: k, Tenant: "acme", Workflow: "CallFlow", Status: events.StatusDone, ID: "crm-" + k[:4]})
		if _, err := env.Buckets.WorkflowResults.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	worker := durable(t, env, events.StreamWorkflows, "calldex-worker", env.Topology.Prefix+".workflows.>")
	c := newCLI(t, env)

	var rep replayReport
	c.json(&rep, "events", "replay", "--stream", "WORKFLOWS", "--to-consumer", "calldex-worker")
	if rep.Matched != 3 || rep.Replayed != 1 || rep.Skipped != 2 || rep.Forced != 0 {
		t.Fatalf("replay: %+v, want 1 replayed and 2 skipped as done", rep)
	}
	out := c.ok("events", "replay", "--stream", "WORKFLOWS", "--until", "3", "--to-consumer", "calldex-worker", "--dry-run")
	if !strings.Contains(out, "would skip: 2 workflow(s) already done") {
		t.Fatalf("human dry run:\n%s", out)
	}
	msgs := drain(t, worker)
	if len(msgs) != 1 || requestOf(t, msgs[0]).Key != keys[2] {
		t.Fatalf("the worker got %d message(s), want only the request not done", len(msgs))
	}

	c.json(&rep, "events", "replay", "--stream", "WORKFLOWS", "--until", "3", "--to-consumer", "calldex-worker", "--force")
	if rep.Replayed != 1 || rep.Forced != 2 || rep.Skipped != 0 || len(rep.ForcedKeys) != 2 {
		t.Fatalf("forced replay: %+v", rep)
	}
	msgs = drain(t, worker)
	if len(msgs) != 3 {
		t.Fatalf("the worker got %d messages, want 3", len(msgs))
	}
	// In order: keys[0] and keys[1] under new keys, then keys[2] as it was.
	for i, m := range msgs {
		req := requestOf(t, m)
		switch i {
		case 0, 1:
			if req.Key != rep.ForcedKeys[keys[i]] || req.Key == keys[i] || !req.Forced || !dispatch.ValidKey(req.Key) {
				t.Fatalf("message %d: %+v, want the forced key of %s", i, req, keys[i])
			}
			if st := (&app{}).statusOf(t, env, req.Key); st != events.StatusAccepted {
				t.Fatalf("forced key %s has status %q", req.Key, st)
			}
		case 2:
			if req.Key != keys[2] || req.Forced {
				t.Fatalf("message 2: %+v", req)
			}
		}
	}
}

func requestOf(t *testing.T, m jetstream.Msg) events.WorkflowRequested {
	t.Helper()
	e, err := events.Decode(m.Data())
	if err != nil {
		t.Fatal(err)
	}
	var req events.WorkflowRequested
	if err := e.Payload(&req); err != nil {
		t.Fatal(err)
	}
	return req
}

func (*app) statusOf(t *testing.T, env *natstest.Env, key string) string {
	t.Helper()
	e, err := env.Buckets.WorkflowResults.Get(context.Background(), key)
	if err != nil {
		return ""
	}
	var r events.WorkflowResult
	_ = json.Unmarshal(e.Value(), &r)
	return r.Status
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"", 0, false}, {"100", 10 * time.Millisecond, false}, {"100/s", 10 * time.Millisecond, false},
		{"60/m", time.Second, false}, {"0", 0, true}, {"x/s", 0, true}, {"5/d", 0, true},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseRate(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	tests := []struct {
		f, s                     string
		matches, covers, overlap bool
	}{
		{"calls.>", "calls.acme.ended", true, true, true},
		{"calls.*.ended", "calls.acme.ended", true, true, true},
		{"calls.*", "calls.acme.ended", false, false, false},
		{"calls.>", "calls.*.ended", true, true, true},
		{"calls.acme.>", "calls.>", false, false, true},
		{"calls.*.ended", "calls.acme.*", false, false, true},
		{">", "x", true, true, true},
		{"a.b", "a.c", false, false, false},
	}
	for _, tt := range tests {
		if got := subjectMatches(tt.f, tt.s); got != tt.matches && !strings.ContainsAny(tt.s, "*>") {
			t.Errorf("matches(%s, %s) = %v", tt.f, tt.s, got)
		}
		if got := subjectCovers(tt.f, tt.s); got != tt.covers {
			t.Errorf("covers(%s, %s) = %v", tt.f, tt.s, got)
		}
		if got := subjectsOverlap(tt.f, tt.s); got != tt.overlap {
			t.Errorf("overlap(%s, %s) = %v", tt.f, tt.s, got)
		}
	}
}
