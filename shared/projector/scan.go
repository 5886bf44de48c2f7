package projector

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/calldex/calldex/events"
)

// decodeScan decodes a contact event as the publishers write it (compact
// JSON, the fields of events.Envelope and events.Contact, each once)
// without reflection: on a backlog, encoding/json was most of the
// projector's CPU. It gives up (false) on anything else — an unknown or
// repeated key, null, a number that is not an integer, a \u escape of a
// surrogate, invalid UTF-8 — where encoding/json decides.
func decodeScan(b []byte) (typ, tenant string, c events.Contact, ok bool) {
	s := scanner{b: b}
	var version int
	var seen uint64
	ok = s.object(func(key string) bool {
		if s.field(&seen, key, envelopeKeys) < 0 {
			return false
		}
		switch key {
		case "type":
			typ, ok = s.str()
		case "tenant":
			tenant, ok = s.str()
		case "schemaVersion":
			version, ok = s.int()
		case "data":
			ok = s.contact(&c)
		default: // id, source, time: not read here
			_, ok = s.str()
		}
		return ok
	})
	if !ok || !s.end() || typ == "" || tenant == "" || version > events.SchemaVersion {
		return "", "", events.Contact{}, false
	}
	return typ, tenant, c, true
}

var (
	envelopeKeys = []string{"id", "type", "tenant", "source", "time", "schemaVersion", "data"}
	contactKeys  = []string{"id", "source", "type", "name", "title", "company", "contactUri", "companyUri", "crmName", "crmLogo",
		"phones", "emails", "customData", "routing", "updatedAt", "createdAt"}
	phoneKeys   = []string{"raw", "normalized", "label"}
	routingKeys = []string{"directLine", "queuePosition", "routeIdentifier", "language", "outboundNumber"}
)

type scanner struct {
	b []byte
	i int
}

// field returns the index of key in keys, -1 when it is none of them or
// was seen before.
func (s *scanner) field(seen *uint64, key string, keys []string) int {
	for i, k := range keys {
		if k == key {
			if *seen&(1<<i) != 0 {
				return -1
			}
			*seen |= 1 << i
			return i
		}
	}
	return -1
}

// strs reads the string of the field at i, when there is one (false when
// the field is none).
func (s *scanner) strs(fields []*string, i int, ok *bool) bool {
	if i < 0 || i >= len(fields) {
		return false
	}
	*fields[i], *ok = s.str()
	return true
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// object reads an object, calling member after each key and its colon.
func (s *scanner) object(member func(key string) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.next(':') || !member(key) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// array reads an array, calling elem for each element.
func (s *scanner) array(elem func() bool) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// quoted returns a string's bytes between its quotes, still escaped, and
// whether it has escapes.
func (s *scanner) quoted() (raw []byte, escaped, ok bool) {
	if !s.next('"') {
		return nil, false, false
	}
	start := s.i
	ascii := true
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(raw) {
				return nil, false, false
			}
			return raw, escaped, true
		case c == '\\':
			escaped = true
			s.i++ // the escaped byte is never the closing quote
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false, false
}

func (s *scanner) str() (string, bool) {
	raw, escaped, ok := s.quoted()
	if !ok {
		return "", false
	}
	if !escaped {
		return string(raw), true
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			out = append(out, raw[i])
			continue
		}
		i++
		if i >= len(raw) {
			return "", false
		}
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(raw) {
				return "", false
			}
			r, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
			if err != nil || r >= 0xd800 && r < 0xe000 {
				return "", false // a surrogate: encoding/json pairs them
			}
			out = utf8.AppendRune(out, rune(r))
			i += 4
		default:
			return "", false
		}
	}
	return string(out), true
}

func (s *scanner) int() (int, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || s.b[digits] == '0' && s.i-digits > 1 {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	n, err := strconv.Atoi(string(s.b[start:s.i]))
	return n, err == nil
}

// time reads a time as time.Time's UnmarshalJSON does.
func (s *scanner) time(t *time.Time) bool {
	s.ws()
	start := s.i
	if _, _, ok := s.quoted(); !ok {
		return false
	}
	return t.UnmarshalJSON(s.b[start:s.i]) == nil
}

func (s *scanner) contact(c *events.Contact) bool {
	var seen uint64
	// The string fields, in the order of contactKeys.
	fields := []*string{&c.ID, &c.Source, &c.Type, &c.Name, &c.Title, &c.Company, &c.ContactURI, &c.CompanyURI, &c.CRMName, &c.CRMLogo}
	return s.object(func(key string) bool {
		i := s.field(&seen, key, contactKeys)
		var ok bool
		if i < 0 || s.strs(fields, i, &ok) {
			return ok
		}
		switch key {
		case "phones":
			c.Phones = []events.Phone{}
			ok = s.array(func() bool {
				var p events.Phone
				var seen uint64
				ok := s.object(func(key string) bool {
					var ok bool
					return s.strs([]*string{&p.Raw, &p.Normalized, &p.Label}, s.field(&seen, key, phoneKeys), &ok) && ok
				})
				c.Phones = append(c.Phones, p)
				return ok
			})
		case "emails":
			c.Emails = []string{}
			ok = s.array(func() bool {
				e, ok := s.str()
				c.Emails = append(c.Emails, e)
				return ok
			})
		case "customData":
			c.CustomData = events.CustomData{}
			ok = s.object(func(key string) bool {
				v, ok := s.str()
				c.CustomData = append(c.CustomData, events.KV{Key: key, Value: v})
				return ok
			})
		case "routing":
			ok = s.routing(&c.Routing)
		case "updatedAt":
			ok = s.time(&c.UpdatedAt)
		default:
			ok = s.time(&c.CreatedAt)
		}
		return ok
	})
}

func (s *scanner) routing(r *events.Routing) bool {
	var seen uint64
	// The string fields, in the order of routingKeys but queuePosition.
	fields := []*string{&r.DirectLine, nil, &r.RouteIdentifier, &r.Language, &r.OutboundNumber}
	return s.object(func(key string) bool {
		i := s.field(&seen, key, routingKeys)
		if i == 1 {
			n, ok := s.int()
			r.QueuePosition = &n
			return ok
		}
		var ok bool
		return s.strs(fields, i, &ok) && ok
	})
}
