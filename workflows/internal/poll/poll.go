// Package poll waits in tests for a condition, instead of sleeping.
package poll

import (
	"testing"
	"time"
)

// Until calls cond every few milliseconds until it returns true, and fails
// the test with msg after timeout.
func Until(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
