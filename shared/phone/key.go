package phone

import "strings"

// Kind says how strong a match through a key is.
type Kind uint8

const (
	// Exact: the same E.164 number, or the same digits.
	Exact Kind = iota
	// Tail: the same last N digits only.
	Tail
)

// String returns "exact" or "tail", for logs and metrics labels.
func (k Kind) String() string {
	if k == Tail {
		return "tail"
	}
	return "exact"
}

// Key is an index key for one phone number, with a prefix saying what it is:
//
//	e:+41215522000  valid E.164 number
//	d:0215522000    digits of a number that never became valid E.164
//	t:215522000     the last N digits (tail match)
type Key string

// Key prefixes.
const (
	prefixE164   = "e:"
	prefixDigits = "d:"
	prefixTail   = "t:"
)

// E164 is the number of an "e:" key; ok is false for other keys.
func (k Key) E164() (e164 string, ok bool) {
	return strings.CutPrefix(string(k), prefixE164)
}

// Kind tells whether a match through k is exact or a tail match.
func (k Key) Kind() Kind {
	if strings.HasPrefix(string(k), prefixTail) {
		return Tail
	}
	return Exact
}
