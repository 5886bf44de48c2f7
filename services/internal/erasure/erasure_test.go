package erasure_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/services/internal/erasure"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/dispatch"
)

const (
	tenantID = "acme"
	erased   = "+41215522000"
	kept     = "+41215522999"
)

var opts = phone.Options{Region: "CH", TailDigits: 9}

type chOnly struct{}

func (chOnly) PhoneOptions(string) (phone.Options, bool) { return opts, true }

// projected runs a projector of CONTACTS into a fresh in-process index.
func projected(t *testing.T, ctx context.Context, env *natstest.Env) (*index.Memory, *projector.Projector) {
	t.Helper()
	idx := index.NewMemory()
	p, err := projector.New(projector.Config{Topology: env.Topology}, env.JS, idx, chOnly{}, &projector.Memory{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Run(ctx) }()
	return idx, p
}

func finds(t *testing.T, idx *index.Memory, number string) []index.Match {
	t.Helper()
	keys, err := phone.Candidates(number, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.Lookup(context.Background(), tenantID, keys, 10)
	if err != nil {
		t.Fatal(err)
	}
	var exact []index.Match
	for _, x := range m {
		if x.Kind == phone.Exact {
			exact = append(exact, x)
		}
	}
	return exact
}

// holding returns the messages of a stream, of every subject, that hold
// the erased number in any form it was stored in: what events tail,
// events replay or a rebuild would read.
func holding(t *testing.T, env *natstest.Env, stream string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := env.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		for _, form := range []string{"41215522000", "215522000", "552 20 00"} {
			if strings.Contains(string(m.Data), form) {
				out = append(out, m.Subject+": "+string(m.Data))
				break
			}
		}
	}
	return out
}

func TestEraseRemovesTheNumberFromEveryStore(t *testing.T) {
	env := natstest.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	idx, proj := projected(t, ctx, env)
	contacts := contact.NewPublisher(env.JS, env.Topology)
	topo := env.Topology

	// The index and CONTACTS: two contacts hold the number, one of them
	// another number too; a third contact holds only another number.
	updated := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var seq uint64
	for _, c := range []events.Contact{
		{ID: "1", Source: "crm", Name: "Alexa Meier", Phones: []events.Phone{{Raw: "021 552 20 00"}, {Raw: "+41 21 552 29 99"}}, UpdatedAt: updated},
		{ID: "2", Source: "hubspot", Name: "Reception", Phones: []events.Phone{{Raw: "+41215522000"}}, UpdatedAt: updated},
		{ID: "3", Source: "crm", Name: "Bob", Phones: []events.Phone{{Raw: "+41 21 552 29 99"}}, UpdatedAt: updated},
	} {
		var err error
		if seq, err = contacts.Upsert(ctx, tenantID, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := proj.WaitApplied(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if n := len(finds(t, idx, erased)); n != 2 {
		t.Fatalf("before: %d contacts under the number, want 2", n)
	}

	// CALLS: a lookup of the number, and one of another number.
	for _, number := range []string{"41215522000", "41215522999"} {
		env1, err := events.New("l-"+number, events.TypeCallLookup, tenantID, "peoplefone", time.Now(), events.CallLookup{Dialect: "peoplefone", Number: number, Hits: 1})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(env1)
		if _, err := env.JS.Publish(ctx, topo.CallSubject(tenantID, "lookup"), b); err != nil {
			t.Fatal(err)
		}
	}
	// WORKFLOWS and a workflow result: a call from the number logged.
	disp := dispatch.New(env.JS, env.Buckets.WorkflowResults, topo)
	t.Cleanup(func() { _ = disp.Close() })
	key, err := disp.Submit(ctx, tenantID, "CallFlow", events.CallInput{CallID: "c1", OriginatorNumber: "0041215522000", DestinationNumber: "+41215550000", Direction: "incoming"}, false)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := disp.Submit(ctx, tenantID, "CallFlow", events.CallInput{CallID: "c2", OriginatorNumber: "+41215522999", DestinationNumber: "+41215550000", Direction: "incoming"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, otherKey} {
		b, _ := json.Marshal(events.WorkflowResult{Key: k, Tenant: tenantID, Workflow: "CallFlow", Status: "done", ID: "log-" + k, UpdatedAt: time.Now()})
		if _, err := env.Buckets.WorkflowResults.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	// DLQ: the dead letter of a request for the number.
	dl := nats.NewMsg(topo.DLQSubject(topo.WorkflowSubject(tenantID, "Ticket")))
	dl.Data = []byte(`{"id":"w9","type":"workflow.requested","tenant":"acme","time":"2026-01-05T10:00:00Z","schemaVersion":1,"data":{"workflow":"Ticket","input":{"originatorNumber":"41215522000"}}}`)
	if _, err := env.JS.PublishMsg(ctx, dl); err != nil {
		t.Fatal(err)
	}
	// App Connect's call logs: one names the number in its subject.
	_, callLogsKV, err := appconnect.EnsureBuckets(ctx, env.JS, topo, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.JS.DeleteKeyValue(context.Background(), callLogsKV.Bucket()) })
	callLogs := appconnect.NewKVCallLogs(callLogsKV)
	for session, subject := range map[string]string{"s1": "Inbound call from +41 21 552 20 00", "s2": "Inbound call from +41 21 552 29 99"} {
		if _, err := callLogs.Update(ctx, tenantID, session, func(cl *appconnect.CallLog, _ bool) error {
			cl.Subject, cl.Note = subject, "spoke about the invoice"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Caller risk: both numbers rang.
	riskStore, err := risk.NewMemory(risk.Window{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{erased, kept} {
		riskStore.Count(risk.Observation{Number: n, Tenant: "other", At: time.Now(), Call: true})
	}

	er, err := erasure.New(erasure.Deps{Index: idx, Contacts: contacts, Projection: proj, JS: env.JS, Topology: topo,
		Results: env.Buckets.WorkflowResults, CallLogs: callLogs, Risk: riskStore})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := er.Erase(ctx, tenantID, erased, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"contacts": 2, "calls": 1, "workflows": 1, "dlq": 1, "workflowResults": 1, "appConnectCallLogs": 1, "riskCounts": 1}
	for k, n := range want {
		if rep.Removed[k] != n {
			t.Errorf("removed %s = %d, want %d (report %+v)", k, rep.Removed[k], n, rep)
		}
	}
	if !rep.Indexed {
		t.Error("the index had not applied the erasure when Erase returned")
	}

	// No lookup finds it; the contacts are still there, without it.
	if m := finds(t, idx, erased); len(m) != 0 {
		t.Fatalf("a lookup still finds %v", m)
	}
	if m := finds(t, idx, kept); len(m) != 2 {
		t.Fatalf("the other number finds %d contacts, want 2 (Alexa kept it)", len(m))
	}
	// No stream holds it: neither events tail nor replay can show it.
	for _, s := range []string{events.StreamContacts, events.StreamCalls, events.StreamWorkflows, events.StreamDLQ} {
		if got := holding(t, env, topo.Stream(s)); len(got) != 0 {
			t.Errorf("%s still holds the number: %v", s, got)
		}
	}
	// A rebuild from CONTACTS does not bring it back.
	rebuilt, rproj := projected(t, ctx, env)
	testwait.Until(t, 10*time.Second, "the rebuilt index to catch up", rproj.CaughtUp)
	if m := finds(t, rebuilt, erased); len(m) != 0 {
		t.Fatalf("a rebuilt index finds %v", m)
	}
	if m := finds(t, rebuilt, kept); len(m) != 2 {
		t.Fatalf("a rebuilt index finds %d contacts under the other number, want 2", len(m))
	}
	// The workflow result and the call log are gone; the others remain.
	if _, err := env.Buckets.WorkflowResults.Get(ctx, key); err == nil {
		t.Error("the workflow result of the erased call remains")
	}
	if _, err := env.Buckets.WorkflowResults.Get(ctx, otherKey); err != nil {
		t.Errorf("another call's result: %v", err)
	}
	if _, err := callLogs.Get(ctx, tenantID, "s1"); err == nil {
		t.Error("the call log naming the number remains")
	}
	if _, err := callLogs.Get(ctx, tenantID, "s2"); err != nil {
		t.Errorf("another call log: %v", err)
	}
	// The risk counts are the number's no more; the other number's stay.
	for n, calls := range map[string]int{erased: 0, kept: 1} {
		if st, err := riskStore.Stats(ctx, n); err != nil || st.Calls != calls {
			t.Errorf("risk counts of %s: %+v, %v; want %d calls", n, st, err, calls)
		}
	}
	// The redacted contacts kept the CRM's UpdatedAt: an incremental sync
	// does not fetch them again.
	for _, m := range finds(t, idx, kept) {
		if !m.Contact.UpdatedAt.Equal(updated) {
			t.Errorf("contact %s: UpdatedAt %s, want the CRM's %s", m.Contact.ID, m.Contact.UpdatedAt, updated)
		}
	}

	// Again: nothing left to remove.
	again, err := er.Erase(ctx, tenantID, erased, opts)
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range again.Removed {
		if n != 0 {
			t.Errorf("second erasure removed %d %s", n, k)
		}
	}
}

// A lookup batch (one CALLS message of several callers' lookups) loses
// the number's lookups only: the others are stored again, on the same
// subject, and the original message is gone.
func TestEraseKeepsTheOtherLookupsOfABatch(t *testing.T) {
	env := natstest.Connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	idx, proj := projected(t, ctx, env)
	topo := env.Topology
	var lines [][]byte
	for i, number := range []string{"41215522999", "0041215522000", "41215523000", "021 552 20 00"} {
		ev, err := events.New(fmt.Sprint("l", i), events.TypeCallLookup, tenantID, "peoplefone", time.Now(), events.CallLookup{Dialect: "peoplefone", Number: number})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(ev)
		lines = append(lines, b)
	}
	subject := topo.CallSubject(tenantID, "lookup")
	if _, err := env.JS.Publish(ctx, subject, bytes.Join(lines, []byte{'\n'})); err != nil {
		t.Fatal(err)
	}
	er, err := erasure.New(erasure.Deps{Index: idx, Contacts: contact.NewPublisher(env.JS, topo), Projection: proj, JS: env.JS, Topology: topo,
		Results: env.Buckets.WorkflowResults})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := er.Erase(ctx, tenantID, erased, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed["calls"] != 1 {
		t.Errorf("removed %d CALLS messages, want the batch", rep.Removed["calls"])
	}
	if got := holding(t, env, topo.Stream(events.StreamCalls)); len(got) != 0 {
		t.Errorf("CALLS still holds the number: %v", got)
	}
	s, err := env.JS.Stream(ctx, topo.Stream(events.StreamCalls))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	envs, err := events.DecodeBatch(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range envs {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"l0", "l2"}) {
		t.Errorf("the batch kept %v, want [l0 l2]", ids)
	}
}
