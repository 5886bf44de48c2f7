package phone

import (
	"iter"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// E.164 limits, used to skip parses that cannot give a valid number.
const (
	// minE164Digits: the shortest valid numbers have six digits with their
	// country code (Vienna +43 1 110; Germany and Iran allow them too).
	minE164Digits = 6
	maxE164Digits = 15
)

// reading is one way to read a number's digits, as phonenumbers parsed it.
type reading struct {
	// e164 is the number in E.164 form, "" when the reading is not valid.
	e164 string
	// cc and nsn are the country calling code and national significant
	// number, also set for invalid readings.
	cc  int32
	nsn string
}

// readings yields the readings of n that phonenumbers can parse, the most
// likely first. A number with a + has one reading. Without one, a number is
// read in the tenant's region and, where a phone system may have dropped the
// + ("41215522000" from peoplefone) or dialled 00 from a region whose
// international prefix is another, also as an international number.
func readings(n number, s settings) iter.Seq[reading] {
	return func(yield func(reading) bool) {
		switch {
		case n.plus:
			if r, ok := s.parse("+" + n.digits); ok {
				yield(r)
			}
		case strings.HasPrefix(n.digits, "00"):
			if r, ok := s.parse(n.digits); ok && (!yield(r) || r.e164 != "") {
				return
			}
			// The region dials abroad with another prefix (US: 011) but most
			// of the world uses 00, so "0041…" is still Swiss.
			if r, ok := guess(n.digits[2:], s); ok {
				yield(r)
			}
		case n.digits[0] == '0':
			// A trunk prefix: national format, never international.
			if r, ok := s.parse(n.digits); ok {
				yield(r)
			}
		default:
			readBare(n.digits, s, yield)
		}
	}
}

// readBare reads digits written with neither + nor leading 0: a national
// number without trunk prefix ("212 555 0100", "21 552 20 00") or an
// international number without + ("41215522000").
func readBare(digits string, s settings, yield func(reading) bool) {
	national, nok := s.parse(digits)
	// phonenumbers itself reads digits that start with the region's country
	// code as international when that gives a valid number (and strips a
	// NANP trunk 1): the international reading would find it again.
	if nok && national.e164 != "" && national.e164[1:] == digits {
		yield(national)
		return
	}
	intl, iok := guess(digits, s)
	type option struct {
		r  reading
		ok bool
	}
	order := [2]option{{national, nok}, {intl, iok}}
	// Digits that start with the tenant's own country code are most likely
	// its numbers in international form without the +.
	if strings.HasPrefix(digits, s.cc) {
		order[0], order[1] = order[1], order[0]
	}
	for _, o := range order {
		if o.ok && !yield(o.r) {
			return
		}
	}
}

// guess reads digits as an international number without its +. It skips
// the parse where the digits cannot give a valid number: a length no E.164
// number has, an unassigned country code, or a national part too short for
// its country (that reading is still returned, invalid, for its digits).
func guess(digits string, s settings) (reading, bool) {
	if len(digits) < minE164Digits || len(digits) > maxE164Digits {
		return reading{}, false
	}
	cc, nsn, ok := splitCountryCode(digits)
	if !ok {
		return reading{}, false
	}
	if s.tooShort(cc, len(nsn)) {
		return reading{cc: cc, nsn: nsn}, true
	}
	return s.parse("+" + digits)
}

// splitCountryCode splits digits after the country code, as phonenumbers
// does: country codes are prefix-free, so the first assigned one of one to
// three digits is it. The national part needs two digits for Parse.
func splitCountryCode(digits string) (int32, string, bool) {
	if digits[0] == '0' {
		return 0, "", false
	}
	for i := 1; i <= 3 && i < len(digits)-1; i++ {
		cc, _ := strconv.Atoi(digits[:i])
		if phonenumbers.GetRegionCodeForCountryCode(cc) != phonenumbers.UNKNOWN_REGION {
			return int32(cc), digits[i:], true
		}
	}
	return 0, "", false
}

// tooShort reports whether a national number of n digits is too short for
// country code cc. phonenumbers decides possibility by length alone, so any
// n-digit number will do. Where a country's parsing rules rewrite national
// numbers (Madagascar, Norfolk Island and San Marino add an area code), a
// short one may still become valid: those always get a full parse. The
// compiled metadata answers as IsPossibleNumberWithReason does.
func (s settings) tooShort(cc int32, n int) bool {
	if rewritesNational(cc) {
		return false
	}
	if !s.fullParse {
		if c, _ := facts().country(int(cc)); c != nil {
			return c.main().possibility(n) == phonenumbers.TOO_SHORT
		}
	}
	nn := uint64(1)
	for range n - 1 {
		nn *= 10
	}
	pn := phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}
	return phonenumbers.IsPossibleNumberWithReason(&pn) == phonenumbers.TOO_SHORT
}

