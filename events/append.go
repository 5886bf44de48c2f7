package events

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// The hot events are encoded without reflection: one call.lookup per
// answered lookup. The bytes are those encoding/json writes for the same
// values.

// AppendJSON appends the envelope as JSON; e.Data must be valid compact
// JSON (as json.Marshal returns it).
func (e Envelope) AppendJSON(b []byte) []byte {
	b = appendField(b, `{"id":`, e.ID)
	b = appendField(b, `,"type":`, e.Type)
	b = appendField(b, `,"tenant":`, e.Tenant)
	if e.Source != "" {
		b = appendField(b, `,"source":`, e.Source)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","schemaVersion":`...)
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	b = append(b, `,"data":`...)
	if e.Data == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, e.Data...)
	}
	return append(b, '}')
}

// AppendJSON appends the payload as JSON.
func (c CallLookup) AppendJSON(b []byte) []byte {
	b = appendField(b, `{"dialect":`, c.Dialect)
	b = appendField(b, `,"number":`, c.Number)
	if c.E164 != "" {
		b = appendField(b, `,"e164":`, c.E164)
	}
	if c.DNID != "" {
		b = appendField(b, `,"dnid":`, c.DNID)
	}
	b = append(b, `,"hits":`...)
	b = strconv.AppendInt(b, int64(c.Hits), 10)
	if c.ContactID != "" {
		b = appendField(b, `,"contactId":`, c.ContactID)
	}
	b = append(b, `,"latencyNs":`...)
	b = strconv.AppendInt(b, int64(c.Latency), 10)
	return append(b, '}')
}

// AppendJSON appends the contact as JSON, as encoding/json writes it; it
// fails where encoding/json does, on a time RFC 3339 cannot write. A sync
// publishes a contact.upserted per row.
func (c Contact) AppendJSON(b []byte) ([]byte, error) {
	b = appendField(b, `{"id":`, c.ID)
	b = appendField(b, `,"source":`, c.Source)
	b = appendOptional(b, `,"type":`, c.Type)
	b = appendField(b, `,"name":`, c.Name)
	b = appendOptional(b, `,"title":`, c.Title)
	b = appendOptional(b, `,"company":`, c.Company)
	b = appendOptional(b, `,"contactUri":`, c.ContactURI)
	b = appendOptional(b, `,"companyUri":`, c.CompanyURI)
	b = appendOptional(b, `,"crmName":`, c.CRMName)
	b = appendOptional(b, `,"crmLogo":`, c.CRMLogo)
	if len(c.Phones) > 0 {
		b = append(b, `,"phones":[`...)
		for i, p := range c.Phones {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendField(b, `{"raw":`, p.Raw)
			b = appendOptional(b, `,"normalized":`, p.Normalized)
			b = appendOptional(b, `,"label":`, p.Label)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(c.Emails) > 0 {
		b = append(b, `,"emails":[`...)
		for i, e := range c.Emails {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, e)
		}
		b = append(b, ']')
	}
	if len(c.CustomData) > 0 {
		b = append(b, `,"customData":{`...)
		for i, kv := range c.CustomData {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(AppendJSONString(b, kv.Key), ':')
			b = AppendJSONString(b, kv.Value)
		}
		b = append(b, '}')
	}
	if r := c.Routing; r != (Routing{}) {
		b = append(b, `,"routing":{`...)
		n := len(b)
		b = appendOptional(b, `,"directLine":`, r.DirectLine)
		if r.QueuePosition != nil {
			b = append(b, `,"queuePosition":`...)
			b = strconv.AppendInt(b, int64(*r.QueuePosition), 10)
		}
		b = appendOptional(b, `,"routeIdentifier":`, r.RouteIdentifier)
		b = appendOptional(b, `,"language":`, r.Language)
		b = appendOptional(b, `,"outboundNumber":`, r.OutboundNumber)
		if len(b) > n {
			b = append(b[:n], b[n+1:]...) // the first field's comma
		}
		b = append(b, '}')
	}
	var err error
	b = append(b, `,"updatedAt":"`...)
	if b, err = c.UpdatedAt.AppendText(b); err != nil {
		return b, fmt.Errorf("contact %s updatedAt: %w", c.ID, err)
	}
	b = append(b, '"')
	if !c.CreatedAt.IsZero() {
		b = append(b, `,"createdAt":"`...)
		if b, err = c.CreatedAt.AppendText(b); err != nil {
			return b, fmt.Errorf("contact %s createdAt: %w", c.ID, err)
		}
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// appendOptional appends the field unless v is empty (omitempty).
func appendOptional(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return appendField(b, name, v)
}

// appendField appends name (the field's key, colon and whatever
// punctuation precedes it) and the string v.
func appendField(b []byte, name, v string) []byte {
	return AppendJSONString(append(b, name...), v)
}

// AppendJSONString appends s as a JSON string the way encoding/json does
// by default: <, > and & escaped as \u003c…, U+2028 and U+2029 escaped,
// invalid UTF-8 as \ufffd.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
