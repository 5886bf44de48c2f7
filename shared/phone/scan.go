package phone

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits. They are checked before phonenumbers sees the input, so junk
// costs one pass over at most maxInputBytes bytes.
const (
	// maxInputBytes bounds the work for one input; a phone number written
	// with generous punctuation, an extension and Unicode digits fits.
	maxInputBytes = 128
	// maxDigits allows an international prefix (00 or 011), a 15-digit
	// E.164 number and a stray trunk 0 in "+41 (0)21…" style.
	maxDigits = 20
	// minDigits rejects placeholders such as "0" or "-" a CRM field holds
	// instead of a number, while keeping two-digit internal extensions.
	minDigits = 2
)

// number is an input reduced to what the keys are made of.
type number struct {
	// digits are the ASCII digits of the number, without extension or
	// RFC 3966 parameters.
	digits string
	// plus is true when the number was written with a leading +: the digits
	// start with a country code.
	plus bool
}

// scan reduces an input as phone systems and CRMs write it to its digits.
//
// Accepted: an optional "tel:" scheme with its ";" parameters (dropped), one
// leading +, digits, visual separators (spaces, - . / ( ) [ ] ~ and their
// Unicode variants), and an extension after x, ext, extn, extension, # or ,
// (dropped: the extension is not part of the number). Unicode decimal
// digits (Arabic-Indic ٠١٢, Devanagari ०१२, fullwidth ０１２, …) count as the
// ASCII digits of the same value, as phonenumbers reads some of them too.
// Anything else, letters in particular ("+41 21 CALL NOW", vanity numbers),
// is ErrNotANumber: guessing would index or look up a wrong number.
func scan(s string) (number, error) {
	if len(s) > maxInputBytes {
		return number{}, fmt.Errorf("phone: %d bytes, more than %d: %w", len(s), maxInputBytes, ErrNotANumber)
	}
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	// RFC 3966 parameters (";ext=12", ";phone-context=…") follow the number;
	// a CRM field may also list a second number after ";".
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}

	var buf [maxDigits]byte
	digits := buf[:0]
	var n number
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9' || r > utf8.RuneSelf && unicode.IsDigit(r):
			if len(digits) == maxDigits {
				return number{}, fmt.Errorf("phone: more than %d digits: %w", maxDigits, ErrNotANumber)
			}
			digits = append(digits, '0'+decimalValue(r))
		case r == '+' || r == '＋':
			if n.plus || len(digits) > 0 {
				return number{}, fmt.Errorf("phone: + not at the start: %w", ErrNotANumber)
			}
			n.plus = true
		case isSeparator(r):
		case len(digits) > 0 && markerLen(s[i:]) > 0:
			if err := checkExtension(s[i+markerLen(s[i:]):]); err != nil {
				return number{}, err
			}
			return finish(n, digits)
		default:
			return number{}, fmt.Errorf("phone: unexpected %q: %w", r, ErrNotANumber)
		}
	}
	return finish(n, digits)
}

func finish(n number, digits []byte) (number, error) {
	if len(digits) < minDigits {
		return number{}, fmt.Errorf("phone: %d digits, fewer than %d: %w", len(digits), minDigits, ErrNotANumber)
	}
	n.digits = string(digits)
	return n, nil
}

// decimalValue returns the value of a decimal digit (Unicode category Nd).
// Unicode encodes every decimal digit set as a run of ten code points from 0
// to 9, some runs back to back (mathematical digits), so the value is the
// distance from the start of the runs, modulo 10.
func decimalValue(r rune) byte {
	if r <= '9' {
		return byte(r - '0')
	}
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return byte((r - start) % 10)
}

// isSeparator reports the punctuation people put between digit groups:
// ASCII, soft hyphen, Unicode dashes and minus, zero-width space, word
// joiner, and fullwidth forms.
func isSeparator(r rune) bool {
	switch r {
	case '-', '.', '/', '(', ')', '[', ']', '~',
		'\u00ad', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212',
		'\u200b', '\u2060', '－', '．', '／', '（', '）', '［', '］', '～':
		return true
	}
	return unicode.IsSpace(r)
}

// extensionMarkers start an extension, longest first so that "extension"
// is not read as "ext" followed by letters.
var extensionMarkers = [...]string{"extension", "extn", "ext", "x", "#", ","}

// markerLen returns the length of the extension marker s starts with, or 0.
func markerLen(s string) int {
	for _, m := range extensionMarkers {
		if len(s) >= len(m) && strings.EqualFold(s[:len(m)], m) {
			return len(m)
		}
	}
	return 0
}

// checkExtension accepts what follows an extension marker: digits and
// separators only, so that "x" lets no text in.
func checkExtension(s string) error {
	for _, r := range s {
		if r >= '0' && r <= '9' || unicode.IsDigit(r) || isSeparator(r) || r == ',' || r == ':' || r == '=' {
			continue
		}
		return fmt.Errorf("phone: unexpected %q in extension: %w", r, ErrNotANumber)
	}
	return nil
}
