// Package breaker is a small circuit breaker for CRM connectors: after a
// run of consecutive transient failures it opens for a cool-down, during
// which calls fail at once with a transient error carrying the remaining
// cool-down as Retry-After; then one probe call is let through (half-open)
// and its outcome closes or re-opens the breaker.
//
// Only transient failures count: a permanent failure (a 4xx, a bad input) is
// an answer from a working CRM, and a cancelled call says nothing about it.
package breaker
