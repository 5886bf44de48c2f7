package phone

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Candidates turns a number as a phone system sends it into the ordered keys
// a lookup checks: first the E.164 keys of every valid reading (most likely
// first), then "d:" exact digits keys, then "t:" tail keys. Keys are unique.
//
// The "d:" keys are the input's digits and, when no reading is valid, the
// forms a CRM may have stored the same invalid number in: national with and
// without trunk prefix, international without +. Tail keys, of the input's
// digits and of each valid E.164 number, exist only for digit strings longer
// than the tail, so a short number never tail-matches a longer one.
//
// Errors wrap ErrInvalidRegion, ErrInvalidTailDigits or ErrNotANumber.
func Candidates(input string, opt Options) ([]Key, error) {
	s, err := opt.resolve()
	if err != nil {
		return nil, err
	}
	return candidates(input, s)
}

// candidates is Candidates with resolved settings.
func candidates(input string, s settings) ([]Key, error) {
	n, err := scan(input)
	if err != nil {
		return nil, err
	}
	var validBuf [3]string
	var invalidBuf [3]reading
	valid, invalid := validBuf[:0], invalidBuf[:0]
	for r := range readings(n, s) {
		switch {
		case r.e164 == "":
			invalid = append(invalid, r)
		case !slices.Contains(valid, r.e164):
			valid = append(valid, r.e164)
		}
	}

	keys := make([]Key, 0, 2*len(valid)+4)
	for _, e := range valid {
		keys = append(keys, Key(prefixE164+e))
	}
	keys = appendDigits(keys, n.digits)
	// A valid number is stored valid too and meets on its "e:" key; only an
	// invalid one needs its other spellings.
	if len(valid) == 0 {
		for _, r := range invalid {
			keys = appendSpellings(keys, r, s)
		}
	}
	keys = appendTail(keys, n.digits, s.tail)
	for _, e := range valid {
		keys = appendTail(keys, e[1:], s.tail)
	}
	return keys, nil
}

// IndexKeys turns a number as a CRM stores it into the keys the contact is
// indexed under, and its E.164 form ("" when it never becomes valid).
//
// A number with a valid reading is indexed under the E.164 key of its most
// likely one (the first "e:" key Candidates gives for it) and the tail of its
// E.164 digits. Any other number is indexed under "d:" and its digits, and
// under the tail of its digits when it has more digits than the tail.
//
// Errors wrap ErrInvalidRegion, ErrInvalidTailDigits or ErrNotANumber.
func IndexKeys(raw string, opt Options) (e164 string, keys []Key, err error) {
	s, err := opt.resolve()
	if err != nil {
		return "", nil, err
	}
	return indexKeys(raw, s)
}

// indexKeys is IndexKeys with resolved settings.
func indexKeys(raw string, s settings) (e164 string, keys []Key, err error) {
	n, err := scan(raw)
	if err != nil {
		return "", nil, err
	}
	if e164 = firstValid(n, s); e164 != "" {
		keys = make([]Key, 1, 2)
		keys[0] = Key(prefixE164 + e164)
		return e164, appendTail(keys, e164[1:], s.tail), nil
	}
	keys = make([]Key, 1, 2)
	keys[0] = Key(prefixDigits + n.digits)
	return "", appendTail(keys, n.digits, s.tail), nil
}

// Normalize returns the E.164 form of the most likely valid reading of raw.
// A number without a valid reading is ErrNotANumber, as is junk; a bad
// Options is ErrInvalidRegion or ErrInvalidTailDigits.
func Normalize(raw string, opt Options) (string, error) {
	s, err := opt.resolve()
	if err != nil {
		return "", err
	}
	n, err := scan(raw)
	if err != nil {
		return "", err
	}
	if e164 := firstValid(n, s); e164 != "" {
		return e164, nil
	}
	return "", fmt.Errorf("phone: no valid number in region %s: %w", s.region, ErrNotANumber)
}

// firstValid returns the E.164 form of the most likely valid reading of n, or
// "". It stops parsing at the first valid reading.
func firstValid(n number, s settings) string {
	for r := range readings(n, s) {
		if r.e164 != "" {
			return r.e164
		}
	}
	return ""
}

// appendSpellings adds the digits a CRM may have stored an invalid reading
// r as: with the country code ("41 44 123 45"), and for the tenant's own
// country also nationally with and without trunk prefix ("044 123 45",
// "44 123 45"). Invalid numbers are stored as their digits, so the lookup
// has to try each spelling.
func appendSpellings(keys []Key, r reading, s settings) []Key {
	cc := strconv.Itoa(int(r.cc))
	core := r.nsn
	if cc == s.cc {
		// phonenumbers keeps the trunk prefix of an invalid number when what
		// remains has no possible length.
		ndd := phonenumbers.GetNddPrefixForRegion(s.region, true)
		core = strings.TrimPrefix(core, ndd)
		if ndd != "" {
			keys = appendDigits(keys, ndd+core)
		}
		keys = appendDigits(keys, core)
	}
	return appendDigits(keys, cc+core)
}

// appendDigits adds the "d:" key of digits, unless they are too few to be
// stored: IndexKeys never makes such a key.
func appendDigits(keys []Key, digits string) []Key {
	if len(digits) < minDigits {
		return keys
	}
	return appendKey(keys, Key(prefixDigits+digits))
}

// appendTail adds the tail key of digits when there are more digits than the
// tail: a number of tail digits or fewer matches exactly only.
func appendTail(keys []Key, digits string, tail int) []Key {
	if len(digits) <= tail {
		return keys
	}
	return appendKey(keys, Key(prefixTail+digits[len(digits)-tail:]))
}

// appendKey adds k unless keys has it; key lists are short, so a scan is
// cheaper than a set.
func appendKey(keys []Key, k Key) []Key {
	if slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}
