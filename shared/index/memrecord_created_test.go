package index

import (
	"testing"
	"time"

	"github.com/calldex/calldex/events"
)

// A record stored before contacts had a creation time (without its last
// field) still decodes, with no creation time.
func TestRecordWithoutCreatedAt(t *testing.T) {
	c := events.Contact{ID: "1", Source: "s", Name: "N", UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rec := encodeRecord(Entry{Contact: c})
	old := rec[:len(rec)-1] // the zero CreatedAt is one byte: its length, 0
	if got := old.contact(); got.Name != "N" || !got.UpdatedAt.Equal(c.UpdatedAt) || !got.CreatedAt.IsZero() {
		t.Errorf("old record decoded as %+v", got)
	}
	c.CreatedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := encodeRecord(Entry{Contact: c}).contact(); !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("CreatedAt %v, want %v", got.CreatedAt, c.CreatedAt)
	}
}
