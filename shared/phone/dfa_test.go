package phone

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// Every national number pattern of the metadata gets an automaton, and it
// answers as its regexp: on random digit strings of every length, on each
// type's example number, and on the example with one digit changed, one
// cut off and one added. Text that is not digits is the regexp's to answer.
func TestDigitDFAMatchesRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	randomDigits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	patterns, built, checked, states := 0, 0, 0, 0
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	for _, md := range coll.GetMetadata() {
		region := md.GetId()
		for _, d := range []*phonenumbers.PhoneNumberDesc{md.GetGeneralDesc(), md.GetFixedLine(), md.GetMobile(), md.GetTollFree(),
			md.GetPremiumRate(), md.GetSharedCost(), md.GetVoip(), md.GetPersonalNumber(), md.GetPager(), md.GetUan(), md.GetVoicemail()} {
			if d == nil || d.GetNationalNumberPattern() == "" {
				continue
			}
			m, err := compileFull(d.GetNationalNumberPattern())
			if err != nil {
				t.Fatalf("%s: %v", region, err)
			}
			patterns++
			if m.dfa == nil {
				continue
			}
			built++
			states += len(m.dfa.next)
			inputs := []string{""}
			for n := 1; n <= 17; n++ {
				for range 20 {
					inputs = append(inputs, randomDigits(n))
				}
			}
			if ex := d.GetExampleNumber(); ex != "" {
				i := rng.IntN(len(ex))
				inputs = append(inputs, ex, ex[:i]+string(rune('0'+(ex[i]-'0'+1)%10))+ex[i+1:], ex[:len(ex)-1], ex+"5")
			}
			for _, s := range inputs {
				got, sure := m.dfa.match(s)
				if !sure {
					t.Fatalf("%s %q: %q not read", region, d.GetNationalNumberPattern(), s)
				}
				if want := m.re.MatchString(s); got != want {
					t.Fatalf("%s %q: %q matches %v, regexp says %v", region, d.GetNationalNumberPattern(), s, got, want)
				}
				checked++
			}
			for _, s := range []string{"12a4", "+41215522000", "١٢٣", strings.Repeat("9", 8) + " "} {
				if _, sure := m.dfa.match(s); sure {
					t.Fatalf("%q read by the automaton", s)
				}
				if m.MatchString(s) != m.re.MatchString(s) {
					t.Fatalf("%q: MatchString differs from the regexp", s)
				}
			}
		}
	}
	if built < patterns {
		t.Errorf("automata for %d of %d patterns, want all", built, patterns)
	}
	t.Logf("%d patterns, %d automata (%d states), %d strings compared", patterns, built, states, checked)
}
