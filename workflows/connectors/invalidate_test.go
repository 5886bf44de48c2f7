package connectors_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crm"
)

// gated holds each LogCall until release is closed.
type gated struct {
	started chan struct{}
	release chan struct{}
	closed  atomic.Bool
}

func (g *gated) LogCall(context.Context, crm.Call) (crm.Result, error) {
	g.started <- struct{}{}
	<-g.release
	return crm.Result{ID: "1"}, nil
}

func (g *gated) Close() error { g.closed.Store(true); return nil }

func TestInvalidateDrainsThenRebuilds(t *testing.T) {
	f, err := connectors.New(connectors.Config{Breaker: breaker.Config{Failures: 2, CoolDown: time.Minute}}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	built := map[string]*gated{}
	f.Register("gated", func(_ context.Context, opts map[string]any, _ connectors.Deps) (any, error) {
		g := &gated{started: make(chan struct{}, 1), release: make(chan struct{})}
		built[opts["version"].(string)] = g
		return g, nil
	})
	ctx := context.Background()
	def := func(v string) tenant.Connector {
		return tenant.Connector{Type: "gated", Options: map[string]any{"version": v}}
	}
	old, err := f.Connector(ctx, "acme", "crm", def("1"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := f.Connector(ctx, "globex", "crm", def("other"))

	inFlight := make(chan error, 1)
	go func() { _, err := old.Do(ctx, connectors.ActionLogCall, call); inFlight <- err }()
	<-built["1"].started
	f.Invalidate("acme")

	next, err := f.Connector(ctx, "acme", "crm", def("2"))
	if err != nil || next == old || built["2"] == nil {
		t.Fatalf("not rebuilt from the new definition: %v", err)
	}
	if built["1"].closed.Load() {
		t.Fatal("old instance closed with a call in flight")
	}
	close(built["1"].release)
	if err := <-inFlight; err != nil {
		t.Fatalf("call in flight failed: %v", err)
	}
	testwait.Until(t, 5*time.Second, "old instance closed", built["1"].closed.Load)
	if _, err := old.Do(ctx, connectors.ActionLogCall, call); !errors.Is(err, connectors.ErrReplaced) || crm.IsPermanent(err) {
		t.Fatalf("call on the replaced instance: %v", err)
	}
	if same, _ := f.Connector(ctx, "globex", "crm", def("other")); same != other || built["other"].closed.Load() {
		t.Fatal("another tenant's connector was dropped")
	}
}
