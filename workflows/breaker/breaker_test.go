package breaker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/crm"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	transient = crm.Transient(errors.New("503"))
	permanent = crm.Permanent(errors.New("400"))
)

func TestBreakerOpensAndHalfOpens(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	b, err := breaker.New(breaker.Config{Failures: 3, CoolDown: 10 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := 0
	do := func(result error) error {
		return b.Do(ctx, func(context.Context) error { calls++; return result })
	}

	// Permanent failures and successes do not count, and a success resets.
	for _, e := range []error{transient, transient, permanent, nil, transient, transient} {
		_ = do(e)
	}
	if b.State() != breaker.Closed {
		t.Fatalf("state = %s after 2 consecutive transient failures, want closed", b.State())
	}
	_ = do(transient)
	if b.State() != breaker.Open {
		t.Fatalf("state = %s after 3, want open", b.State())
	}

	calls = 0
	err = do(nil)
	if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, crm.ErrTransient) || crm.IsPermanent(err) {
		t.Fatalf("call while open: %v, want transient ErrOpen", err)
	}
	if after, ok := crm.RetryAfter(err); !ok || after != 10*time.Second {
		t.Fatalf("retry after = %s, %v; want the cool-down", after, ok)
	}
	if calls != 0 {
		t.Fatalf("open breaker let %d calls through", calls)
	}

	clk.Advance(4 * time.Second)
	if after, _ := crm.RetryAfter(do(nil)); after != 6*time.Second {
		t.Fatalf("retry after = %s, want the remaining 6s", after)
	}

	// Half-open: one probe; others wait. A failed probe re-opens.
	clk.Advance(6 * time.Second)
	if b.State() != breaker.HalfOpen {
		t.Fatalf("state = %s after the cool-down, want half-open", b.State())
	}
	release, started := make(chan struct{}), make(chan struct{})
	probeDone := make(chan error)
	go func() {
		probeDone <- b.Do(ctx, func(context.Context) error { close(started); <-release; return transient })
	}()
	<-started
	calls = 0
	if err := do(nil); !errors.Is(err, breaker.ErrOpen) || calls != 0 {
		t.Fatalf("call during the probe: %v (%d calls), want ErrOpen", err, calls)
	}
	close(release)
	if err := <-probeDone; !errors.Is(err, transient) {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != breaker.Open {
		t.Fatalf("state = %s after a failed probe, want open", b.State())
	}

	// A successful probe closes.
	clk.Advance(10 * time.Second)
	calls = 0
	if err := do(nil); err != nil || calls != 1 {
		t.Fatalf("probe = %v with %d calls", err, calls)
	}
	if b.State() != breaker.Closed {
		t.Fatalf("state = %s after a good probe, want closed", b.State())
	}
}

func TestBreakerIgnoresCancellation(t *testing.T) {
	b, _ := breaker.New(breaker.Config{Failures: 1, CoolDown: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.Do(ctx, func(ctx context.Context) error { return ctx.Err() })
	if b.State() != breaker.Closed {
		t.Fatalf("state = %s after a cancelled call, want closed", b.State())
	}
	dctx, dcancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer dcancel()
	<-dctx.Done()
	_ = b.Do(dctx, func(ctx context.Context) error { return crm.Transient(ctx.Err()) })
	if b.State() != breaker.Open {
		t.Fatalf("state = %s after a timed-out call, want open", b.State())
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := breaker.Config{Failures: -1, CoolDown: -time.Second}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 2 {
		t.Fatalf("got %d errors, want both reported: %v", n, err)
	}
}

func TestPanickingProbeReopens(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	b, _ := breaker.New(breaker.Config{Failures: 1, CoolDown: time.Second, Now: clk.Now})
	ctx := context.Background()
	_ = b.Do(ctx, func(context.Context) error { return transient })
	clk.Advance(time.Second)
	func() {
		defer func() { _ = recover() }()
		_ = b.Do(ctx, func(context.Context) error { panic("bug") })
	}()
	if b.State() != breaker.Open {
		t.Fatalf("state = %s after a panicking probe, want open", b.State())
	}
	clk.Advance(time.Second)
	if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil || b.State() != breaker.Closed {
		t.Fatalf("next probe: %v, state %s", err, b.State())
	}
}
