package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/testwait"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/dispatch/dispatchtest"
)

// counter is a CRM that logs calls, counting the executions of each key;
// while held, a call waits until released.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
	hold chan struct{}
}

func (c *counter) LogCall(ctx context.Context, call crm.Call) (crm.Result, error) {
	c.mu.Lock()
	c.runs[call.Key]++
	id, hold := fmt.Sprint(len(c.runs)), c.hold
	c.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return crm.Result{}, crm.Transient(ctx.Err())
		}
	}
	return crm.Result{ID: id}, nil
}

func (c *counter) executions(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[key]
}

func (c *counter) setHeld(held bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case held && c.hold == nil:
		c.hold = make(chan struct{})
	case !held && c.hold != nil:
		close(c.hold)
		c.hold = nil
	}
}

// TestDispatchConformance runs the dispatcher suite on the real
// dispatcher and worker, on a JetStream server the test can stop.
func TestDispatchConformance(t *testing.T) {
	srv := natstest.Embedded(t)
	h := newHarnessOn(t, srv.Connect(), tenant.Connector{Type: "counter"})
	c := &counter{runs: map[string]int{}}
	h.factory.Register("counter", func(context.Context, map[string]any, connectors.Deps) (any, error) { return c, nil })
	h.start(fastConfig())
	conn := h.env.Conn
	dispatchtest.Run(t, dispatchtest.Subject{
		Dispatcher: h.dispatch,
		Executions: c.executions,
		SetSlow:    c.setHeld,
		SetDown: func(down bool) {
			if down {
				srv.Stop()
				testwait.Until(t, 10*time.Second, "the client to notice the stop", func() bool { return conn.Status() != nats.CONNECTED })
				return
			}
			srv.Start()
			testwait.Until(t, 10*time.Second, "the client to reconnect", func() bool { return conn.Status() == nats.CONNECTED })
		},
		ErrUnavailable: dispatch.ErrUnavailable,
		ErrNotFound:    dispatch.ErrNotFound,
	})
}
