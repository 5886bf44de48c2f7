package phone

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// benchInputs are the spellings phone systems send most, and the slow paths.
var benchInputs = []struct {
	name   string
	input  string
	region string
}{
	{"peoplefone", "41215522000", "CH"},
	{"international", "+41 21 552 20 00", "CH"},
	{"national", "021 552 20 00", "CH"},
	{"tel URI", "tel:+41215522000;ext=12", "CH"},
	{"US with extension", "+1 (212) 555-0100 x204", "US"},
	{"US national", "(212) 555-0100", "US"},
	{"invalid", "+41 44 123 45", "CH"},
	{"junk", "+41 21 CALL NOW", "CH"},
}

// BenchmarkCandidates measures the ringing-path cost per lookup, for the
// spellings phone systems send most and for the slow paths.
func BenchmarkCandidates(b *testing.B) {
	for _, bm := range benchInputs {
		b.Run(bm.name, func(b *testing.B) {
			opt := Options{Region: bm.region}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Candidates(bm.input, opt)
			}
		})
	}
	b.Run("distinct", func(b *testing.B) {
		in := distinctNumbers()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x := in[i%len(in)]
			i++
			_, _ = Candidates(x.input, Options{Region: x.region})
		}
	})
}

// BenchmarkIndexKeys measures the cost per stored number, which bounds
// sync and index rebuild throughput.
func BenchmarkIndexKeys(b *testing.B) {
	for _, bm := range benchInputs {
		b.Run(bm.name, func(b *testing.B) {
			opt := Options{Region: bm.region}
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = IndexKeys(bm.input, opt)
			}
		})
	}
	b.Run("distinct", func(b *testing.B) {
		in := distinctNumbers()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x := in[i%len(in)]
			i++
			_, _, _ = IndexKeys(x.input, Options{Region: x.region})
		}
	})
}

type benchInput struct{ input, region string }

// distinctNumbers are 100,000 different valid CH, US and DE numbers, each
// in one of the spellings phone systems and CRMs use (international,
// national, international without + as peoplefone sends it, 00 prefix),
// read in their own region. Going through them all keeps any cache inside
// phonenumbers or this package from making a benchmark look fast.
var distinctNumbers = sync.OnceValue(func() []benchInput {
	const n = 100_000
	rng := rand.New(rand.NewPCG(7, 11))
	regions := []string{"CH", "US", "DE"}
	var templates [][]string // national significant numbers per region
	for _, region := range regions {
		var nsns []string
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE} {
			nsns = append(nsns, phonenumbers.GetNationalSignificantNumber(phonenumbers.GetExampleNumberForType(region, typ)))
		}
		templates = append(templates, nsns)
	}
	seen := make(map[string]bool, n)
	out := make([]benchInput, 0, n)
	for len(out) < n {
		i := rng.IntN(len(regions))
		tmpl := templates[i][rng.IntN(len(templates[i]))]
		// Keep the first digit, so that most numbers come out valid, and
		// draw the rest.
		var b strings.Builder
		b.WriteByte(tmpl[0])
		for b.Len() < len(tmpl) {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		pn, err := phonenumbers.Parse(b.String(), regions[i])
		if err != nil || !phonenumbers.IsValidNumberForRegion(pn, regions[i]) {
			continue
		}
		e164 := phonenumbers.Format(pn, phonenumbers.E164)
		if seen[e164] {
			continue
		}
		seen[e164] = true
		var input string
		switch rng.IntN(4) {
		case 0:
			input = phonenumbers.Format(pn, phonenumbers.INTERNATIONAL)
		case 1:
			input = phonenumbers.Format(pn, phonenumbers.NATIONAL)
		case 2:
			input = e164[1:]
		default:
			input = "00" + e164[1:]
		}
		out = append(out, benchInput{input, regions[i]})
	}
	return out
})