// rewritesNational reports the country codes whose main region has a
// national prefix transform rule (TestRewritesNational keeps the list in
// step with the metadata).
func rewritesNational(cc int32) bool {
	switch cc {
	case 54, 55, 81, 241, 261, 378, 672:
		return true
	}
	return false
}

// parse reads text, digits with an optional leading +, as phonenumbers
// does: ParseToNumber in the tenant's region, then IsValidNumber. It
// returns false where Parse fails. parseDigits answers for all text but
// what Parse rejects and "+0…"; parseFull asks phonenumbers.
func (s settings) parse(text string) (reading, bool) {
	if !s.fullParse {
		if r, ok := parseDigits(text, s.region); ok {
			return r, true
		}
	}
	return parseFull(text, s.region)
}

// parseFull hands text to phonenumbers. Parse accepts numbers that are not
// valid, so validity is checked separately.
func parseFull(text, region string) (reading, bool) {
	var pn phonenumbers.PhoneNumber
	if err := phonenumbers.ParseToNumber(text, region, &pn); err != nil {
		return reading{}, false
	}
	r := reading{cc: pn.GetCountryCode(), nsn: phonenumbers.GetNationalSignificantNumber(&pn)}
	if !phonenumbers.IsValidNumber(&pn) {
		return r, true
	}
	// German metadata accepts numbers longer than E.164 allows (a DDI
	// extension glued on); an "e:" key is E.164, so such a number is keyed
	// by its digits like any invalid one.
	if e164 := phonenumbers.Format(&pn, phonenumbers.E164); len(e164)-1 <= maxE164Digits {
		r.e164 = e164
	}
	return r, true
}

// parseDigits gives the reading parseFull gives for text, digits with an
// optional leading +, without phonenumbers' per-call overhead; it returns
// false, and leaves text to parseFull, where Parse fails or the metadata
// it needs did not compile.
//
// It follows phonenumbers v1.8.1 parseHelper step by step for such text
// (TestParseDigitsMatchesFull and FuzzFastMatchesFull hold it to that;
// rerun them when phonenumbers is upgraded). What parseHelper does that
// this input makes moot is left out: text has no RFC 3966 parts, no
// letters to normalise, and is viable; the extension pattern finds nothing,
// as each of its forms needs a character other than a digit or a leading
// +. The national significant number phonenumbers keeps (uint64 plus
// Italian leading zeros) spells the national number back exactly, and
// Format(E164) is + country code national number.
func parseDigits(text, region string) (reading, bool) {
	t := facts()
	def := t.region(region)
	digits, plus := strings.CutPrefix(text, "+")
	if def == nil || !isDigits(digits) || len(digits) < phonenumbers.MIN_LENGTH_FOR_NSN {
		return reading{}, false
	}
	var (
		c *countryFacts
		// nn is the national number before its national prefix is stripped.
		nn string
		// strip is the region whose national prefix is stripped from nn.
		strip *regionFacts
	)
	rest, idd := digits, false
	if !plus {
		rest, idd = def.cutIDD(digits)
	}
	if plus || idd {
		// maybeExtractCountryCode with a + or international prefix: the
		// country calling code must follow (Parse fails otherwise, or
		// retries "+00…" in the region), then a national number of the
		// code's main region.
		if len(rest) <= phonenumbers.MIN_LENGTH_FOR_NSN || rest[0] == '0' {
			return reading{}, false
		}
		for i := 1; i <= phonenumbers.MAX_LENGTH_COUNTRY_CODE && i <= len(rest); i++ {
			cc, _ := strconv.Atoi(rest[:i])
			if f, known := t.country(cc); known {
				c, nn = f, rest[i:]
				break
			}
		}
		if c == nil {
			return reading{}, false
		}
		strip = c.main()
	} else {
		// Without either, digits that start with the region's own code are
		// international when that makes them match the general pattern or
		// they are too long for a national number (and then parsed with the
		// code's main region); all others are national.
		c, _ = t.country(int(def.cc))
		if c == nil {
			return reading{}, false
		}
		nn, strip = digits, def
		if national, ok := strings.CutPrefix(digits, c.digits); ok {
			national = def.stripNationalPrefix(national)
			if !def.general.MatchString(digits) && def.general.MatchString(national) ||
				def.testLength(len(digits)) == phonenumbers.TOO_LONG {
				nn, strip = national, c.main()
			}
		}
	}
	if len(nn) < phonenumbers.MIN_LENGTH_FOR_NSN {
		return reading{}, false
	}
	// The national prefix goes only where what remains has a possible length.
	if national := strip.stripNationalPrefix(nn); national != nn {
		switch strip.testLength(len(national)) {
		case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
		default:
			nn = national
		}
	}
	if len(nn) < phonenumbers.MIN_LENGTH_FOR_NSN || len(nn) > phonenumbers.MAX_LENGTH_FOR_NSN {
		return reading{}, false
	}
	r := reading{cc: c.cc, nsn: nn}
	if len(c.digits)+len(nn) <= maxE164Digits && c.valid(nn) {
		r.e164 = "+" + c.digits + nn
	}
	return r, true
}
