package riskfeed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/riskfeed"
)

func registry(t *testing.T, ids ...string) *tenant.Registry {
	t.Helper()
	cfg := &tenant.Config{}
	cfg.Admin.Token = "admin-token-123"
	for _, id := range ids {
		cfg.Tenants = append(cfg.Tenants, tenant.Tenant{ID: id, Region: "CH",
			Credentials: []tenant.Credential{{Header: "X-Token", Value: "token-of-" + id}}})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return tenant.NewRegistry(cfg)
}

// runFeed runs a feed on a connection of its own until the test ends.
func runFeed(t *testing.T, env *natstest.Env, cfg riskfeed.Config, store risk.Store, reg *tenant.Registry) {
	t.Helper()
	conn, err := nats.Connect(env.URL, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	feed, err := riskfeed.New(cfg, riskfeed.Deps{Conn: conn, JS: env.JS, Store: store, Tenants: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func envelope(t *testing.T, typ, tenantID string, at time.Time, data any) events.Envelope {
	t.Helper()
	env, err := events.New("x", typ, tenantID, "", at, data)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestObserve(t *testing.T) {
	reg := registry(t, "acme")
	monday := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	ended := func(answered, ended string) events.CallEvent {
		return events.CallEvent{Event: events.CallEnded, CallID: "1", Direction: "incoming", OriginatorNumber: "0791234567",
			StartedTime: "2026-01-05T10:00:00Z", AnsweredTime: answered, EndedTime: ended}
	}
	tests := []struct {
		name string
		env  events.Envelope
		want []risk.Observation
	}{
		{"lookup in business hours", envelope(t, events.TypeCallLookup, "acme", monday, events.CallLookup{Number: "41791234567"}),
			[]risk.Observation{{Number: "+41791234567", Tenant: "acme", At: monday, Call: true}}},
		{"lookup on a Sunday", envelope(t, events.TypeCallLookup, "acme", monday.Add(-30*time.Hour), events.CallLookup{Number: "0791234567"}),
			[]risk.Observation{{Number: "+41791234567", Tenant: "acme", At: monday.Add(-30 * time.Hour), Call: true, AfterHours: true}}},
		{"long answered call", envelope(t, events.TypeCallEvent, "acme", monday, ended("2026-01-05T10:00:05Z", "2026-01-05T10:03:00Z")),
			[]risk.Observation{{Number: "+41791234567", Tenant: "acme", At: monday, Finished: true, Answered: true}}},
		{"answered, hung up at once", envelope(t, events.TypeCallEvent, "acme", monday, ended("2026-01-05T10:00:20Z", "2026-01-05T10:00:22Z")),
			[]risk.Observation{{Number: "+41791234567", Tenant: "acme", At: monday, Finished: true, Answered: true, Short: true}}},
		{"one ring, missed", envelope(t, events.TypeCallEvent, "acme", monday, events.CallEvent{Event: events.CallMissed, CallID: "1",
			Direction: "incoming", OriginatorNumber: "+41791234567", StartedTime: "2026-01-05T10:00:00Z", EndedTime: "2026-01-05T10:00:03Z"}),
			[]risk.Observation{{Number: "+41791234567", Tenant: "acme", At: monday, Finished: true, Short: true}}},
		{"outgoing call", envelope(t, events.TypeCallEvent, "acme", monday, events.CallEvent{Event: events.CallEnded, Direction: "outgoing",
			OriginatorNumber: "0791234567"}), nil},
		{"ringing", envelope(t, events.TypeCallEvent, "acme", monday, events.CallEvent{Event: events.CallRinging, Direction: "incoming",
			OriginatorNumber: "0791234567"}), nil},
		{"unknown tenant", envelope(t, events.TypeCallLookup, "other", monday, events.CallLookup{Number: "41791234567"}), nil},
		{"not a number", envelope(t, events.TypeCallLookup, "acme", monday, events.CallLookup{Number: "204"}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, _ := json.Marshal(tt.env)
			got, err := riskfeed.Observe(line, reg)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Observe = %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

func TestObserveSkipsWhatIsNotAnEvent(t *testing.T) {
	reg := registry(t, "acme")
	line, _ := json.Marshal(envelope(t, events.TypeCallLookup, "acme", time.Now(), events.CallLookup{Number: "41791234567"}))
	got, err := riskfeed.Observe(append([]byte("not json\n\n"), line...), reg)
	if err == nil || !strings.Contains(err.Error(), "event 1 of the message") || len(got) != 1 || got[0].Number != "+41791234567" {
		t.Errorf("Observe = %+v, %v; want the second event and an error naming the first", got, err)
	}
}

// TestSyntheticPrecisionRecall feeds a seeded synthetic hour of calls
// (see synthetic_test.go) through NATS, the feed and a store, then scores
// every caller at the default thresholds: the README's figures.
func TestSyntheticPrecisionRecall(t *testing.T) {
	env := natstest.Connect(t)
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) // a Monday
	end := start.Add(62 * time.Minute)
	store, err := risk.NewMemory(risk.Window{Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	syn := generate(20260105, start)
	reg := registry(t, syn.tenants...)
	runFeed(t, env, riskfeed.Config{Topology: env.Topology}, store, reg)

	msgs := syn.messages(env.Topology)
	for _, m := range msgs {
		if _, err := env.JS.PublishAsync(m.subject, m.data); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-env.JS.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("publishes not acknowledged")
	}
	stream := env.Topology.Stream(events.StreamCalls)
	testwait.Until(t, 60*time.Second, "the feed consumed every message", func() bool {
		c, err := env.JS.PushConsumer(t.Context(), stream, "calldex-risk")
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream >= uint64(len(msgs))
	})

	var tp, fp, fn, tn int
	missed := map[string]int{}
	flagged := map[string]int{}
	for _, c := range syn.callers {
		st, err := store.Stats(t.Context(), c.number)
		if err != nil {
			t.Fatal(err)
		}
		a := risk.Score(st, risk.FactsOf(c.number, ""), risk.Thresholds{})
		switch {
		case a.High && c.risky:
			tp++
		case a.High:
			fp++
			flagged[c.kind]++
		case c.risky:
			fn++
			missed[c.kind]++
		default:
			tn++
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	t.Logf("%d callers (%d to flag), %d calls in %d messages to %d tenants", len(syn.callers), tp+fn, len(syn.calls), len(msgs), len(syn.tenants))
	t.Logf("high risk at the default thresholds: precision %.3f (%d of %d flagged), recall %.3f (%d of %d)", precision, tp, tp+fp, recall, tp, tp+fn)
	t.Logf("missed by kind %v; wrongly flagged by kind %v", missed, flagged)
	if precision < 0.95 || recall < 0.85 {
		t.Errorf("precision %.3f, recall %.3f: want at least 0.95 and 0.85", precision, recall)
	}
	if tp+fn == 0 || tn == 0 {
		t.Fatal("the stream has no risky or no ordinary callers")
	}
}

// BenchmarkObserve is the feed's cost per call.lookup event (decoding the
// message and reading the number) beside the ingress in one process.
// BenchmarkObserve reads call.lookup lines as the ingress writes them
// (with the E.164 reading), and as events without it were written (read
// by encoding/json, the number parsed again).
func BenchmarkObserve(b *testing.B) {
	reg := registry(&testing.T{}, "acme")
	for _, withE164 := range []bool{true, false} {
		name := "ingress"
		if !withE164 {
			name = "without-e164"
		}
		b.Run(name, func(b *testing.B) {
			var lines []byte
			for i := range 16 {
				ev := events.CallLookup{Dialect: "peoplefone", Number: fmt.Sprintf("4121552%04d", i)}
				if withE164 {
					ev.E164 = "+" + ev.Number
				}
				env := events.Envelope{ID: fmt.Sprint("ev-", i), Type: events.TypeCallLookup, Tenant: "acme", Time: time.Now().UTC(),
					SchemaVersion: events.SchemaVersion, Data: ev.AppendJSON(nil)}
				lines = append(env.AppendJSON(lines), '\n')
			}
			b.ReportAllocs()
			for b.Loop() {
				obs, err := riskfeed.Observe(lines, reg)
				if err != nil || len(obs) != 16 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/event")
		})
	}
}

// With CallsOnly the feed reads finished calls only, under its own
// consumer: the lookups are counted where they are answered.
func TestCallsOnlyLeavesLookupsOut(t *testing.T) {
	for name, env := range map[string]*natstest.Env{"shared server": natstest.Connect(t), "embedded server": natstest.Embedded(t).Connect()} {
		t.Run(name, func(t *testing.T) { callsOnlyLeavesLookupsOut(t, env) })
	}
}

// callsOnlyLeavesLookupsOut: on a server that filters several subjects
// (2.10 and later) the lookups are not even delivered to the feed.
func callsOnlyLeavesLookupsOut(t *testing.T, env *natstest.Env) {
	store, err := risk.NewMemory(risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry(t, "acme")
	runFeed(t, env, riskfeed.Config{Topology: env.Topology, CallsOnly: true}, store, reg)

	now := time.Now().UTC()
	const number = "+41791110000"
	lookup := envelope(t, events.TypeCallLookup, "acme", now, events.CallLookup{Dialect: "pbx", Number: number[1:], E164: number})
	missed := envelope(t, events.TypeCallEvent, "acme", now, events.CallEvent{Event: events.CallMissed, CallID: "c1", Direction: "incoming",
		OriginatorNumber: number, DestinationNumber: "0215550000", StartedTime: now.Format(time.RFC3339), EndedTime: now.Add(2 * time.Second).Format(time.RFC3339)})
	for _, m := range []struct {
		subject string
		env     events.Envelope
	}{
		{env.Topology.CallSubject("acme", "lookup"), lookup},
		{env.Topology.CallSubject("acme", events.CallMissed), missed},
	} {
		line, err := json.Marshal(m.env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.JS.Publish(t.Context(), m.subject, line); err != nil {
			t.Fatal(err)
		}
	}
	var st risk.Stats
	testwait.Until(t, 20*time.Second, "the missed call counted", func() bool {
		st, err = store.Stats(t.Context(), number)
		return err == nil && st.Finished == 1
	})
	if st.Calls != 0 {
		t.Errorf("stats %+v: the lookup was counted by the feed too", st)
	}
	c, err := env.JS.PushConsumer(t.Context(), env.Topology.Stream(events.StreamCalls), "calldex-risk-calls")
	if err != nil {
		t.Fatalf("the feed's own consumer: %v", err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(2)
	if filters := info.Config.FilterSubjects; filters != nil {
		want = 1
		if len(filters) != 2 || !strings.HasSuffix(filters[0], ".ended") || !strings.HasSuffix(filters[1], ".missed") {
			t.Errorf("filter subjects %v, want the ended and missed calls'", filters)
		}
	}
	if info.Delivered.Consumer != want {
		t.Errorf("%d messages delivered to the feed, want %d (server %s)", info.Delivered.Consumer, want, env.Conn.ConnectedServerVersion())
	}
}

// A CallsOnly consumer an earlier version made, which every lookup is
// delivered to, is replaced by one that reads finished calls only, once
// the server can filter so.
func TestCallsOnlyReplacesAnUnfilteredConsumer(t *testing.T) {
	env := natstest.Embedded(t).Connect()
	stream := env.Topology.Stream(events.StreamCalls)
	if _, err := env.JS.CreatePushConsumer(t.Context(), stream, jetstream.ConsumerConfig{
		Durable: "calldex-risk-calls", DeliverSubject: "_old.deliver", FilterSubject: env.Topology.CallSubject("*", "*"),
		AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatal(err)
	}
	store, err := risk.NewMemory(risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, env, riskfeed.Config{Topology: env.Topology, CallsOnly: true}, store, registry(t, "acme"))
	testwait.Until(t, 10*time.Second, "the consumer filtering finished calls", func() bool {
		c, err := env.JS.PushConsumer(t.Context(), stream, "calldex-risk-calls")
		return err == nil && len(c.CachedInfo().Config.FilterSubjects) == 2
	})
}
