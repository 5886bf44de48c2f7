package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/sqlcrm"
	"github.com/calldex/calldex/workflows/sqlcrm/sqltest"
	"github.com/calldex/calldex/workflows/worker"
)

var flow = events.CallInput{
	ContactCRMID:      "c-42",
	UserCRMID:         "u-7",
	OriginatorNumber:  "41215522000",
	OriginatorName:    "Ada Lovelace",
	DestinationNumber: "41215522001",
	Direction:         "incoming",
	StartedTime:       "2025-01-02T10:00:00Z",
	AnsweredTime:      "2025-01-02T10:00:05Z",
	EndedTime:         "2025-01-02T10:01:35Z",
}

func sqlConnector(db sqltest.DB) tenant.Connector {
	return tenant.Connector{Type: "sql", Options: map[string]any{
		"driver": db.Driver, "dsn": db.DSN, "tablePrefix": db.Prefix, "urlTemplate": "https://crm.example.com/calls/{id}",
	}}
}

func ph(db sqltest.DB) string {
	if db.Driver == "postgres" {
		return "$1"
	}
	return "?"
}

func TestCallFlowLogsOneRow(t *testing.T) {
	for _, b := range sqltest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			db := b.Open(t)
			h := newHarness(t, sqlConnector(db))
			h.start(fastConfig())

			key, r := h.submitAndWait("CallFlow", flow)
			if r.Status != events.StatusDone || r.ID == "" || r.URL != "https://crm.example.com/calls/"+r.ID || r.Attempts != 1 || r.Tenant != "acme" {
				t.Fatalf("result = %+v", r)
			}
			// The same request again: the same outcome, no second row.
			again, r2 := h.submitAndWait("CallFlow", flow)
			if again != key || r2.ID != r.ID {
				t.Fatalf("second request: %s %+v; want %s %+v", again, r2, key, r)
			}
			var n, duration int
			var direction, number, contact string
			err := db.SQL.QueryRow("SELECT COUNT(*), MAX(direction), MAX(originator_number), MAX(contact_crm_id), MAX(duration_seconds) FROM "+
				db.Prefix+"call_logs WHERE idempotency_key = "+ph(db), key).Scan(&n, &direction, &number, &contact, &duration)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || direction != "incoming" || number != "41215522000" || contact != "c-42" || duration != 90 {
				t.Fatalf("rows %d: %s %s %s %d", n, direction, number, contact, duration)
			}
		})
	}
}

// TestDispositionWaitsForItsCallLog: a disposition sent before its call
// is logged (it names the call log's key, not its CRM id) waits for the
// call log, then updates that very row.
func TestDispositionWaitsForItsCallLog(t *testing.T) {
	db := sqltest.Backends()[0].Open(t)
	h := newHarness(t, sqlConnector(db))
	h.start(fastConfig())
	ctx := context.Background()

	logKey := dispatch.Key("acme", "CallLog", flow)
	disp := events.CallInput{CallID: "s-1", LogKey: logKey, Dispositions: map[string]string{"outcome": "Qualified lead"}}
	dispKey, err := h.dispatch.Submit(ctx, "acme", "CallDisposition", disp, false)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "the disposition waits for its call log", func() bool {
		r, err := h.dispatch.Status(ctx, dispKey)
		return err == nil && strings.Contains(r.LastError, worker.ErrLogNotDone.Error())
	})
	_, logged := h.submitAndWait("CallLog", flow)
	if logged.Status != events.StatusDone {
		t.Fatalf("call log %+v", logged)
	}
	r := h.waitFinal(dispKey)
	if r.Status != events.StatusDone || r.ID != logged.ID {
		t.Fatalf("disposition %+v, want done on call log %s", r, logged.ID)
	}
	var got string
	if err := db.SQL.QueryRow("SELECT disposition FROM "+db.Prefix+"call_logs WHERE idempotency_key = "+ph(db), logKey).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != `{"outcome":"Qualified lead"}` {
		t.Fatalf("disposition column %q", got)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	fake := newFakeCRM(t, reply{status: 500}, reply{status: 500})
	h := newHarness(t, fake.connector())
	h.start(fastConfig())

	key, r := h.submitAndWait("CallFlow", flow)
	if r.Status != events.StatusDone || r.ID != "crm-3" || r.Attempts != 3 || r.LastError != "" {
		t.Fatalf("result = %+v, want done by the third attempt", r)
	}
	h.consumerSettled(1)
	if got := fake.requests(); len(got) != 3 {
		t.Fatalf("CRM got %d requests, want 3 (one effect)", len(got))
	}
	for _, k := range fake.keys {
		if k != key {
			t.Fatalf("Idempotency-Key %q, want %q", k, key)
		}
	}
}

