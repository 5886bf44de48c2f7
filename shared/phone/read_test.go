package phone

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// TestGuessMatchesParse checks guess's shortcuts against a full parse: a
// skipped parse would have failed, and a reading returned without parse is
// the invalid reading Parse gives.
func TestGuessMatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for range 30 {
			n := 7 + rng.IntN(9)
			var b strings.Builder
			b.WriteString(strconv.Itoa(cc))
			for b.Len() < n {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			inputs = append(inputs, b.String())
		}
	}
	inputs = append(inputs, "41215522000", "2125550100", "414412345", "26112345", "3788123456", "67212345", "9991234567")
	s, err := Options{Region: "CH"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	full := s
	full.fullParse = true
	for _, digits := range inputs {
		want, wantOK := parseFull("+"+digits, "CH")
		for _, s := range []settings{s, full} {
			if got, gotOK := guess(digits, s); gotOK != wantOK || got != want {
				t.Errorf("guess(%q), full parse %v: %+v, %v; parse = %+v, %v", digits, s.fullParse, got, gotOK, want, wantOK)
			}
		}
	}
}

// TestRewritesNational keeps rewritesNational in step with the metadata:
// a country whose parsing rules may add digits to a national number must be
// listed, or guess would skip numbers that become valid.
func TestRewritesNational(t *testing.T) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range coll.GetMetadata() {
		if phonenumbers.GetRegionCodeForCountryCode(int(m.GetCountryCode())) != m.GetId() {
			continue // not the region a + number is parsed with
		}
		want := m.GetNationalPrefixTransformRule() != ""
		if got := rewritesNational(m.GetCountryCode()); got != want {
			t.Errorf("%s (+%d) transform rule %q: rewritesNational = %v, want %v",
				m.GetId(), m.GetCountryCode(), m.GetNationalPrefixTransformRule(), got, want)
		}
	}
}

// TestMinE164Digits checks minE164Digits against the metadata: no country
// code plus shortest national number is shorter.
func TestMinE164Digits(t *testing.T) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	shortest := maxE164Digits
	for _, m := range coll.GetMetadata() {
		lengths := m.GetGeneralDesc().GetPossibleLength()
		if len(lengths) == 0 || lengths[0] < 0 {
			continue
		}
		shortest = min(shortest, len(strconv.Itoa(int(m.GetCountryCode())))+int(lengths[0]))
	}
	if shortest != minE164Digits {
		t.Errorf("shortest possible E.164 number has %d digits, minE164Digits is %d", shortest, minE164Digits)
	}
}
