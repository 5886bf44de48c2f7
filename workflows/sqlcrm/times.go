package sqlcrm

import (
	"fmt"
	"strings"
	"time"

	"github.com/calldex/calldex/workflows/crm"
)

// layouts are the ISO 8601 forms seen from phone systems: with or without
// zone (no zone means UTC, what peoplefone sends), "T" or space, fractions.
var layouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
}

// parseTime reads an optional ISO 8601 time. An unreadable time is a
// permanent failure naming the field: retrying cannot make it readable.
func parseTime(field, v string) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			u := t.UTC()
			return &u, nil
		}
	}
	return nil, crm.Permanent(fmt.Errorf("%w: %s %q is not an ISO 8601 time", ErrInvalidInput, field, v))
}