func TestPermanentFailureIsDeadLettered(t *testing.T) {
	t.Parallel()
	fake := newFakeCRM(t, reply{status: 400})
	h := newHarness(t, fake.connector())
	h.start(fastConfig())

	key, r := h.submitAndWait("CallFlow", flow)
	if r.Status != events.StatusFailed || r.Attempts != 1 || !strings.Contains(r.LastError, "400") {
		t.Fatalf("result = %+v, want failed after one attempt", r)
	}
	subject := h.env.Topology.WorkflowSubject("acme", "CallFlow")
	dl := h.deadLetter(subject)
	if got := dl.Header.Get(worker.HeaderDLQAttempts); got != "1" {
		t.Errorf("attempts header %q, want 1", got)
	}
	if got := dl.Header.Get(worker.HeaderDLQReason); !strings.Contains(got, "CRM answered 400") {
		t.Errorf("reason header %q", got)
	}
	if dl.Header.Get(worker.HeaderDLQSubject) != subject || dl.Header.Get(worker.HeaderDLQMsgID) != key {
		t.Errorf("headers %v", dl.Header)
	}
	s, _ := h.env.JS.Stream(context.Background(), h.env.Topology.Stream(events.StreamWorkflows))
	orig, err := s.GetMsg(context.Background(), seqOf(t, h, subject))
	if err != nil || !bytes.Equal(orig.Data, dl.Data) {
		t.Fatalf("dead letter payload differs from the original (%v)", err)
	}
	info := h.consumerSettled(1)
	if info.NumRedelivered != 0 || len(fake.requests()) != 1 {
		t.Fatalf("retried: %d redelivered, %d CRM requests", info.NumRedelivered, len(fake.requests()))
	}
}

