package crmsync

import "errors"

// Errors of the Syncer and Requests.
var (
	// ErrUnknownSource: no connector of that name syncs for that tenant.
	ErrUnknownSource = errors.New("unknown sync source")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("syncer already running")
	// errLeaseLost: another replica took the lease while a run was going on
	// (its cursor write was refused by compare-and-set).
	errLeaseLost = errors.New("sync lease lost")
)
