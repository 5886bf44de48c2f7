package phone

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// This file holds what parsing and validating digits needs from the
// phonenumbers metadata, compiled once per region on first use. phonenumbers
// instead builds each pattern string anew on every call ("^(?:" + pattern +
// ")$"), looks the compiled pattern up in a cache behind a mutex, and
// matches each number-type pattern twice. The patterns here are built from
// the same strings and run by the same regexp package, so they match
// exactly what phonenumbers' patterns match.

// nonGeoRegion is the region phonenumbers gives non-geographic country
// calling codes (+800, +882, …).
const nonGeoRegion = "001"

// numberDesc is one number type of a region (phonenumbers.PhoneNumberDesc).
type numberDesc struct {
	// lengths are the possible lengths of the national significant number;
	// none means any length.
	lengths []int32
	// re is the national number pattern, anchored at both ends.
	re *fullMatcher
}

// matches is phonenumbers' isNumberMatchingDesc: a possible length, then
// the pattern (phonenumbers matches it twice; it is deterministic).
func (d *numberDesc) matches(nsn string) bool {
	if len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(nsn))) {
		return false
	}
	return d.re.MatchString(nsn)
}

// regionFacts is the metadata of one region compiled for parseDigits and
// countryFacts.valid.
type regionFacts struct {
	// id is the region code, nonGeoRegion for a non-geographic entity.
	id string
	// cc is the region's country calling code.
	cc int32

	// The international prefix: iddDigits when the pattern is plain digits
	// ("00", "011"), where matching it is a prefix test; iddRe otherwise.
	iddDigits string
	iddRe     *regexp.Regexp

	// The national prefix for parsing, anchored at the start: nppDigits
	// when it is plain digits ("0", "1") and there is no transform rule,
	// nppRe otherwise; neither when the region has none.
	nppDigits string
	nppRe     *regexp.Regexp
	// transform is the national prefix transform rule ("$1" style).
	transform string

	// general is the general national number pattern, anchored at both
	// ends, as parsing tests viability with it.
	general *fullMatcher
	// generalDesc is the general description with its possible lengths.
	generalDesc numberDesc
	// possible and localOnly are the general description's possible
	// lengths, for testLength; possible is never empty.
	possible, localOnly []int32
	// hasPattern is false when the general description has no pattern.
	hasPattern bool
	// types are the number types a valid number matches one of: fixed
	// line, mobile unless its pattern is the fixed line's, then the rest.
	types []numberDesc
	// leading is the leading digits pattern, anchored at the start, of a
	// region that shares its country calling code; nil when it has none.
	leading *regexp.Regexp
}

// compileRegion compiles m, or returns nil when a pattern does not compile
// or a field parsing relies on is missing: such a region is left to
// phonenumbers.
func compileRegion(m *phonenumbers.PhoneMetadata) *regionFacts {
	r := &regionFacts{id: m.GetId(), cc: m.GetCountryCode(), transform: m.GetNationalPrefixTransformRule()}
	var err error
	compile := func(pattern string) *regexp.Regexp {
		re, cerr := regexp.Compile(pattern)
		if cerr != nil {
			err = cerr
		}
		return re
	}
	desc := func(d *phonenumbers.PhoneNumberDesc) numberDesc {
		re, cerr := compileFull(d.GetNationalNumberPattern())
		if cerr != nil {
			err = cerr
		}
		return numberDesc{lengths: d.GetPossibleLength(), re: re}
	}

	if idd := m.GetInternationalPrefix(); isDigits(idd) {
		r.iddDigits = idd
	} else {
		r.iddRe = compile(idd)
	}
	if npp := m.GetNationalPrefixForParsing(); isDigits(npp) && r.transform == "" {
		r.nppDigits = npp
	} else if npp != "" {
		r.nppRe = compile("^(?:" + npp + ")")
	}

	g := m.GetGeneralDesc()
	if g == nil || len(g.GetPossibleLength()) == 0 {
		return nil
	}
	r.generalDesc = desc(g)
	r.general = r.generalDesc.re
	r.possible, r.localOnly = g.GetPossibleLength(), g.GetPossibleLengthLocalOnly()
	r.hasPattern = g.GetNationalNumberPattern() != ""

	typeDescs := []*phonenumbers.PhoneNumberDesc{m.GetFixedLine()}
	if !m.GetSameMobileAndFixedLinePattern() {
		typeDescs = append(typeDescs, m.GetMobile())
	}
	typeDescs = append(typeDescs, m.GetTollFree(), m.GetPremiumRate(), m.GetSharedCost(), m.GetVoip(),
		m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail())
	for _, d := range typeDescs {
		if d == nil {
			return nil // phonenumbers would not get past it either
		}
		// A type the region does not have lists -1 as its only length:
		// no number matches it.
		if l := d.GetPossibleLength(); len(l) == 1 && l[0] == -1 {
			continue
		}
		r.types = append(r.types, desc(d))
	}
	if ld := m.GetLeadingDigits(); ld != "" {
		r.leading = compile("^(?:" + ld + ")")
	}
	if err != nil {
		return nil
	}
	return r
}

// cutIDD is phonenumbers' parsePrefixAsIdd: it strips the region's
// international prefix from the start of digits, unless a 0 follows it (no
// country calling code starts with 0).
func (r *regionFacts) cutIDD(digits string) (string, bool) {
	end := -1
	if r.iddRe == nil {
		if strings.HasPrefix(digits, r.iddDigits) {
			end = len(r.iddDigits)
		}
	} else if loc := r.iddRe.FindStringIndex(digits); loc != nil && loc[0] == 0 {
		end = loc[1]
	}
	if end < 0 || end < len(digits) && digits[end] == '0' {
		return digits, false
	}
	return digits[end:], true
}

// stripNationalPrefix is phonenumbers' maybeStripNationalPrefixAndCarrierCode
// without the carrier code: it strips or transforms the national prefix at
// the start of number, unless that turns a number matching the general
// pattern into one that does not.
func (r *regionFacts) stripNationalPrefix(number string) string {
	if number == "" || r.nppDigits == "" && r.nppRe == nil {
		return number
	}
	var end int
	if r.nppRe == nil {
		if !strings.HasPrefix(number, r.nppDigits) {
			return number
		}
		end = len(r.nppDigits)
	} else {
		groups := r.nppRe.FindStringSubmatchIndex(number)
		if groups == nil {
			return number
		}
		// The transform rule applies when the last group took part in the
		// match ("([2-9]\d{6})$|1" for NANP islands adds their area code).
		if last := len(groups)/2 - 1; r.transform != "" && groups[2*last] >= 0 {
			transformed := r.nppRe.ReplaceAllString(number, r.transform)
			if r.general.MatchString(number) && !r.general.MatchString(transformed) {
				return number
			}
			return transformed
		}
		end = groups[1]
	}
	if r.general.MatchString(number) && !r.general.MatchString(number[end:]) {
		return number
	}
	return number[end:]
}

// testLength is phonenumbers' testNumberLength for the general description
// (number type UNKNOWN) and a number of length digits.
func (r *regionFacts) testLength(length int) phonenumbers.ValidationResult {
	if r.possible[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	n := int32(length)
	switch {
	case slices.Contains(r.localOnly, n):
		return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
	case r.possible[0] == n:
		return phonenumbers.IS_POSSIBLE
	case r.possible[0] > n:
		return phonenumbers.TOO_SHORT
	case r.possible[len(r.possible)-1] < n:
		return phonenumbers.TOO_LONG
	case slices.Contains(r.possible[1:], n):
		return phonenumbers.IS_POSSIBLE
	}
	return phonenumbers.INVALID_LENGTH
}

// possibility is phonenumbers.IsPossibleNumberWithReason for a national
// significant number of length digits in the region's country.
func (r *regionFacts) possibility(length int) phonenumbers.ValidationResult {
	if !r.hasPattern {
		switch {
		case length < phonenumbers.MIN_LENGTH_FOR_NSN:
			return phonenumbers.TOO_SHORT
		case length > phonenumbers.MAX_LENGTH_FOR_NSN:
			return phonenumbers.TOO_LONG
		}
		return phonenumbers.IS_POSSIBLE
	}
	return r.testLength(length)
}

// hasType reports whether phonenumbers' getNumberTypeHelper gives nsn a
// type other than UNKNOWN in this region: it matches the general
// description and at least one type. The order of the types does not
// change the answer, so the common ones go first.
func (r *regionFacts) hasType(nsn string) bool {
	if !r.generalDesc.matches(nsn) {
		return false
	}
	for i := range r.types {
		if r.types[i].matches(nsn) {
			return true
		}
	}
	return false
}

// countryFacts is one country calling code and its regions.
type countryFacts struct {
	cc int32
	// digits is cc in decimal ("41").
	digits string
	// regions are the code's regions in phonenumbers' order; the first is
	// the main region, whose metadata parses numbers with this code.
	regions []*regionFacts
}

// main returns the region whose metadata parsing uses for the code.
func (c *countryFacts) main() *regionFacts {
	return c.regions[0]
}

// valid is phonenumbers.IsValidNumber for a number with this code and the
// national significant number nsn: GetRegionCodeForNumber, then
// IsValidNumberForRegion.
func (c *countryFacts) valid(nsn string) bool {
	r := c.regions[0]
	if len(c.regions) > 1 {
		// getRegionCodeForNumberFromRegionList: the first region whose
		// leading digits match or, without leading digits, that gives the
		// number a type.
		r = nil
		for _, x := range c.regions {
			if x.leading != nil {
				if x.leading.MatchString(nsn) {
					r = x
					break
				}
			} else if x.hasType(nsn) {
				// IsValidNumberForRegion would check the type again.
				return x.id == nonGeoRegion || x.cc == c.cc
			}
		}
		if r == nil {
			return false
		}
	}
	return (r.id == nonGeoRegion || r.cc == c.cc) && r.hasType(nsn)
}

// factTables index the compiled metadata; entries compile on first use.
type factTables struct {
	regions   map[string]func() *regionFacts
	countries map[int]func() *countryFacts
}

// facts returns the tables, built on first use from the metadata
// phonenumbers itself loaded.
var facts = sync.OnceValue(func() *factTables {
	t := &factTables{regions: map[string]func() *regionFacts{}, countries: map[int]func() *countryFacts{}}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return t // everything goes to phonenumbers
	}
	// Keyed as phonenumbers keys its maps: a later entry for the same
	// region replaces an earlier one.
	nonGeo := map[int]func() *regionFacts{}
	for _, m := range coll.GetMetadata() {
		f := sync.OnceValue(func() *regionFacts { return compileRegion(m) })
		if m.GetId() == nonGeoRegion {
			nonGeo[int(m.GetCountryCode())] = f
		} else {
			t.regions[m.GetId()] = f
		}
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		ids := phonenumbers.GetRegionCodesForCountryCode(cc)
		t.countries[cc] = sync.OnceValue(func() *countryFacts {
			c := &countryFacts{cc: int32(cc), digits: strconv.Itoa(cc)}
			for _, id := range ids {
				f := t.regions[id]
				if id == nonGeoRegion {
					if len(ids) > 1 {
						return nil // phonenumbers has no metadata for it in a list
					}
					f = nonGeo[cc]
				}
				if f == nil || f() == nil {
					return nil
				}
				c.regions = append(c.regions, f())
			}
			if len(c.regions) == 0 {
				return nil
			}
			return c
		})
	}
	return t
})

// region returns the facts of a region, nil when they are not available.
func (t *factTables) region(id string) *regionFacts {
	if f := t.regions[id]; f != nil {
		return f()
	}
	return nil
}

// country returns the facts of a country calling code, nil when it has
// none or they are not available; ok reports whether phonenumbers knows the
// code.
func (t *factTables) country(cc int) (c *countryFacts, ok bool) {
	if f := t.countries[cc]; f != nil {
		return f(), true
	}
	return nil, false
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
