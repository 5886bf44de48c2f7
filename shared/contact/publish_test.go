package contact_test

import (
	"strings"
	"testing"

	"github.com/calldex/calldex/shared/contact"
)

// Event ids are 24 hex digits and never repeat within a process.
func TestNewIDIsUnique(t *testing.T) {
	seen := make(map[string]bool, 100_000)
	for range 100_000 {
		id := contact.NewID()
		if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q: want 24 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}
