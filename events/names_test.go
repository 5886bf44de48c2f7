package events_test

import (
	"errors"
	"regexp"
	"strings"
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

// ValidID is [a-z0-9_-]{1,64}: the loop agrees with that regexp on every
// string of up to three bytes drawn from its edges, and on lengths around 64.
func TestValidIDIsThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	alphabet := []byte("az09_-AZ.:/ \x00\xff`{")
	var ids []string
	var grow func(prefix string)
	grow = func(prefix string) {
		ids = append(ids, prefix)
		if len(prefix) >= 3 {
			return
		}
		for _, c := range alphabet {
			grow(prefix + string([]byte{c}))
		}
	}
	grow("")
	for n := 62; n <= 66; n++ {
		ids = append(ids, strings.Repeat("a", n), strings.Repeat("-", n-1)+"ä")
	}
	for _, id := range ids {
		err := events.ValidID(id)
		if want := pattern.MatchString(id); (err == nil) != want {
			t.Errorf("ValidID(%q) = %v, the pattern says %v", id, err, want)
		}
		if err != nil && !errors.Is(err, events.ErrInvalid) {
			t.Errorf("ValidID(%q) = %v, want ErrInvalid", id, err)
		}
	}
}
