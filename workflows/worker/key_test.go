package worker_test

import (
	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/dispatch"
)

func dispatchKey(in events.CallInput) string { return dispatch.Key("acme", "CallFlow", in) }
