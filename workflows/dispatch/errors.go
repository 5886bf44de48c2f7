package dispatch

import "errors"

var (
	// ErrUnavailable means the request was not stored by JetStream (NATS down,
	// no ack in time, stream full or missing): nothing was accepted, the
	// caller answers 503 and the client may retry with the same inputs.
	ErrUnavailable = errors.New("workflow queue unavailable")
	// ErrNotFound means no result is recorded under the key (or, from
	// StatusFor, not for this tenant).
	ErrNotFound = errors.New("workflow result not found")
	// ErrInvalid means the request can never be submitted (bad tenant id or
	// workflow name); it wraps events.ErrInvalid too.
	ErrInvalid = errors.New("invalid workflow request")
)
