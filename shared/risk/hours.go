package risk

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultBusinessHours are the business hours of a tenant that sets none,
// Monday to Friday in its timezone (default UTC).
const DefaultBusinessHours = "08:00-18:00"

// BusinessHours are when a tenant expects calls: Monday to Friday between
// Start and End (times of day) in Location.
type BusinessHours struct {
	Location   *time.Location
	Start, End time.Duration
}

// ParseBusinessHours reads a timezone ("" is UTC) and "HH:MM-HH:MM" (""
// is DefaultBusinessHours); errors are *FieldError.
func ParseBusinessHours(timezone, hours string) (BusinessHours, error) {
	var errs []error
	loc, err := time.LoadLocation(timezone)
	if err != nil {
		errs = append(errs, &FieldError{"timezone", fmt.Sprintf("%q: %v", timezone, err)})
	}
	if hours == "" {
		hours = DefaultBusinessHours
	}
	var h BusinessHours
	from, to, ok := strings.Cut(hours, "-")
	start, err1 := time.Parse("15:04", strings.TrimSpace(from))
	end, err2 := time.Parse("15:04", strings.TrimSpace(to))
	if !ok || err1 != nil || err2 != nil || !end.After(start) {
		errs = append(errs, &FieldError{"businessHours", fmt.Sprintf("%q must be HH:MM-HH:MM, the end after the start", hours)})
	}
	if err := errors.Join(errs...); err != nil {
		return h, err
	}
	midnight, _ := time.Parse("15:04", "00:00")
	return BusinessHours{Location: loc, Start: start.Sub(midnight), End: end.Sub(midnight)}, nil
}

// defaultHours are DefaultBusinessHours in UTC.
var defaultHours, _ = ParseBusinessHours("", "")

// Outside tells whether t is outside the business hours; zero
// BusinessHours are the default ones.
func (h BusinessHours) Outside(t time.Time) bool {
	if h.End == 0 {
		h = defaultHours
	}
	loc := h.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return true
	}
	y, m, d := t.Date()
	since := t.Sub(time.Date(y, m, d, 0, 0, 0, 0, loc))
	return since < h.Start || since >= h.End
}
