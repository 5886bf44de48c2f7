package appconnect_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
)

// dispatcherUnderTest is a Dispatcher with what the contract needs to see
// and steer of the worker behind it.
type dispatcherUnderTest struct {
	appconnect.Dispatcher
	// Executions counts how often the worker ran a key.
	Executions func(key string) int
	// SetSlow makes the worker take longer than any Wait of the contract.
	SetSlow func(slow bool)
	// SetDown makes Submit fail as when JetStream does not ack.
	SetDown                     func(down bool)
	ErrUnavailable, ErrNotFound error
}

// dispatcherContract is what the App Connect routes rely on from a
// Dispatcher. It runs against the fake here; the composition root can run
// it against workflows/dispatch with a worker.
func dispatcherContract(t *testing.T, d dispatcherUnderTest) {
	ctx := context.Background()
	in := events.CallInput{CallID: "contract-" + t.Name(), ContactCRMID: "c1", Note: "first"}

	t.Run("key is derived from tenant, workflow and call id", func(t *testing.T) {
		k := d.Key("acme", "CallLog", in)
		edited := in
		edited.Note = "edited note, same call"
		if d.Key("acme", "CallLog", edited) != k {
			t.Error("a note edit changed the key")
		}
		if d.Key("acme", "MessageLog", in) == k || d.Key("globex", "CallLog", in) == k {
			t.Error("workflow or tenant not in the key")
		}
	})

	t.Run("same key, one execution, same result", func(t *testing.T) {
		var wg sync.WaitGroup
		keys := make([]string, 8)
		for i := range keys {
			wg.Go(func() {
				k, err := d.Submit(ctx, "acme", "CallLog", in, false)
				if err != nil {
					t.Error(err)
				}
				keys[i] = k
			})
		}
		wg.Wait()
		for _, k := range keys {
			if k != keys[0] || k != d.Key("acme", "CallLog", in) {
				t.Fatalf("keys differ: %v", keys)
			}
		}
		first, err := d.Wait(ctx, keys[0], 5*time.Second)
		if err != nil || first.Status != events.StatusDone {
			t.Fatalf("wait: %+v %v", first, err)
		}
		again, err := d.Submit(ctx, "acme", "CallLog", in, false)
		if err != nil || again != keys[0] {
			t.Fatalf("resubmit: %s %v", again, err)
		}
		second, _ := d.Wait(ctx, again, time.Second)
		if second.ID != first.ID || second.Status != events.StatusDone {
			t.Errorf("resubmitted result %+v, first %+v", second, first)
		}
		if n := d.Executions(keys[0]); n != 1 {
			t.Errorf("executed %d times", n)
		}
	})

	t.Run("force runs again under a new key", func(t *testing.T) {
		k := d.Key("acme", "CallLog", in)
		forced, err := d.Submit(ctx, "acme", "CallLog", in, true)
		if err != nil || forced == k {
			t.Fatalf("forced key %q (natural %q): %v", forced, k, err)
		}
		if res, _ := d.Wait(ctx, forced, 5*time.Second); res.Status != events.StatusDone {
			t.Errorf("forced run: %+v", res)
		}
		if d.Executions(forced) != 1 {
			t.Error("forced run did not execute once")
		}
	})

	t.Run("wait is bounded", func(t *testing.T) {
		d.SetSlow(true)
		defer d.SetSlow(false)
		slow := events.CallInput{CallID: "slow-" + t.Name()}
		k, err := d.Submit(ctx, "acme", "CallLog", slow, false)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, _ := d.Wait(ctx, k, 50*time.Millisecond)
		if time.Since(start) > time.Second {
			t.Errorf("wait took %s", time.Since(start))
		}
		if res.Status != events.StatusAccepted && res.Status != events.StatusRunning {
			t.Errorf("status after a short wait: %q", res.Status)
		}
	})

	t.Run("unknown key", func(t *testing.T) {
		if _, err := d.Status(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, d.ErrNotFound) {
			t.Errorf("status of unknown key: %v", err)
		}
	})

	t.Run("unavailable stores nothing", func(t *testing.T) {
		d.SetDown(true)
		down := events.CallInput{CallID: "down-" + t.Name()}
		_, err := d.Submit(ctx, "acme", "CallLog", down, false)
		d.SetDown(false)
		if !errors.Is(err, d.ErrUnavailable) {
			t.Fatalf("submit while down: %v", err)
		}
		if _, err := d.Status(ctx, d.Key("acme", "CallLog", down)); !errors.Is(err, d.ErrNotFound) {
			t.Errorf("a refused request left a record: %v", err)
		}
	})
}

func TestFakeDispatcherContract(t *testing.T) {
	d := newFakeDispatcher()
	dispatcherContract(t, dispatcherUnderTest{
		Dispatcher: d,
		Executions: d.executions,
		SetSlow: func(slow bool) {
			if slow {
				d.delay.Store(int64(2 * time.Second))
			} else {
				d.delay.Store(0)
			}
		},
		SetDown:        d.down.Store,
		ErrUnavailable: appconnect.ErrUnavailable,
		ErrNotFound:    appconnect.ErrNotFound,
	})
}
