package appconnect_test

import (
	"testing"
	"time"

	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/dispatch/dispatchtest"
)

// TestFakeDispatcherContract checks the fake as workflows/worker checks
// the real dispatcher and worker.
func TestFakeDispatcherContract(t *testing.T) {
	d := newFakeDispatcher()
	dispatchtest.Run(t, dispatchtest.Subject{
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
		ErrUnavailable: dispatch.ErrUnavailable,
		ErrNotFound:    dispatch.ErrNotFound,
	})
}
