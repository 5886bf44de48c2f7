package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/dispatch"
)

var call = events.CallInput{
	OriginatorNumber:  "41215522000",
	DestinationNumber: "41215522001",
	Direction:         "incoming",
	StartedTime:       "2025-01-02T10:00:00Z",
	AnsweredTime:      "2025-01-02T10:00:05Z",
	EndedTime:         "2025-01-02T10:01:05Z",
	ContactCRMID:      "c-42",
}

func TestKey(t *testing.T) {
	base := dispatch.Key("acme", "CallFlow", call)
	withNote := call
	withNote.Note = "edited later"
	otherTime := call
	otherTime.EndedTime = "2025-01-02T10:01:06Z"
	withID := call
	withID.CallID = "abc"
	withIDOther := otherTime
	withIDOther.CallID = "abc"
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"stable", base, dispatch.Key("acme", "CallFlow", call), true},
		{"free text does not identify a call", base, dispatch.Key("acme", "CallFlow", withNote), true},
		{"times do", base, dispatch.Key("acme", "CallFlow", otherTime), false},
		{"tenant does", base, dispatch.Key("other", "CallFlow", call), false},
		{"workflow does", base, dispatch.Key("acme", "Ticket", call), false},
		{"call id wins over inputs", dispatch.Key("acme", "CallFlow", withID), dispatch.Key("acme", "CallFlow", withIDOther), true},
		{"call id differs from inputs", base, dispatch.Key("acme", "CallFlow", withID), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.a == tt.b) != tt.same {
				t.Fatalf("keys %s and %s: same = %v, want %v", tt.a, tt.b, tt.a == tt.b, tt.same)
			}
			if !dispatch.ValidKey(tt.a) || !dispatch.ValidKey(tt.b) {
				t.Fatalf("key not valid: %s %s", tt.a, tt.b)
			}
		})
	}
	for _, bad := range []string{"", "ABCDEF0123456789abcdef0123456789", "x", base + "0", "../" + base[3:]} {
		if dispatch.ValidKey(bad) {
			t.Errorf("ValidKey(%q) = true", bad)
		}
	}
}

func TestSubmitPublishesOnceAndRecordsAccepted(t *testing.T) {
	env := natstest.Connect(t)
	ctx := context.Background()
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	t.Cleanup(func() { _ = d.Close() })

	key, err := d.Submit(ctx, "acme", "CallFlow", call, false)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if key != dispatch.Key("acme", "CallFlow", call) || key != d.Key("acme", "CallFlow", call) {
		t.Fatalf("key = %s, want the derived key", key)
	}
	again, err := d.Submit(ctx, "acme", "CallFlow", call, false)
	if err != nil || again != key {
		t.Fatalf("second submit = %s, %v; want %s", again, err, key)
	}

	s, err := env.JS.Stream(ctx, env.Topology.Stream(events.StreamWorkflows))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1 (deduplicated by Nats-Msg-Id)", info.State.Msgs)
	}
	raw, err := s.GetLastMsgForSubject(ctx, env.Topology.WorkflowSubject("acme", "CallFlow"))
	if err != nil {
		t.Fatalf("get msg: %v", err)
	}
	if got := raw.Header.Get(nats.MsgIdHdr); got != key {
		t.Fatalf("Nats-Msg-Id = %q, want %q", got, key)
	}
	e, err := events.Decode(raw.Data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var req events.WorkflowRequested
	if err := e.Payload(&req); err != nil {
		t.Fatalf("payload: %v", err)
	}
	if e.Type != events.TypeWorkflowRequested || e.Tenant != "acme" || req.Key != key || req.Workflow != "CallFlow" || !reflect.DeepEqual(req.Inputs, call) {
		t.Fatalf("published %+v / %+v", e, req)
	}

	r, err := d.Status(ctx, key)
	if err != nil || r.Status != events.StatusAccepted || r.Tenant != "acme" {
		t.Fatalf("status = %+v, %v; want accepted for acme", r, err)
	}
	if _, err := d.StatusFor(ctx, "other", key); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("StatusFor another tenant: %v, want ErrNotFound", err)
	}
	if _, err := d.Status(ctx, dispatch.Key("acme", "Nope", call)); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("unknown key: %v, want ErrNotFound", err)
	}

	forced, err := d.Submit(ctx, "acme", "CallFlow", call, true)
	if err != nil || forced == key || !dispatch.ValidKey(forced) {
		t.Fatalf("forced submit = %s, %v; want a new valid key", forced, err)
	}
}

func TestSubmitKeepsFinishedResult(t *testing.T) {
	env := natstest.Connect(t)
	ctx := context.Background()
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	key := dispatch.Key("acme", "CallFlow", call)
	put(t, env.Buckets.WorkflowResults, events.WorkflowResult{Key: key, Tenant: "acme", Status: events.StatusDone, ID: "7", URL: "https://crm/7"})
	if _, err := d.Submit(ctx, "acme", "CallFlow", call, false); err != nil {
		t.Fatalf("submit: %v", err)
	}
	r, err := d.Wait(ctx, key, time.Second)
	if err != nil || r.Status != events.StatusDone || r.ID != "7" {
		t.Fatalf("wait = %+v, %v; want the done result kept", r, err)
	}
}

