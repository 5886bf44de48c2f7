package phone

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// fuzzRegions are the tenant regions the fuzzers pick from, by index.
var fuzzRegions = []string{"CH", "US", "GB", "DE", "FR", "RO", "IT", "BR", "IN", "AT"}

var fuzzSeeds = []string{
	"41215522000", "0041215522000", "+41 21 552 20 00", "0215522000", "021/552.20.00",
	"tel:+41215522000;ext=12", "+1 (212) 555-0100 x204", "(212) 555-0100", "12125550100",
	"2125550100", "+44 20 7946 0958", "020 7946 0958", "+49 30 12345678", "030 12345678",
	"+33 1 42 68 53 00", "01 42 68 53 00", "+40 21 318 1157", "021 318 1157",
	"+41 (0)21 552 20 00", "٠٢١٥٥٢٢٠٠٠", "+41 44 123 45", "492677935", "204", "",
	"abc", "   ", "+41 21 CALL NOW", strings.Repeat("1234567890", 4), "011 41 21 552 20 00",
	"＋４１ ２１ ５５２ ２０ ００", "𝟎𝟐𝟏𝟓𝟓𝟐𝟐𝟎𝟎𝟎", "+41215522000,,12", "0 ext",
}

func fuzzOptions(region, tail uint8) Options {
	opt := Options{Region: fuzzRegions[int(region)%len(fuzzRegions)]}
	if tail%2 == 1 { // half the time the default
		opt.TailDigits = MinTailDigits + int(tail/2)%(MaxTailDigits-MinTailDigits+1)
	}
	return opt
}

func addSeeds(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, uint8(i), uint8(0))
	}
}

// FuzzCandidates feeds Candidates what a phone system might send and checks
// the keys' shape, and that IndexKeys of the same input meets them.
func FuzzCandidates(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, input string, region, tail uint8) {
		opt := fuzzOptions(region, tail)
		got, err := Candidates(input, opt)
		if err != nil {
			if !errors.Is(err, ErrNotANumber) || got != nil {
				t.Fatalf("Candidates(%q) = %q, %v; want nil, ErrNotANumber", input, got, err)
			}
			if _, _, err := IndexKeys(input, opt); !errors.Is(err, ErrNotANumber) {
				t.Fatalf("IndexKeys(%q): %v; Candidates said ErrNotANumber", input, err)
			}
			return
		}
		checkKeys(t, got, opt)
		if !isOrdered(got) {
			t.Fatalf("Candidates(%q) = %q: not e:, d:, t: in that order", input, got)
		}

		e164, index, err := IndexKeys(input, opt)
		if err != nil {
			t.Fatalf("IndexKeys(%q): %v; Candidates gave %q", input, err, got)
		}
		if e164 != "" && got[0] != Key(prefixE164+e164) {
			t.Fatalf("Candidates(%q) = %q, IndexKeys E.164 %q is not the first key", input, got, e164)
		}
		if _, ok := firstShared(index, got); !ok {
			t.Fatalf("IndexKeys(%q) = %q and Candidates = %q do not meet", input, index, got)
		}
	})
}

// FuzzIndexKeys feeds IndexKeys what a CRM might store and checks the keys'
// shape, and that an E.164 result reads back as itself in any region.
func FuzzIndexKeys(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, raw string, region, tail uint8) {
		opt := fuzzOptions(region, tail)
		e164, got, err := IndexKeys(raw, opt)
		if err != nil {
			if !errors.Is(err, ErrNotANumber) || e164 != "" || got != nil {
				t.Fatalf("IndexKeys(%q) = %q, %q, %v; want ErrNotANumber", raw, e164, got, err)
			}
			return
		}
		checkKeys(t, got, opt)
		if len(got) > 2 {
			t.Fatalf("IndexKeys(%q) = %q: more than two keys", raw, got)
		}
		if e164 == "" {
			if got[0].kindPrefix() != prefixDigits {
				t.Fatalf("IndexKeys(%q) = %q, no E.164 but no d: key first", raw, got)
			}
			return
		}
		if got[0] != Key(prefixE164+e164) {
			t.Fatalf("IndexKeys(%q) = %q, %q: E.164 key is not first", raw, e164, got)
		}
		if n, err := Normalize(raw, opt); n != e164 || err != nil {
			t.Fatalf("Normalize(%q) = %q, %v; IndexKeys said %q", raw, n, err, e164)
		}
		again := fuzzOptions(region+1, tail)
		if n, err := Normalize(e164, again); n != e164 || err != nil {
			t.Fatalf("Normalize(%q, %s) = %q, %v; want it unchanged", e164, again.Region, n, err)
		}
	})
}

// checkKeys asserts what every key list holds: keys, each with a known
// prefix, a well-formed body, and no key twice.
func checkKeys(t *testing.T, ks []Key, opt Options) {
	t.Helper()
	if len(ks) == 0 {
		t.Fatal("no keys and no error")
	}
	tail := opt.TailDigits
	if tail == 0 {
		tail = DefaultTailDigits
	}
	for i, k := range ks {
		if slices.Contains(ks[:i], k) {
			t.Fatalf("keys %q: %q twice", ks, k)
		}
		body := string(k[min(2, len(k)):])
		switch k.kindPrefix() {
		case prefixE164:
			// Valid as phonenumbers sees it, and already in E.164 form.
			// Valid numbers are 6 to 15 digits (Vienna has +43 1 110).
			if !strings.HasPrefix(body, "+") || !allDigits(body[1:]) || len(body)-1 < minE164Digits || len(body)-1 > maxE164Digits {
				t.Fatalf("keys %q: %q is not E.164", ks, k)
			}
			if pn, err := phonenumbers.Parse(body, "ZZ"); err != nil || !phonenumbers.IsValidNumber(pn) || phonenumbers.Format(pn, phonenumbers.E164) != body {
				t.Fatalf("keys %q: %q is not a valid E.164 number", ks, k)
			}
		case prefixDigits:
			if !allDigits(body) || len(body) < minDigits || len(body) > maxDigits {
				t.Fatalf("keys %q: %q has bad digits", ks, k)
			}
		case prefixTail:
			if !allDigits(body) || len(body) != tail {
				t.Fatalf("keys %q: %q is not a tail of %d digits", ks, k, tail)
			}
		default:
			t.Fatalf("keys %q: %q has no known prefix", ks, k)
		}
	}
}

// isOrdered reports whether ks has its e: keys, then d:, then t:.
func isOrdered(ks []Key) bool {
	rank := map[string]int{prefixE164: 0, prefixDigits: 1, prefixTail: 2}
	return slices.IsSortedFunc(ks, func(a, b Key) int { return rank[a.kindPrefix()] - rank[b.kindPrefix()] })
}

func (k Key) kindPrefix() string {
	return string(k[:min(2, len(k))])
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
