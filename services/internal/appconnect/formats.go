package appconnect

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// restorePlus undoes what a query string does to an E.164 number sent
// without percent-encoding: its "+" arrives as a space (App Connect's own
// connectors do phoneNumber.replace(' ', '+')).
func restorePlus(s string) string {
	if rest := strings.TrimLeft(s, " "); len(rest) < len(s) && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return "+" + strings.TrimSpace(rest)
	}
	return strings.TrimSpace(s)
}

// maskedNumbers renders an E.164 number in each of the user's alternative
// formats (App Connect's overridingFormat: comma-separated masks such as
// "(***) ***-****" or "###-###-####"): the national significant number,
// without country code, fills each "*" or "#" with one digit, in order.
//
// A mask with a different number of placeholders than the number has
// digits is skipped: it was written for another country's numbers, and
// App Connect's connectors would send a half-filled or truncated string
// that matches nothing or, worse, another contact.
func maskedNumbers(e164, overriding string) []string {
	if overriding == "" {
		return nil
	}
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil
	}
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	var out []string
	for _, mask := range strings.Split(overriding, ",") {
		mask = strings.TrimSpace(mask)
		if mask == "" || strings.Count(mask, "*")+strings.Count(mask, "#") != len(nsn) {
			continue
		}
		// Bytewise: the placeholders are ASCII, and whatever else the
		// user typed is kept exactly as typed.
		b := []byte(mask)
		i := 0
		for j, c := range b {
			if c == '*' || c == '#' {
				b[j] = nsn[i]
				i++
			}
		}
		if s := string(b); !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// flexString reads a JSON string or number as a string: RingCentral ids
// are documented as either, and clients send both.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("want a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

// truncate shortens a message shown to a user.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// plural writes "1 contact", "2 contacts".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