func TestSubmitRejectsInvalid(t *testing.T) {
	env := natstest.Connect(t)
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	for _, tc := range []struct{ tenant, workflow string }{{"*", "CallFlow"}, {"Acme", "CallFlow"}, {"acme", ""}} {
		_, err := d.Submit(context.Background(), tc.tenant, tc.workflow, call, false)
		if !errors.Is(err, dispatch.ErrInvalid) || errors.Is(err, dispatch.ErrUnavailable) {
			t.Errorf("submit %q/%q: %v, want ErrInvalid", tc.tenant, tc.workflow, err)
		}
	}
}

func TestWaitFollowsTheBucket(t *testing.T) {
	env := natstest.Connect(t)
	ctx := context.Background()
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	t.Cleanup(func() { _ = d.Close() })
	key, err := d.Submit(ctx, "acme", "CallFlow", call, false)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}

	// Still running at the deadline: the latest record comes back.
	put(t, env.Buckets.WorkflowResults, events.WorkflowResult{Key: key, Tenant: "acme", Status: events.StatusRunning, Attempts: 1, LastError: "boom"})
	start := time.Now()
	r, err := d.Wait(ctx, key, 200*time.Millisecond)
	if err != nil || r.Status != events.StatusRunning || r.Attempts != 1 {
		t.Fatalf("wait = %+v, %v; want running", r, err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("wait returned after %s, before its deadline", time.Since(start))
	}

	// Done while waiting: the wait ends at once.
	go func() {
		time.Sleep(100 * time.Millisecond) // the writer is another process; any delay will do
		put(t, env.Buckets.WorkflowResults, events.WorkflowResult{Key: key, Tenant: "acme", Status: events.StatusDone, ID: "9", URL: "https://crm/9"})
	}()
	start = time.Now()
	r, err = d.Wait(ctx, key, 10*time.Second)
	if err != nil || r.Status != events.StatusDone || r.ID != "9" || r.URL != "https://crm/9" {
		t.Fatalf("wait = %+v, %v; want done", r, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("wait took %s: the watch did not deliver the update", time.Since(start))
	}

	if _, err := d.Wait(ctx, dispatch.Key("acme", "Nope", call), 50*time.Millisecond); !errors.Is(err, dispatch.ErrNotFound) {
		t.Fatalf("wait for unknown key: %v, want ErrNotFound", err)
	}
}

func TestSubmitUnavailableWhileNATSIsDown(t *testing.T) {
	srv := natstest.Embedded(t)
	env := srv.Connect()
	ctx := context.Background()
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	t.Cleanup(func() { _ = d.Close() })
	if _, err := d.Submit(ctx, "acme", "CallFlow", call, false); err != nil {
		t.Fatalf("submit: %v", err)
	}

	srv.Stop()
	// The client learns of the stop from the closed socket; a publish in
	// that instant is bounded by the publish timeout instead.
	testwait.Until(t, 5*time.Second, "client notices the stop", func() bool { return env.Conn.Status() != nats.CONNECTED })
	start := time.Now()
	other := call
	other.CallID = "while-down"
	_, err := d.Submit(ctx, "acme", "CallFlow", other, false)
	if !errors.Is(err, dispatch.ErrUnavailable) {
		t.Fatalf("submit with NATS down: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("submit with NATS down took %s, want a quick failure", took)
	}

	srv.Start()
	testwait.Until(t, 10*time.Second, "client reconnects", func() bool { return env.Conn.Status() == nats.CONNECTED })
	var key string
	testwait.Until(t, 10*time.Second, "submit succeeds after restart", func() bool {
		key, err = d.Submit(ctx, "acme", "CallFlow", other, false)
		return err == nil
	})
	if r, err := d.Status(ctx, key); err != nil || r.Status != events.StatusAccepted {
		t.Fatalf("status after restart = %+v, %v", r, err)
	}
}

func put(t *testing.T, kv jetstream.KeyValue, r events.WorkflowResult) {
	t.Helper()
	b, _ := json.Marshal(r)
	if _, err := kv.Put(context.Background(), r.Key, b); err != nil {
		t.Errorf("put: %v", err)
	}
}

func TestConcurrentWaitsShareOneWatch(t *testing.T) {
	env := natstest.Connect(t)
	ctx := context.Background()
	d := dispatch.New(env.JS, env.Buckets.WorkflowResults, env.Topology)
	t.Cleanup(func() { _ = d.Close() })

	const n = 40
	keys := make(chan string, n)
	// A stand-in worker: marks every submitted key done.
	go func() {
		for key := range keys {
			b, _ := json.Marshal(events.WorkflowResult{Key: key, Tenant: "acme", Status: events.StatusDone, ID: key[:6]})
			_, _ = env.Buckets.WorkflowResults.Put(ctx, key, b)
		}
	}()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			in := call
			in.CallID = "concurrent-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			key, err := d.Submit(ctx, "acme", "CallFlow", in, false)
			if err != nil {
				errs <- err
				return
			}
			keys <- key
			r, err := d.Wait(ctx, key, 10*time.Second)
			if err == nil && (r.Status != events.StatusDone || r.ID != key[:6]) {
				err = errors.New("wrong result " + r.Status + " " + r.ID)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(keys)
}
