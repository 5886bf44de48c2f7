package sqlcrm

import "time"

// SetClock replaces the clock that schedules reconcile passes.
func SetClock(s *Store, now func() time.Time) { s.now = now }

// SetMaxSent replaces the bound of the fingerprints carried between polls.
func SetMaxSent(s *Store, n int) { s.maxSent = n }
