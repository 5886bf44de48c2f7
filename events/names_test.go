package events_test

import (
	"errors"
	"testing"

	"github.com/calldex/calldex/events"
)

// TestValidPrefix is the one rule of CALLDEX_STREAM_PREFIX: what NATS
// takes in a stream name, a bucket name and a subject token alike.
func TestValidPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"", true}, {"TEST", true}, {"ci_42-a", true}, {"Calldex7", true},
		{"a.b", false}, {"a b", false}, {"a*", false}, {"a>", false}, {"a/b", false}, {"ä", false},
		{"abcdefghijabcdefghijabcdefghij12", true}, {"abcdefghijabcdefghijabcdefghij123", false},
	}
	for _, tt := range tests {
		err := events.ValidPrefix(tt.prefix)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, events.ErrInvalid)) {
			t.Errorf("ValidPrefix(%q) = %v, want ok %v", tt.prefix, err, tt.ok)
		}
	}
}
