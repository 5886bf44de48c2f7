package events

import "errors"

// ErrInvalid marks an event or name that can never be processed: retrying it
// cannot help, so consumers dead-letter it.
var ErrInvalid = errors.New("invalid event")
