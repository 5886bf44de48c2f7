package sqlcrm

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
)

// columns maps the result columns of a read statement to contact fields,
// by name (see the package documentation for the contract).
type columns struct {
	// id, updatedAt, deletedAt, createdAt index the columns; -1 when absent.
	id, updatedAt, deletedAt, createdAt int
	fields                              []field
	n                                   int
}

// field sets one contact field from a column's non-empty text.
type field struct {
	col int
	set func(c *events.Contact, v string)
}

// knownColumns names the columns of the contract, for error messages.
const knownColumns = "id, updated_at, deleted_at, created_at, name, title, company, type, contact_uri, company_uri, " +
	"phone, phones, phone_<label>, email, emails, email_<label>, direct_line, queue_position, " +
	"route_identifier, language, outbound_number, custom_<key>"

// mapColumns reads a result's column names. Names are matched without
// regard to case, except for the key of a custom_<key> column; a column of
// no known name is an error, so that a misspelt alias is found at once
// rather than leaving a field empty.
func (s *Store) mapColumns(stmt string, names []string) (*columns, error) {
	m := &columns{id: -1, updatedAt: -1, deletedAt: -1, createdAt: -1, n: len(names)}
	var unknown []string
	add := func(i int, set func(c *events.Contact, v string)) { m.fields = append(m.fields, field{i, set}) }
	phones := func(i int, label string) {
		add(i, func(c *events.Contact, v string) {
			for _, p := range s.splitPhones(v) {
				c.Phones = append(c.Phones, events.Phone{Raw: p, Label: label})
			}
		})
	}
	emails := func(i int) {
		add(i, func(c *events.Contact, v string) {
			c.Emails = append(c.Emails, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' })...)
		})
	}
	for i, raw := range names {
		name := strings.ToLower(strings.TrimSpace(raw))
		switch {
		case name == "id":
			m.id = i
		case name == "updated_at":
			m.updatedAt = i
		case name == "deleted_at":
			m.deletedAt = i
		case name == "created_at":
			m.createdAt = i
		case name == "name":
			add(i, func(c *events.Contact, v string) { c.Name = v })
		case name == "title":
			add(i, func(c *events.Contact, v string) { c.Title = v })
		case name == "company":
			add(i, func(c *events.Contact, v string) { c.Company = v })
		case name == "type":
			add(i, func(c *events.Contact, v string) { c.Type = v })
		case name == "contact_uri":
			add(i, func(c *events.Contact, v string) { c.ContactURI = v })
		case name == "company_uri":
			add(i, func(c *events.Contact, v string) { c.CompanyURI = v })
		case name == "phone" || name == "phones":
			phones(i, "")
		case strings.HasPrefix(name, "phone_"):
			phones(i, name[len("phone_"):])
		case name == "email" || name == "emails" || strings.HasPrefix(name, "email_"):
			emails(i)
		case name == "direct_line":
			add(i, func(c *events.Contact, v string) { c.Routing.DirectLine = v })
		case name == "queue_position":
			add(i, func(c *events.Contact, v string) {
				// A position that is no number is left out rather than
				// stopping the sync over one row's routing data.
				if n, err := strconv.Atoi(v); err == nil {
					c.Routing.QueuePosition = &n
				}
			})
		case name == "route_identifier":
			add(i, func(c *events.Contact, v string) { c.Routing.RouteIdentifier = v })
		case name == "language":
			add(i, func(c *events.Contact, v string) { c.Routing.Language = v })
		case name == "outbound_number":
			add(i, func(c *events.Contact, v string) { c.Routing.OutboundNumber = v })
		case strings.HasPrefix(name, "custom_") && len(name) > len("custom_"):
			key := strings.TrimSpace(raw)[len("custom_"):]
			add(i, func(c *events.Contact, v string) { c.CustomData = append(c.CustomData, events.KV{Key: key, Value: v}) })
		default:
			unknown = append(unknown, raw)
		}
	}
	switch {
	case len(unknown) > 0:
		return nil, fmt.Errorf("%w: statement %s returns column(s) %s of no contact field (known: %s)",
			ErrConfig, stmt, strings.Join(unknown, ", "), knownColumns)
	case m.id < 0:
		return nil, fmt.Errorf("%w: statement %s returns no id column", ErrConfig, stmt)
	}
	return m, nil
}

func (s *Store) splitPhones(v string) []string {
	parts := []string{v}
	if s.cfg.PhoneSeparator != "" {
		parts = strings.Split(v, s.cfg.PhoneSeparator)
	}
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// contact makes the contact of one row. deleted reports a row whose
// deleted_at is set; a row without a readable updated_at (when the
// statement returns one) is an error, as the sync cannot place it.
func (s *Store) contact(m *columns, vals []any) (c events.Contact, deleted bool, err error) {
	c.ID = strings.TrimSpace(text(vals[m.id]))
	if m.updatedAt >= 0 {
		c.UpdatedAt, err = dbTime(vals[m.updatedAt])
		if err != nil {
			return c, false, fmt.Errorf("%w: contact %q: updated_at: %w", ErrConfig, c.ID, err)
		}
	}
	if m.deletedAt >= 0 {
		deleted = isSet(vals[m.deletedAt])
	}
	if m.createdAt >= 0 && isSet(vals[m.createdAt]) {
		// Only the earliestCreated ranking reads it, which falls back to
		// updated_at: an unreadable one is left out rather than stopping
		// the sync over one row.
		c.CreatedAt, _ = dbTime(vals[m.createdAt])
	}
	for _, f := range m.fields {
		if v := strings.TrimSpace(text(vals[f.col])); v != "" {
			f.set(&c, v)
		}
	}
	if c.ContactURI == "" && s.cfg.ContactURLTemplate != "" {
		c.ContactURI = strings.ReplaceAll(s.cfg.ContactURLTemplate, "{id}", url.PathEscape(c.ID))
	}
	c.CRMName, c.CRMLogo = s.cfg.CRMName, s.cfg.CRMLogo
	return c, deleted, nil
}

// text is a column value as text, whatever type the driver gave it.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

// isSet reports whether a deleted_at value marks a deleted row: anything
// but NULL, false, 0, empty text and MySQL's zero date, which legacy
// tables use for "not deleted".
func isSet(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case time.Time:
		return !x.IsZero()
	}
	t := strings.TrimSpace(text(v))
	return t != "" && t != "0" && t != "false" && !strings.HasPrefix(t, "0000-00-00")
}

// dbLayouts are the text forms of a time a database returns: RFC 3339,
// MySQL's and SQLite's "2006-01-02 15:04:05.999999" (no zone: UTC), a date,
// and Go's time.Time.String(), which the SQLite driver stores for a bound
// time.Time.
var dbLayouts = append(layouts[:len(layouts):len(layouts)], "2006-01-02", "2006-01-02 15:04:05.999999999 -0700 MST")

// dbTime reads a time column or the database clock: a time, text in one of
// dbLayouts, or a number of Unix seconds.
func dbTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case int64:
		return time.Unix(x, 0).UTC(), nil
	case float64:
		return time.UnixMicro(int64(x * 1e6)).UTC(), nil
	case nil:
		return time.Time{}, fmt.Errorf("is NULL")
	}
	t := strings.TrimSpace(text(v))
	for _, l := range dbLayouts {
		if tm, err := time.Parse(l, t); err == nil {
			return tm.UTC(), nil
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time", t)
}
