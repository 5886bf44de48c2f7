package dispatchtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
)

// Tenant and Workflow name what the suite submits: the Subject's worker
// must run workflow Workflow of tenant Tenant.
const (
	Tenant   = "acme"
	Workflow = "CallLog"
)

// Dispatcher runs workflows durably (workflows/dispatch.Dispatcher).
type Dispatcher interface {
	Key(tenant, workflow string, in events.CallInput) string
	Submit(ctx context.Context, tenant, workflow string, in events.CallInput, force bool) (string, error)
	Wait(ctx context.Context, key string, d time.Duration) (events.WorkflowResult, error)
	Status(ctx context.Context, key string) (events.WorkflowResult, error)
}

// Subject is a Dispatcher with what the suite needs to see and steer of
// the worker behind it.
type Subject struct {
	Dispatcher Dispatcher
	// Executions counts how often the worker ran a key.
	Executions func(key string) int
	// SetSlow(true) makes the worker's runs last longer than a short Wait
	// (held until SetSlow(false), or a few seconds).
	SetSlow func(slow bool)
	// SetDown makes Submit fail as when JetStream does not ack, until
	// SetDown(false) returns with the dispatcher usable again.
	SetDown func(down bool)
	// ErrUnavailable and ErrNotFound are the sentinels the Dispatcher's
	// errors wrap.
	ErrUnavailable, ErrNotFound error
}

// Run runs the suite on s, one check after the other.
func Run(t *testing.T, s Subject) {
	ctx := context.Background()
	d := s.Dispatcher
	in := events.CallInput{CallID: "contract-" + t.Name(), ContactCRMID: "c1", Note: "first"}

	t.Run("key is derived from tenant, workflow and call id", func(t *testing.T) {
		k := d.Key(Tenant, Workflow, in)
		edited := in
		edited.Note = "edited note, same call"
		if d.Key(Tenant, Workflow, edited) != k {
			t.Error("a note edit changed the key")
		}
		if d.Key(Tenant, "MessageLog", in) == k || d.Key("globex", Workflow, in) == k {
			t.Error("workflow or tenant not in the key")
		}
	})

	t.Run("same key, one execution, same result", func(t *testing.T) {
		var wg sync.WaitGroup
		keys := make([]string, 8)
		for i := range keys {
			wg.Go(func() {
				k, err := d.Submit(ctx, Tenant, Workflow, in, false)
				if err != nil {
					t.Error(err)
				}
				keys[i] = k
			})
		}
		wg.Wait()
		for _, k := range keys {
			if k != keys[0] || k != d.Key(Tenant, Workflow, in) {
				t.Fatalf("keys differ: %v", keys)
			}
		}
		first, err := d.Wait(ctx, keys[0], 10*time.Second)
		if err != nil || first.Status != events.StatusDone || first.ID == "" {
			t.Fatalf("wait: %+v %v", first, err)
		}
		again, err := d.Submit(ctx, Tenant, Workflow, in, false)
		if err != nil || again != keys[0] {
			t.Fatalf("resubmit: %s %v", again, err)
		}
		second, _ := d.Wait(ctx, again, time.Second)
		if second.ID != first.ID || second.Status != events.StatusDone {
			t.Errorf("resubmitted result %+v, first %+v", second, first)
		}
		if n := s.Executions(keys[0]); n != 1 {
			t.Errorf("executed %d times", n)
		}
	})

	t.Run("force runs again under a new key", func(t *testing.T) {
		k := d.Key(Tenant, Workflow, in)
		forced, err := d.Submit(ctx, Tenant, Workflow, in, true)
		if err != nil || forced == k {
			t.Fatalf("forced key %q (natural %q): %v", forced, k, err)
		}
		if res, _ := d.Wait(ctx, forced, 10*time.Second); res.Status != events.StatusDone {
			t.Errorf("forced run: %+v", res)
		}
		if n := s.Executions(forced); n != 1 {
			t.Errorf("forced run executed %d times, want 1", n)
		}
	})

	t.Run("wait is bounded", func(t *testing.T) {
		s.SetSlow(true)
		defer s.SetSlow(false)
		slow := events.CallInput{CallID: "slow-" + t.Name()}
		k, err := d.Submit(ctx, Tenant, Workflow, slow, false)
		if err != nil {
			t.Fatal(err)
		}
		type waited struct {
			res events.WorkflowResult
			err error
		}
		done := make(chan waited, 1)
		go func() {
			res, err := d.Wait(ctx, k, 50*time.Millisecond)
			done <- waited{res, err}
		}()
		var res events.WorkflowResult
		select {
		case w := <-done:
			if w.err != nil {
				t.Fatal(w.err)
			}
			res = w.res
		case <-time.After(time.Minute):
			t.Fatal("Wait(50ms) has not returned while the run is held")
		}
		if res.Status != events.StatusAccepted && res.Status != events.StatusRunning {
			t.Errorf("status while the run is held: %q", res.Status)
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		if _, err := d.Status(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, s.ErrNotFound) {
			t.Errorf("status of unknown key: %v", err)
		}
	})

	t.Run("unavailable stores nothing", func(t *testing.T) {
		s.SetDown(true)
		down := events.CallInput{CallID: "down-" + t.Name()}
		_, err := d.Submit(ctx, Tenant, Workflow, down, false)
		s.SetDown(false)
		if !errors.Is(err, s.ErrUnavailable) {
			t.Fatalf("submit while down: %v", err)
		}
		if _, err := d.Status(ctx, d.Key(Tenant, Workflow, down)); !errors.Is(err, s.ErrNotFound) {
			t.Errorf("a refused request left a record: %v", err)
		}
	})
}
