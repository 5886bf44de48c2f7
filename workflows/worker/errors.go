package worker

import "errors"

var (
	// ErrInvalidMessage: the message is not a workflow request this build
	// can run (bad envelope, wrong type, bad key). Dead-lettered.
	ErrInvalidMessage = errors.New("invalid workflow message")
	// ErrUnknownTarget: the tenant, workflow or connector is not
	// configured. Dead-lettered: replay it once the config has it.
	ErrUnknownTarget = errors.New("unknown tenant, workflow or connector")
	// ErrGaveUp: transient failures lasted past Retry.MaxAttempts or
	// Retry.MaxAge. Dead-lettered.
	ErrGaveUp = errors.New("gave up")
	// ErrLogNotDone: the workflow that logs the call a disposition is for
	// (events.CallInput.LogKey) has not finished (transient: the
	// disposition waits for it) or failed for good (dead-lettered).
	ErrLogNotDone = errors.New("the call's log workflow is not done")
	// errNotYet: a delivery came before the CRM's Retry-After; it is not an
	// attempt.
	errNotYet = errors.New("not before the CRM's retry-after")
	// errClaimed: another delivery of the same request is running it (a
	// redelivery after the consumer's leader moved); it is not an attempt.
	errClaimed = errors.New("another delivery runs this workflow")
)
