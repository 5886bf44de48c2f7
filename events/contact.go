package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Contact is the canonical contact, as every source publishes it and as the
// index stores it. It is the payload of contact.upserted.
type Contact struct {
	ID         string     `json:"id"`
	Source     string     `json:"source"`
	Type       string     `json:"type,omitempty"` // contact, lead, company, user, …
	Name       string     `json:"name"`
	Title      string     `json:"title,omitempty"`
	Company    string     `json:"company,omitempty"`
	ContactURI string     `json:"contactUri,omitempty"`
	CompanyURI string     `json:"companyUri,omitempty"`
	CRMName    string     `json:"crmName,omitempty"`
	CRMLogo    string     `json:"crmLogo,omitempty"`
	Phones     []Phone    `json:"phones,omitempty"`
	Emails     []string   `json:"emails,omitempty"`
	CustomData CustomData `json:"customData,omitempty"`
	Routing    Routing    `json:"routing,omitzero"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	// CreatedAt is when the source created the contact, when it says so
	// (zero otherwise): what the earliestCreated ranking reads, falling
	// back to UpdatedAt.
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// Phone is one number of a contact: Raw as the source stored it, Normalized as
// E.164 when it is a valid number (empty otherwise).
type Phone struct {
	Raw        string `json:"raw"`
	Normalized string `json:"normalized,omitempty"`
	Label      string `json:"label,omitempty"` // work, mobile, home, …
}

// Routing is what a PBX needs to route a known caller (While1 webservice).
type Routing struct {
	DirectLine      string `json:"directLine,omitempty"`
	QueuePosition   *int   `json:"queuePosition,omitempty"`
	RouteIdentifier string `json:"routeIdentifier,omitempty"`
	Language        string `json:"language,omitempty"`
	OutboundNumber  string `json:"outboundNumber,omitempty"`
}

// ContactDeleted is the payload of contact.deleted (the tombstone).
type ContactDeleted struct {
	ID     string `json:"id"`
	Source string `json:"source"`
}

// KV is one custom data entry.
type KV struct {
	Key   string
	Value string
}

// CustomData is an ordered set of key/value pairs. It travels as a JSON
// object whose key order is kept, because the order is what the agent sees.
type CustomData []KV

// MarshalJSON writes the pairs as one JSON object, in order.
func (c CustomData) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.Key)
		v, _ := json.Marshal(kv.Value)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a JSON object keeping its key order. Non-string values
// are kept as their JSON text.
func (c *CustomData) UnmarshalJSON(data []byte) error {
	if out, ok := plainCustomData(data); ok {
		*c = out
		return nil
	}
	return c.unmarshalAny(data)
}

// unmarshalAny is UnmarshalJSON for every form of custom data.
func (c *CustomData) unmarshalAny(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*c = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("customData: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("customData: want a JSON object")
	}
	out := CustomData{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("customData: %w", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("customData %q: %w", kt, err)
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		out = append(out, KV{Key: kt.(string), Value: s})
	}
	*c = out
	return nil
}

// plainCustomData reads the common form of custom data in one pass: an
// object whose keys and values are strings without escapes. Anything else
// (ok false) is left to the general decoder, which a projector replaying
// CONTACTS would otherwise run for every contact: a token stream and a
// decode per value cost a quarter of decoding the contact.
func plainCustomData(data []byte) (out CustomData, ok bool) {
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return nil, false
	}
	out = CustomData{}
	if i = skipSpace(data, i+1); i < len(data) && data[i] == '}' {
		return out, skipSpace(data, i+1) == len(data)
	}
	for {
		k, j, ok := plainString(data, i)
		if j = skipSpace(data, j); !ok || j == len(data) || data[j] != ':' {
			return nil, false
		}
		v, j, ok := plainString(data, skipSpace(data, j+1))
		if !ok {
			return nil, false
		}
		out = append(out, KV{Key: k, Value: v})
		switch j = skipSpace(data, j); {
		case j < len(data) && data[j] == ',':
			i = skipSpace(data, j+1)
		case j < len(data) && data[j] == '}':
			return out, skipSpace(data, j+1) == len(data)
		default:
			return nil, false
		}
	}
}

// plainString reads the JSON string at data[i] if it holds no escape,
// control character or invalid UTF-8, so that its bytes are its value; it
// returns the index after it.
func plainString(data []byte, i int) (string, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return "", i, false
	}
	for j := i + 1; j < len(data); j++ {
		switch b := data[j]; {
		case b == '"':
			if !utf8.Valid(data[i+1 : j]) {
				return "", i, false
			}
			return string(data[i+1 : j]), j + 1, true
		case b == '\\' || b < 0x20:
			return "", i, false
		}
	}
	return "", i, false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
