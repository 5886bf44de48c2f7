package appconnect

import "errors"

var (
	// ErrUnavailable is the default sentinel a Dispatcher's errors wrap when
	// nothing was stored (see Deps.ErrUnavailable).
	ErrUnavailable = errors.New("appconnect: workflow queue unavailable")
	// ErrNotFound is the default sentinel a Dispatcher's errors wrap when no
	// result is recorded under a key (see Deps.ErrNotFound).
	ErrNotFound = errors.New("appconnect: workflow result not found")
	// ErrNoCallLog means no call log is stored for a session.
	ErrNoCallLog = errors.New("appconnect: no call log for this session")
	// ErrStore means a store (revocations, call logs) could not be read or
	// written; the request may be retried.
	ErrStore = errors.New("appconnect: store unavailable")
)
