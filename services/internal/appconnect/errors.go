package appconnect

import "errors"

var (
	// ErrNoCallLog means no call log is stored for a session.
	ErrNoCallLog = errors.New("appconnect: no call log for this session")
	// ErrStore means a store (revocations, call logs) could not be read or
	// written; the request may be retried.
	ErrStore = errors.New("appconnect: store unavailable")
)
