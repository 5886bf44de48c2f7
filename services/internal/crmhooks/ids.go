package crmhooks

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// flexID is a CRM id sent as a JSON number or string, kept as its text.
type flexID string

// UnmarshalJSON accepts a number (kept exactly as written), a string or
// null.
func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("id %s is neither a number nor a string", b)
		}
		*f = flexID(n.String())
	}
	return nil
}
