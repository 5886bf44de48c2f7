package sqlcrm

import (
	"context"
	"strings"

	"github.com/calldex/calldex/events"
)

const (
	// searchTailDigits is how many trailing digits a live phone search
	// compares: the national number without a trunk or country prefix, the
	// default tail of the index.
	searchTailDigits = 9
	// searchLimit caps the contacts of one number.
	searchLimit = 20
)

// SearchPhone finds the contacts of numbers (E.164, live, on an index
// miss) with searchPhone, once per number. The default statement compares
// the last 9 digits of the phone column, so "021 552 20 00",
// "+41 (0)21 552 20 00" and "0041215522000" all match +41215522000; it reads
// the whole table, which a fallback with a budget of a few hundred
// milliseconds affords up to a few hundred thousand rows.
func (s *Store) SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error) {
	var out []events.Contact
	seen := map[string]bool{}
	for _, n := range numbers {
		digits := onlyDigits(n)
		if digits == "" {
			continue
		}
		tail := digits[max(0, len(digits)-searchTailDigits):]
		cs, err := s.search(ctx, StmtSearchPhone, map[string]any{
			"number": n, "digits": digits, "tail": tail, "tail_like": "%" + tail, "limit": searchLimit,
		})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if !seen[c.ID] {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// SearchName finds at most limit contacts whose name or company contains
// name (searchName), live.
func (s *Store) SearchName(ctx context.Context, name string, limit int) ([]events.Contact, error) {
	name = strings.TrimSpace(name)
	if name == "" || limit <= 0 {
		return nil, nil
	}
	like := "%" + strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(strings.ToLower(name)) + "%"
	cs, err := s.search(ctx, StmtSearchName, map[string]any{"name": name, "name_like": like, "limit": limit})
	if len(cs) > limit {
		cs = cs[:limit]
	}
	return cs, err
}

// search runs a search statement; rows with deleted_at set are left out.
func (s *Store) search(ctx context.Context, stmt string, vals map[string]any) ([]events.Contact, error) {
	var out []events.Contact
	err := s.query(ctx, stmt, vals, nil, func(m *columns, row []any) error {
		c, deleted, err := s.contact(m, row)
		if err != nil || deleted || c.ID == "" {
			return err
		}
		if c.Type == "" {
			c.Type = "contact"
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
