package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/worker"
)

// deadLetterOf stores a dead letter as the worker writes one: the original
// request unchanged, with the worker's headers.
func deadLetterOf(t *testing.T, env *natstest.Env, tenant, workflow string, origSeq int, reason string) uint64 {
	t.Helper()
	key := fmt.Sprintf("%032x", origSeq)
	e, err := events.New(key, events.TypeWorkflowRequested, tenant, "", time.Now(), events.WorkflowRequested{Key: key, Workflow: workflow})
	if err != nil {
		t.Fatal(err)
	}
	orig := env.Topology.WorkflowSubject(tenant, workflow)
	m := nats.NewMsg(env.Topology.DLQSubject(orig))
	m.Data, _ = json.Marshal(e)
	m.Header.Set("Calldex-Correlation-Id", key)
	m.Header.Set(worker.HeaderDLQReason, reason)
	m.Header.Set(worker.HeaderDLQAttempts, "7")
	m.Header.Set(worker.HeaderDLQSubject, orig)
	m.Header.Set(worker.HeaderDLQMsgID, key)
	m.Header.Set(worker.HeaderDLQSeq, strconv.Itoa(origSeq))
	m.Header.Set(worker.HeaderDLQTime, time.Now().UTC().Format(time.RFC3339Nano))
	ack, err := env.JS.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func streamMsgs(t *testing.T, env *natstest.Env, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := env.JS.Stream(ctx, env.Topology.Stream(name))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

func TestDLQ(t *testing.T) {
	env := natstest.Connect(t)
	for i := range 3 {
		deadLetterOf(t, env, "acme", "CallFlow", 10+i, fmt.Sprintf("crm: 422 Unprocessable Entity (%d)", i))
	}
	beta := deadLetterOf(t, env, "beta", "Ticket", 20, "unknown tenant, workflow or connector: tenant \"beta\"")
	c := newCLI(t, env)

	var ls struct{ DeadLetters []deadLetter }
	c.json(&ls, "dlq", "ls")
	if len(ls.DeadLetters) != 4 {
		t.Fatalf("ls: %+v", ls)
	}
	d := ls.DeadLetters[3]
	if d.ID != beta || d.Subject != env.Topology.WorkflowSubject("beta", "Ticket") || d.Attempts != 7 ||
		!strings.Contains(d.Reason, "unknown tenant") || d.OriginalSeq != 20 || d.Tenant != "beta" || d.Key == "" {
		t.Fatalf("dead letter %+v", d)
	}
	c.json(&ls, "dlq", "ls", "--filter", "workflows.acme.>")
	if len(ls.DeadLetters) != 3 {
		t.Fatalf("ls --filter: %d", len(ls.DeadLetters))
	}
	if out := c.ok("dlq", "ls"); !strings.Contains(out, "422 Unprocessable") || !strings.Contains(out, "4 dead letter(s)") {
		t.Fatalf("human ls:\n%s", out)
	}
	var shown deadLetter
	c.json(&shown, "dlq", "show", "1")
	if shown.Headers[worker.HeaderDLQReason] == "" || shown.Status != "none" || !json.Valid(shown.Event) {
		t.Fatalf("show: %+v", shown)
	}
	if r := c.run("dlq", "show", "99"); r.code != exitFailed {
		t.Fatalf("show 99: exit %d", r.code)
	}

	// Redrive one: back on its subject, with its data and headers, out of the DLQ.
	var rep redriveReport
	start := time.Now()
	c.json(&rep, "dlq", "redrive", "2")
	t.Logf("redrive 2 took %s", time.Since(start))
	if len(rep.Redriven) != 1 || rep.Redriven[0].ID != 2 || rep.Left != 0 {
		t.Fatalf("redrive 2: %+v", rep)
	}
	wf := streamMsgs(t, env, events.StreamWorkflows)
	if len(wf) != 1 || wf[0].Subject != env.Topology.WorkflowSubject("acme", "CallFlow") ||
		wf[0].Header.Get(HeaderRedriveOf) != env.Topology.Stream(events.StreamDLQ)+":2" ||
		wf[0].Header.Get(worker.HeaderDLQReason) != "" || wf[0].Header.Get("Calldex-Correlation-Id") == "" {
		t.Fatalf("redriven message: %+v", wf)
	}
	rep = redriveReport{}
	start = time.Now()
	c.json(&rep, "dlq", "redrive", "--filter", "workflows.beta.>")
	t.Logf("redrive --filter took %s", time.Since(start))
	if len(rep.Redriven) != 1 || rep.Redriven[0].ID != beta {
		t.Fatalf("redrive --filter: %+v", rep)
	}
	if r := c.run("dlq", "redrive"); r.code != exitUsage {
		t.Fatalf("redrive without selection: exit %d", r.code)
	}

	// Purge asks; without a terminal it wants --yes.
	if r := c.run("dlq", "purge"); r.code != exitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("purge without --yes: exit %d %s", r.code, r.stderr)
	}
	var purged struct{ Purged int }
	c.json(&purged, "dlq", "purge", "--yes")
	if purged.Purged != 2 {
		t.Fatalf("purged %d", purged.Purged)
	}
	if out := c.ok("dlq", "ls"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("after purge: %s", out)
	}
}

// TestRedriveLosslessWhenNATSFails stops NATS in the middle of a redrive:
// every dead letter is then still in the DLQ or republished, and a second
// redrive finishes the job without duplicating the one caught in between.
func TestRedriveLosslessWhenNATSFails(t *testing.T) {
	srv := natstest.Embedded(t)
	env := srv.Connect()
	const n = 8
	for i := range n {
		deadLetterOf(t, env, "acme", "CallFlow", 100+i, "gave up after 12 attempts: crm: 503")
	}
	c := newCLI(t, env)
	published := 0
	testHookRedrivePublished = func(id uint64) {
		if published++; published == 4 {
			srv.Stop() // after the 4th republish was acked, before its delete
		}
	}
	t.Cleanup(func() { testHookRedrivePublished = nil })
	r := c.run("dlq", "redrive", "--all", "--json")
	testHookRedrivePublished = nil
	if r.code != exitFailed {
		t.Fatalf("redrive with NATS stopping: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var rep redriveReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if len(rep.Redriven) != 3 || rep.Failed == nil || rep.Failed.ID != 4 || rep.Failed.Stage != "delete" || rep.Left != n-3 {
		t.Fatalf("report %+v (failed %+v)", rep, rep.Failed)
	}

	srv.Start()
	testwait.Until(t, 10*time.Second, "reconnect", func() bool { return env.Conn.Status() == nats.CONNECTED })
	check := func() (inDLQ, republished map[uint64]bool) {
		inDLQ, republished = map[uint64]bool{}, map[uint64]bool{}
		for _, m := range streamMsgs(t, env, events.StreamDLQ) {
			inDLQ[m.Sequence] = true
		}
		for _, m := range streamMsgs(t, env, events.StreamWorkflows) {
			id, _ := strconv.ParseUint(strings.TrimPrefix(m.Header.Get(HeaderRedriveOf), env.Topology.Stream(events.StreamDLQ)+":"), 10, 64)
			if republished[id] {
				t.Errorf("dead letter %d republished twice", id)
			}
			republished[id] = true
		}
		return inDLQ, republished
	}
	inDLQ, republished := check()
	for id := uint64(1); id <= n; id++ {
		if !inDLQ[id] && !republished[id] {
			t.Errorf("dead letter %d lost: neither in the DLQ nor republished", id)
		}
	}
	if len(republished) != 4 || !inDLQ[4] || inDLQ[3] {
		t.Fatalf("after the failure: republished %v, in DLQ %v", republished, inDLQ)
	}

	rep = redriveReport{}
	c.json(&rep, "dlq", "redrive", "--all")
	if len(rep.Redriven) != n-3 || rep.Failed != nil {
		t.Fatalf("second redrive: %+v", rep)
	}
	inDLQ, republished = check()
	if len(inDLQ) != 0 || len(republished) != n {
		t.Fatalf("after the second redrive: in DLQ %v, republished %v", inDLQ, republished)
	}
}
