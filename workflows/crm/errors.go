package crm

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Failure classes. Every error a connector returns wraps one of them, or is
// a *RetryAfterError (transient with a server-given delay).
var (
	// ErrTransient: retry later (5xx, 429, timeouts, connection errors, open
	// breaker). Errors from sending a request that got no answer are transient.
	ErrTransient = errors.New("transient CRM failure")
	// ErrPermanent: retrying cannot help (4xx other than 408/429, invalid input).
	ErrPermanent = errors.New("permanent CRM failure")
	// ErrNotSent marks a transient failure that never reached the CRM: a
	// rate limit of Calldex's own held the call back. It says nothing of
	// the CRM's health, so a circuit breaker does not count it.
	ErrNotSent = errors.New("call not sent")
	// ErrNoLogID: a disposition names no logged call (DispositionLogger).
	ErrNoLogID = errors.New("disposition without the logged call's CRM id")
)

// LogIDOf returns the CRM id of the logged call a disposition is for, or
// a permanent ErrNoLogID.
func LogIDOf(c Call) (string, error) {
	if id := strings.TrimSpace(c.Input.LogID); id != "" {
		return id, nil
	}
	return "", Permanent(fmt.Errorf("%w (call %s)", ErrNoLogID, c.Input.CallID))
}

// RetryAfterError is a transient failure for which the CRM said when to retry.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

// Unwrap lets errors.Is find ErrTransient and the cause.
func (e *RetryAfterError) Unwrap() []error { return []error{ErrTransient, e.Err} }

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Transient wraps err as a transient failure.
func Transient(err error) error { return fmt.Errorf("%w: %w", ErrTransient, err) }

// IsPermanent reports whether err should not be retried. Errors that are
// neither classified nor network errors count as transient: losing work to a
// bug in classification is worse than retrying it.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent) && !errors.Is(err, ErrTransient)
}

// RetryAfter returns the delay the CRM asked for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.After, true
	}
	return 0, false
}

// ClassifyStatus turns an HTTP status of a CRM answer into a failure class;
// nil for 2xx.
func ClassifyStatus(status int, retryAfter time.Duration, body string) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == 429 || status == 408 || status >= 500:
		err := fmt.Errorf("CRM answered %d: %s", status, truncate(body, 300))
		if retryAfter > 0 {
			return &RetryAfterError{After: retryAfter, Err: err}
		}
		return Transient(err)
	default:
		return Permanent(fmt.Errorf("CRM answered %d: %s", status, truncate(body, 300)))
	}
}

// ParseRetryAfter reads a Retry-After header: delta seconds or an HTTP date.
func ParseRetryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(h); err == nil {
		return max(time.Until(at), 0)
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
