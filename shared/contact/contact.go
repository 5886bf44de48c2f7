// Package contact reads contacts as people hand them over — NDJSON or CSV
// files, JSON bodies — and checks them before they become events.
package contact

import (
	"errors"
	"fmt"
	"strings"

	"github.com/calldex/calldex/events"
)

// ErrInvalid marks a contact that cannot be accepted; the message says why.
var ErrInvalid = errors.New("invalid contact")

// MaxPhones bounds the numbers of one contact, so one bad record cannot
// make the index write thousands of keys.
const MaxPhones = 50

// Validate checks a contact and fills defaults (source, type).
func Validate(c *events.Contact, defaultSource string) error {
	c.ID = strings.TrimSpace(c.ID)
	if c.Source == "" {
		c.Source = defaultSource
	}
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("id is required"))
	} else if len(c.ID) > 256 {
		errs = append(errs, errors.New("id is longer than 256 bytes"))
	}
	if err := events.ValidID(c.Source); err != nil {
		errs = append(errs, fmt.Errorf("source: %w", err))
	}
	if strings.TrimSpace(c.Name) == "" && strings.TrimSpace(c.Company) == "" {
		errs = append(errs, errors.New("name or company is required"))
	}
	if len(c.Phones) > MaxPhones {
		errs = append(errs, fmt.Errorf("%d phones, at most %d", len(c.Phones), MaxPhones))
	}
	if c.Type == "" {
		c.Type = "contact"
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}
