package tenantstore

import (
	"errors"
	"strings"

	"github.com/calldex/calldex/shared/tenant"
)

// Errors of the Store.
var (
	// ErrNotFound: no tenant with that id in the bucket.
	ErrNotFound = errors.New("tenant not found")
	// ErrInvalid is wrapped by *InvalidError.
	ErrInvalid = errors.New("invalid tenant")
)

// InvalidError lists every problem of a tenant Put refused.
type InvalidError struct {
	ID       string
	Problems []tenant.Problem
}

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Path + ": " + p.Message
	}
	return "tenant " + e.ID + ": " + strings.Join(msgs, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }
