package phone

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// The tests in this file hold parseDigits and countryFacts.valid to what
// phonenumbers itself answers, on numbers generated from every region's
// metadata: parseDigits must give parseFull's reading wherever it gives
// one, and Candidates and IndexKeys must not change when it is switched off.

// diffCase is one text read in one tenant region.
type diffCase struct {
	text   string // digits with an optional leading +
	region string
}

// exampleNSNs returns the example national significant numbers of every
// type of m, and the digits of the fixed-line and mobile examples in
// national format (with trunk prefix, carrier code, …).
func exampleNSNs(m *phonenumbers.PhoneMetadata) (nsns, national []string) {
	for _, d := range []*phonenumbers.PhoneNumberDesc{
		m.GetFixedLine(), m.GetMobile(), m.GetTollFree(), m.GetPremiumRate(), m.GetSharedCost(),
		m.GetVoip(), m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(),
	} {
		if ex := d.GetExampleNumber(); isDigits(ex) {
			nsns = append(nsns, ex)
		}
	}
	if m.GetId() == nonGeoRegion {
		return nsns, nil
	}
	for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE} {
		if pn := phonenumbers.GetExampleNumberForType(m.GetId(), typ); pn != nil {
			national = append(national, digitsOf(phonenumbers.Format(pn, phonenumbers.NATIONAL)))
		}
	}
	return nsns, national
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// variants returns s and numbers near it: its last digits redrawn (often
// still valid), one to four digits shorter, one or two longer, without its
// first digits (local numbers), and with a leading 0.
func variants(rng *rand.Rand, s string) []string {
	out := []string{s, "0" + s, s + randomDigits(rng, 1), s + randomDigits(rng, 2)}
	for k := 1; k <= 4 && k < len(s); k++ {
		out = append(out, s[:len(s)-k]+randomDigits(rng, k), s[:len(s)-k], s[k:])
	}
	return out
}

// iddsOf returns the international prefixes dialled from m's region: its
// own when it is plain digits, its preferred one, and the common 00 and 011.
func iddsOf(m *phonenumbers.PhoneMetadata) []string {
	idds := []string{"00", "011"}
	for _, p := range []string{m.GetInternationalPrefix(), m.GetPreferredInternationalPrefix()} {
		if isDigits(p) && !slices.Contains(idds, p) {
			idds = append(idds, p)
		}
	}
	return idds
}

// diffCases generates, for every region in phonenumbers' metadata as the
// tenant's region: its example numbers of every type and numbers near them,
// random digits of every length from 2 to 17, each written nationally with
// and without trunk prefix, with the country code with and without + and
// with 00 or another international prefix, and "+41 (0)…" style; and
// numbers of other countries as phone systems send them. Generated once,
// deterministically.
var diffCases = sync.OnceValue(func() []diffCase {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	metas := coll.GetMetadata()
	seen := map[diffCase]bool{}
	var out []diffCase
	add := func(text, region string) {
		c := diffCase{text, region}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, m := range metas {
		region := m.GetId()
		if phonenumbers.GetCountryCodeForRegion(region) == 0 {
			continue // not a region a tenant can have
		}
		cc := strconv.Itoa(int(m.GetCountryCode()))
		ndd := phonenumbers.GetNddPrefixForRegion(region, true)
		idds := iddsOf(m)
		examples, national := exampleNSNs(m)
		var nsns []string
		for _, ex := range examples {
			nsns = append(nsns, variants(rng, ex)...)
		}
		for l := 2; l <= 17; l++ {
			nsns = append(nsns, randomDigits(rng, l))
		}
		for _, v := range nsns {
			for _, text := range []string{
				v, ndd + v, "0" + v, cc + v, cc + ndd + v, "+" + cc + v, "+" + cc + ndd + v,
				"+" + v, "00" + cc + v, idds[rng.IntN(len(idds))] + cc + v, "00" + v, "+0" + v,
			} {
				if len(strings.TrimPrefix(text, "+")) <= maxDigits {
					add(text, region)
				}
			}
		}
		for _, nat := range national {
			for _, v := range variants(rng, nat) {
				add(v, region)
				add(cc+v, region)
				add("+"+cc+v, region)
			}
		}
		// Numbers of other countries, including non-geographic ones.
		for range 4 {
			o := metas[rng.IntN(len(metas))]
			occ := strconv.Itoa(int(o.GetCountryCode()))
			onsns, _ := exampleNSNs(o)
			for _, nsn := range onsns {
				for _, v := range variants(rng, nsn)[:6] {
					add("+"+occ+v, region)
					add(occ+v, region)
					add("00"+occ+v, region)
					add(idds[rng.IntN(len(idds))]+occ+v, region)
				}
			}
		}
	}
	return out
})

// TestParseDigitsMatchesFull checks parseDigits against phonenumbers: where
// it gives a reading, Parse succeeds and gives the same one.
func TestParseDigitsMatchesFull(t *testing.T) {
	cases := sample(diffCases(), 1)
	var n, valid, fast, failed int
	fellBack := map[string]int{}
	for _, c := range cases {
		got, handled := parseDigits(c.text, c.region)
		want, wantOK := parseFull(c.text, c.region)
		switch {
		case handled:
			fast++
			if !wantOK || got != want {
				t.Errorf("parseDigits(%q, %s) = %+v; phonenumbers: %+v, %v", c.text, c.region, got, want, wantOK)
			}
		case !wantOK:
			failed++
		default:
			fellBack[fallbackKind(c.text)]++
		}
		n++
		if want.e164 != "" {
			valid++
		}
	}
	t.Logf("%d texts in %d regions, %d valid: parseDigits read %d, Parse fails on %d, phonenumbers read %d %v",
		n, len(phonenumbers.GetSupportedRegions()), valid, fast, failed, n-fast-failed, fellBack)
	if valid < n/20 {
		t.Errorf("only %d of %d generated texts are valid numbers: the generator lost its aim", valid, n)
	}
	// The fallbacks are the forms Parse retries in the tenant's region:
	// + followed by 0.
	for kind := range fellBack {
		if kind != "+0" {
			t.Errorf("parseDigits left %d texts of the form %s to phonenumbers", fellBack[kind], kind)
		}
	}
}

// fallbackKind classifies a text parseDigits left to phonenumbers.
func fallbackKind(text string) string {
	switch {
	case strings.HasPrefix(text, "+0"):
		return "+0"
	case strings.HasPrefix(text, "+"):
		return "+"
	}
	return "national or IDD"
}

// sample returns every step-th case, more apart under -short and the race
// detector: the comparisons are deterministic, the race run is about
// concurrency.
func sample(cases []diffCase, step int) []diffCase {
	if testing.Short() {
		step *= 10
	}
	if raceEnabled {
		step *= 25
	}
	if step == 1 {
		return cases
	}
	out := make([]diffCase, 0, len(cases)/step+1)
	for i := 0; i < len(cases); i += step {
		out = append(out, cases[i])
	}
	return out
}

// TestValidMatchesIsValidNumber checks countryFacts.valid against
// phonenumbers.IsValidNumber for every country calling code, on the
// example numbers of all its regions, numbers near them and random digits.
// Codes shared by several regions (NANP +1, +7, +44, …) pick the region as
// phonenumbers does.
func TestValidMatchesIsValidNumber(t *testing.T) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	byCC := map[int32][]string{}
	for _, m := range coll.GetMetadata() {
		nsns, _ := exampleNSNs(m)
		byCC[m.GetCountryCode()] = append(byCC[m.GetCountryCode()], nsns...)
	}
	n, valid := 0, 0
	for _, cc := range slices.Sorted(maps.Keys(phonenumbers.GetSupportedCallingCodes())) {
		c, _ := facts().country(cc)
		if c == nil {
			t.Errorf("+%d: no facts", cc)
			continue
		}
		nsns := byCC[int32(cc)]
		for l := 2; l <= 17; l++ {
			nsns = append(nsns, randomDigits(rng, l))
		}
		for _, nsn := range nsns {
			for _, v := range variants(rng, nsn) {
				if len(v) < 2 || len(v) > phonenumbers.MAX_LENGTH_FOR_NSN {
					continue
				}
				pn := numberOf(int32(cc), v)
				if got := phonenumbers.GetNationalSignificantNumber(pn); got != v {
					t.Fatalf("numberOf(%d, %q) has national significant number %q", cc, v, got)
				}
				want := phonenumbers.IsValidNumber(pn)
				if got := c.valid(v); got != want {
					t.Errorf("+%d %s: valid = %v, IsValidNumber = %v", cc, v, got, want)
				}
				n++
				if want {
					valid++
				}
			}
		}
	}
	t.Logf("%d numbers, %d valid", n, valid)
}

// TestTooShortMatchesFull checks tooShort's answer from the facts against
// phonenumbers.IsPossibleNumberWithReason for every calling code and length.
func TestTooShortMatchesFull(t *testing.T) {
	fast := settings{}
	full := settings{fullParse: true}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for n := 1; n <= phonenumbers.MAX_LENGTH_FOR_NSN+1; n++ {
			if got, want := fast.tooShort(int32(cc), n), full.tooShort(int32(cc), n); got != want {
				t.Errorf("+%d, %d digits: tooShort = %v, phonenumbers says %v", cc, n, got, want)
			}
		}
	}
}

// numberOf builds the PhoneNumber Parse gives for national significant
// number nsn, leading zeros included.
func numberOf(cc int32, nsn string) *phonenumbers.PhoneNumber {
	nn, _ := strconv.ParseUint(nsn, 10, 64)
	pn := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}
	if len(nsn) > 1 && nsn[0] == '0' {
		zeros := int32(1)
		for int(zeros) < len(nsn)-1 && nsn[zeros] == '0' {
			zeros++
		}
		italian := true
		pn.ItalianLeadingZero = &italian
		pn.NumberOfLeadingZeros = &zeros
	}
	return pn
}

// TestCandidatesMatchFull checks that Candidates and IndexKeys give the
// same keys and errors with parseDigits as with phonenumbers alone, for
// every eighth generated text, spelled with separators half the time, read
// in its region and in a random other one.
func TestCandidatesMatchFull(t *testing.T) {
	cases := diffCases()
	regions := allRegions()
	rng := rand.New(rand.NewPCG(5, 6))
	n := 0
	for _, c := range sample(cases, 8) {
		for _, region := range []string{c.region, regions[rng.IntN(len(regions))]} {
			input := c.text
			if rng.IntN(2) == 0 {
				input = spaced(rng, input)
			}
			compareWithFull(t, input, Options{Region: region, TailDigits: MinTailDigits + rng.IntN(MaxTailDigits-MinTailDigits+1)})
			n++
		}
	}
	t.Logf("%d inputs compared", n)
}

// allRegions are the regions phonenumbers supports, sorted.
var allRegions = sync.OnceValue(func() []string {
	return slices.Sorted(maps.Keys(phonenumbers.GetSupportedRegions()))
})

// FuzzFastMatchesFull feeds Candidates and IndexKeys any input in any
// region, and parseDigits its digits, and compares them with phonenumbers
// alone.
func FuzzFastMatchesFull(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, uint16(i), uint8(i))
	}
	for _, s := range []string{"+12684601234", "4601234", "0111523456789", "+0041215522000", "011541123456789", "+8613800138000"} {
		f.Add(s, uint16(len(s)), uint8(0))
	}
	f.Fuzz(func(t *testing.T, input string, region uint16, tail uint8) {
		regions := allRegions()
		opt := Options{Region: regions[int(region)%len(regions)], TailDigits: MinTailDigits + int(tail)%(MaxTailDigits-MinTailDigits+1)}
		compareWithFull(t, input, opt)

		text := digitsOf(input)
		if len(text) > maxDigits {
			return
		}
		if strings.HasPrefix(input, "+") {
			text = "+" + text
		}
		if got, ok := parseDigits(text, opt.Region); ok {
			if want, wantOK := parseFull(text, opt.Region); !wantOK || got != want {
				t.Errorf("parseDigits(%q, %s) = %+v; phonenumbers: %+v, %v", text, opt.Region, got, want, wantOK)
			}
		}
	})
}

// spaced writes digits as people do: groups separated by spaces, dashes,
// dots or slashes.
func spaced(rng *rand.Rand, text string) string {
	var b strings.Builder
	for i, r := range text {
		if i > 0 && r != '+' && rng.IntN(3) == 0 {
			b.WriteByte(" -./"[rng.IntN(4)])
		}
		b.WriteRune(r)
	}
	return b.String()
}

// compareWithFull fails t when Candidates or IndexKeys of input give other
// keys or errors with parseDigits than without.
func compareWithFull(t *testing.T, input string, opt Options) {
	t.Helper()
	s, err := opt.resolve()
	if err != nil {
		t.Fatalf("%+v: %v", opt, err)
	}
	full := s
	full.fullParse = true

	got, err := candidates(input, s)
	want, wantErr := candidates(input, full)
	if !slices.Equal(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("Candidates(%q, %s) = %q, %v; with phonenumbers alone %q, %v", input, opt.Region, got, err, want, wantErr)
	}
	e164, keys, err := indexKeys(input, s)
	wantE164, wantKeys, wantErr := indexKeys(input, full)
	if e164 != wantE164 || !slices.Equal(keys, wantKeys) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("IndexKeys(%q, %s) = %q, %q, %v; with phonenumbers alone %q, %q, %v",
			input, opt.Region, e164, keys, err, wantE164, wantKeys, wantErr)
	}
}

// TestParseDigitsCovers checks that the spellings phone systems send most
// are read by parseDigits, not left to phonenumbers: a fallback would keep
// the keys right but lose the speed silently.
func TestParseDigitsCovers(t *testing.T) {
	tests := []struct {
		text   string
		region string
	}{
		{"41215522000", "CH"}, {"+41215522000", "CH"}, {"0215522000", "CH"}, {"215522000", "CH"},
		{"0041215522000", "CH"}, {"+414412345", "CH"}, {"04412345", "CH"}, {"0791234567", "CH"},
		{"+12125550100", "US"}, {"2125550100", "US"}, {"12125550100", "US"}, {"01141215522000", "US"},
		{"+12125550100", "CH"}, {"+442079460958", "GB"}, {"02079460958", "GB"}, {"03012345678", "DE"},
		{"+493012345678", "DE"}, {"0142685300", "FR"}, {"0669821234", "IT"}, {"+390669821234", "IT"},
		{"01110", "AT"}, {"+12684601234", "US"}, {"4601234", "AG"}, {"01115 23456789", "AR"},
	}
	for _, tt := range tests {
		text := strings.ReplaceAll(tt.text, " ", "")
		got, ok := parseDigits(text, tt.region)
		want, wantOK := parseFull(text, tt.region)
		if !ok || !wantOK || got != want {
			t.Errorf("parseDigits(%q, %s) = %+v, %v; phonenumbers: %+v, %v", text, tt.region, got, ok, want, wantOK)
		}
	}
}

// TestFactsCompile checks that every region's and calling code's metadata
// compiles, so that no tenant region quietly falls back to phonenumbers.
func TestFactsCompile(t *testing.T) {
	for region := range phonenumbers.GetSupportedRegions() {
		if facts().region(region) == nil {
			t.Errorf("%s: no facts", region)
		}
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		if c, _ := facts().country(cc); c == nil {
			t.Errorf("+%d: no facts", cc)
		}
	}
}

// TestExtensionNeedsNonDigit backs parseDigits skipping phonenumbers'
// extension pattern: no state of the pattern that accepts is reachable
// from its start through digits and + alone, so it finds nothing in the
// text parse gets, at any position, whatever its length.
func TestExtensionNeedsNonDigit(t *testing.T) {
	re, err := syntax.Parse(phonenumbers.EXTN_PATTERN.String(), syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "0123456789+"
	seen := make([]bool, len(prog.Inst))
	stack := []uint32{uint32(prog.Start)}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		inst := &prog.Inst[pc]
		switch inst.Op {
		case syntax.InstMatch:
			t.Fatalf("extension pattern %q accepts text of digits and +", phonenumbers.EXTN_PATTERN)
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, inst.Out, inst.Arg)
		case syntax.InstCapture, syntax.InstNop, syntax.InstEmptyWidth:
			// Assertions are taken as met: that can only add states.
			stack = append(stack, inst.Out)
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			for _, r := range alphabet {
				if inst.MatchRune(r) {
					stack = append(stack, inst.Out)
					break
				}
			}
		case syntax.InstFail:
		default:
			t.Fatalf("instruction %v not handled", inst.Op)
		}
	}
}

// TestDigitLiteralPatterns backs cutIDD's and stripNationalPrefix's prefix
// tests: a pattern of plain digits matches exactly itself.
func TestDigitLiteralPatterns(t *testing.T) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range coll.GetMetadata() {
		for _, p := range []string{m.GetInternationalPrefix(), m.GetNationalPrefixForParsing()} {
			if !isDigits(p) {
				continue
			}
			re := regexp.MustCompile("^(?:" + p + ")")
			for _, s := range []string{p, p + "1", p + "0", p[:len(p)-1], "9" + p} {
				loc := re.FindStringIndex(s)
				if want := strings.HasPrefix(s, p); (loc != nil) != want || want && loc[1] != len(p) {
					t.Errorf("%s: pattern %q on %q matches %v", m.GetId(), p, s, loc)
				}
			}
		}
	}
}