func TestRetryAfterIsAMinimum(t *testing.T) {
	t.Parallel()
	fake := newFakeCRM(t, reply{status: 429, retryAfter: "2"})
	h := newHarness(t, fake.connector())
	h.start(fastConfig())

	_, r := h.submitAndWait("CallFlow", flow)
	if r.Status != events.StatusDone || r.Attempts != 2 {
		t.Fatalf("result = %+v, want done by the second attempt", r)
	}
	got := fake.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	if gap := got[1].Sub(got[0]); gap < 2*time.Second {
		t.Fatalf("second attempt %s after the 429, want at least the 2s of Retry-After", gap)
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	var script []reply
	for range 10 {
		script = append(script, reply{status: 503})
	}
	fake := newFakeCRM(t, script...)
	h := newHarness(t, fake.connector())
	cfg := fastConfig()
	cfg.Retry.MaxAttempts = 4
	h.start(cfg)

	_, r := h.submitAndWait("CallFlow", flow)
	if r.Status != events.StatusFailed || !strings.Contains(r.LastError, "gave up after 4 attempts") {
		t.Fatalf("result = %+v", r)
	}
	dl := h.deadLetter(h.env.Topology.WorkflowSubject("acme", "CallFlow"))
	if dl.Header.Get(worker.HeaderDLQAttempts) != "4" || !strings.Contains(dl.Header.Get(worker.HeaderDLQReason), "gave up after 4 attempts") {
		t.Fatalf("dead letter headers %v", dl.Header)
	}
	if n := len(fake.requests()); n != 4 {
		t.Fatalf("%d CRM requests, want 4", n)
	}
}

func TestDoneResultIsNotRepeated(t *testing.T) {
	t.Parallel()
	fake := newFakeCRM(t)
	h := newHarness(t, fake.connector())
	in := flow
	in.CallID = "already-done"
	key := dispatchKey(in)
	b, _ := json.Marshal(events.WorkflowResult{Key: key, Tenant: "acme", Workflow: "CallFlow", Status: events.StatusDone, ID: "old", Attempts: 1})
	if _, err := h.env.Buckets.WorkflowResults.Put(context.Background(), key, b); err != nil {
		t.Fatal(err)
	}
	h.start(fastConfig())
	_, r := h.submitAndWait("CallFlow", in)
	h.consumerSettled(1)
	if r.ID != "old" || len(fake.requests()) != 0 {
		t.Fatalf("result %+v after %d CRM requests; want the stored one and none", r, len(fake.requests()))
	}
}

func TestInvalidMessagesAreDeadLettered(t *testing.T) {
	t.Parallel()
	fake := newFakeCRM(t)
	h := newHarness(t, fake.connector())
	h.start(fastConfig())
	ctx := context.Background()

	garbage := h.env.Topology.WorkflowSubject("acme", "CallFlow")
	if _, err := h.env.JS.Publish(ctx, garbage, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	dl := h.deadLetter(garbage)
	if !strings.Contains(dl.Header.Get(worker.HeaderDLQReason), "invalid workflow message") || string(dl.Data) != "not json" {
		t.Fatalf("garbage dead letter: %v %q", dl.Header, dl.Data)
	}

	// Unknown workflow: a valid request the config cannot run.
	key, err := h.dispatch.Submit(ctx, "acme", "Nope", flow, false)
	if err != nil {
		t.Fatal(err)
	}
	r := h.waitFinal(key)
	if r.Status != events.StatusFailed || !strings.Contains(r.LastError, "unknown tenant, workflow or connector") {
		t.Fatalf("unknown workflow: %+v", r)
	}
	h.deadLetter(h.env.Topology.WorkflowSubject("acme", "Nope"))

	// Unknown tenant.
	key, err = h.dispatch.Submit(ctx, "ghost", "CallFlow", flow, false)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.waitFinal(key); r.Status != events.StatusFailed || r.Tenant != "ghost" {
		t.Fatalf("unknown tenant: %+v", r)
	}
	h.consumerSettled(3)
	if len(fake.requests()) != 0 {
		t.Fatalf("CRM called for invalid messages")
	}
}

// crashing wraps the SQL connector: the first LogCall makes its effect,
// then "crashes" the worker (stops it and never returns, so nothing is
// recorded or acked).
type crashing struct {
	*sqlcrm.Store
	crashed  atomic.Bool
	crash    func()
	release  chan struct{}
	firstRes atomic.Value // crm.Result of the effect made before the crash
}

func (c *crashing) LogCall(ctx context.Context, call crm.Call) (crm.Result, error) {
	res, err := c.Store.LogCall(ctx, call)
	if err == nil && !c.crashed.Load() {
		c.firstRes.Store(res)
		c.crashed.Store(true)
		go c.crash()
		<-c.release
		return crm.Result{}, errors.New("crashed")
	}
	return res, err
}

func TestRedeliveryAfterCrashIsOneRow(t *testing.T) {
	t.Parallel()
	db := sqltest.SQLite(t)
	h := newHarness(t, tenant.Connector{Type: "crashing"})
	crash := &crashing{release: make(chan struct{})}
	t.Cleanup(func() { close(crash.release) })
	var once sync.Once
	h.factory.Register("crashing", func(ctx context.Context, _ map[string]any, _ connectors.Deps) (any, error) {
		var err error
		once.Do(func() {
			crash.Store, err = sqlcrm.Open(ctx, sqlcrm.Config{Driver: db.Driver, DSN: db.DSN, TablePrefix: db.Prefix})
		})
		return crash, err
	})

	stop1 := h.start(fastConfig())
	crash.crash = stop1
	key, err := h.dispatch.Submit(context.Background(), "acme", "CallFlow", flow, false)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "first worker makes the effect and crashes", crash.crashed.Load)
	stop1()
	if r, _ := h.dispatch.Status(context.Background(), key); r.Status == events.StatusDone {
		t.Fatalf("the crashed worker recorded a result: %+v", r)
	}

	h.start(fastConfig())
	r := h.waitFinal(key)
	first := crash.firstRes.Load().(crm.Result)
	if r.Status != events.StatusDone || r.ID != first.ID {
		t.Fatalf("result %+v, want done with the first effect's id %s", r, first.ID)
	}
	var n int
	if err := db.SQL.QueryRow("SELECT COUNT(*) FROM " + db.Prefix + "call_logs").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want 1", n, err)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := worker.Config{AckWait: time.Second, AttemptTimeout: time.Second, Retry: worker.RetryConfig{Jitter: 2, MaxAge: 90 * 24 * time.Hour}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"attemptTimeout", "jitter", "maxAge"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	ok := worker.Config{}
	if err := ok.Validate(); err != nil || ok.Durable != worker.DefaultDurable || ok.Retry.MaxAge != 24*time.Hour {
		t.Fatalf("defaults: %v %+v", err, ok)
	}
}

func TestWorkerSurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	srv := natstest.Embedded(t)
	fake := newFakeCRM(t)
	h := newHarnessOn(t, srv.Connect(), fake.connector())
	h.start(fastConfig())
	ctx := context.Background()

	if _, r := h.submitAndWait("CallFlow", flow); r.Status != events.StatusDone {
		t.Fatalf("before restart: %+v", r)
	}
	srv.Stop()
	testwait.Until(t, 5*time.Second, "client notices the stop", func() bool { return h.env.Conn.Status() != nats.CONNECTED })
	in := flow
	in.CallID = "during-outage"
	if _, err := h.dispatch.Submit(ctx, "acme", "CallFlow", in, false); !errors.Is(err, dispatch.ErrUnavailable) {
		t.Fatalf("submit while NATS is down: %v, want ErrUnavailable", err)
	}
	srv.Start()
	var key string
	testwait.Until(t, 15*time.Second, "submit succeeds after the restart", func() bool {
		var err error
		key, err = h.dispatch.Submit(ctx, "acme", "CallFlow", in, false)
		return err == nil
	})
	if r := h.waitFinal(key); r.Status != events.StatusDone {
		t.Fatalf("after restart: %+v", r)
	}
	if n := len(fake.requests()); n != 2 {
		t.Fatalf("%d CRM requests, want 2", n)
	}
}

// panicky panics on its first call: a bug must cost a retry, not the work.
type panicky struct{ calls atomic.Int32 }

func (p *panicky) LogCall(context.Context, crm.Call) (crm.Result, error) {
	if p.calls.Add(1) == 1 {
		panic("connector bug")
	}
	return crm.Result{ID: "after-panic"}, nil
}

func TestPanicIsRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, tenant.Connector{Type: "panicky"})
	p := &panicky{}
	h.factory.Register("panicky", func(context.Context, map[string]any, connectors.Deps) (any, error) { return p, nil })
	h.start(fastConfig())
	_, r := h.submitAndWait("CallFlow", flow)
	if r.Status != events.StatusDone || r.ID != "after-panic" || p.calls.Load() != 2 {
		t.Fatalf("result %+v after %d calls", r, p.calls.Load())
	}
}
