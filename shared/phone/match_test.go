package phone

import (
	"slices"
	"testing"
)

// firstShared returns the first key of candidates that index also holds: the
// match a lookup reports, since it ranks candidates in order.
func firstShared(index, candidates []Key) (Key, bool) {
	for _, k := range candidates {
		if slices.Contains(index, k) {
			return k, true
		}
	}
	return "", false
}

// TestStoredMeetsCalled proves the contract between IndexKeys and
// Candidates: a number as a CRM stores it is found from the same number as
// a phone system sends it, by the expected kind of match.
func TestStoredMeetsCalled(t *testing.T) {
	tests := []struct {
		name   string
		region string
		stored string
		called string
		want   Kind
	}{
		{"CH national vs peoplefone", "CH", "021 552 20 00", "41215522000", Exact},
		{"CH national vs 00", "CH", "021 552 20 00", "0041215522000", Exact},
		{"CH national vs tel URI", "CH", "021/552.20.00", "tel:+41215522000;ext=12", Exact},
		{"CH trunk in parens vs national", "CH", "+41 (0)21 552 20 00", "0215522000", Exact},
		{"CH stored without trunk vs peoplefone", "CH", "21 552 20 00", "41215522000", Exact},
		{"CH stored without plus vs international", "CH", "41 21 552 20 00", "+41 21 552 20 00", Exact},
		{"CH Arabic-Indic digits vs international", "CH", "٠٢١٥٥٢٢٠٠٠", "+41215522000", Exact},
		{"CH tenant, foreign number vs 00", "CH", "+44 20 7946 0958", "0044 20 7946 0958", Exact},
		{"CH tenant, foreign number vs no plus", "CH", "+1 212 555 0100", "12125550100", Exact},
		{"US national vs international with extension", "US", "(212) 555-0100", "+1 (212) 555-0100 x204", Exact},
		{"US with 1 vs without", "US", "12125550100", "2125550100", Exact},
		{"US without 1 vs with", "US", "212.555.0100", "12125550100", Exact},
		{"US tenant, CH number vs 011", "US", "+41 21 552 20 00", "011 41 21 552 20 00", Exact},
		{"GB national vs international", "GB", "020 7946 0958", "+44 20 7946 0958", Exact},
		{"GB national vs no plus", "GB", "020 7946 0958", "442079460958", Exact},
		{"DE national vs international", "DE", "030 12345678", "+49 30 12345678", Exact},
		{"DE national vs no plus", "DE", "030 12345678", "493012345678", Exact},
		{"FR national vs international", "FR", "01 42 68 53 00", "+33 1 42 68 53 00", Exact},
		{"FR national vs no plus", "FR", "01 42 68 53 00", "33142685300", Exact},
		{"RO national vs international", "RO", "021 318 1157", "+40 21 318 1157", Exact},
		{"RO national vs no plus", "RO", "021 318 1157", "40213181157", Exact},
		{"DE ambiguous, same spelling", "DE", "492677935", "492677935", Exact},

		// Invalid numbers meet through their digits.
		{"CH invalid international vs national", "CH", "+41 44 123 45", "044 123 45", Exact},
		{"CH invalid national vs international", "CH", "044 123 45", "+41 44 123 45", Exact},
		{"CH invalid without trunk vs 00", "CH", "44 123 45", "0041 44 123 45", Exact},
		{"CH invalid with extension digits glued on", "CH", "+41 21 552 20 00 12", "021 552 20 00 12", Exact},
		{"CH internal extension", "CH", "204", "204", Exact},
		// ... or only by tail, when the prefix is garbled.
		{"CH typo 00 vs peoplefone", "CH", "00 21 552 20 00", "41215522000", Tail},
		{"CH stray digit vs international", "CH", "+41 1 215 522 000", "+41 21 552 20 00", Tail},
		{"CH typo 00 vs national without trunk", "CH", "00 21 552 20 00", "21 552 20 00", Tail},
		{"US unknown country code vs valid", "US", "+999 212 555 0100", "+1 212 555 0100", Tail},
		// Tail keys cannot tell countries apart: two valid numbers with the
		// same last digits meet by tail. Lookup ranks such a match after any
		// exact one; callers that want certainty use Kind.
		{"RO number vs CH number with the same national number", "RO", "021 318 1157", "0041 21 318 11 57", Tail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := Options{Region: tt.region}
			_, index, err := IndexKeys(tt.stored, opt)
			if err != nil {
				t.Fatalf("IndexKeys(%q): %v", tt.stored, err)
			}
			candidates, err := Candidates(tt.called, opt)
			if err != nil {
				t.Fatalf("Candidates(%q): %v", tt.called, err)
			}
			k, ok := firstShared(index, candidates)
			if !ok {
				t.Fatalf("stored %q %q and called %q %q do not meet", tt.stored, index, tt.called, candidates)
			}
			if k.Kind() != tt.want {
				t.Errorf("stored %q and called %q meet on %q (%s), want %s", tt.stored, tt.called, k, k.Kind(), tt.want)
			}
		})
	}
}

// TestStoredMissesCalled lists pairs that must not meet: different numbers,
// and numbers of at most TailDigits digits against longer ones with the
// same tail.
func TestStoredMissesCalled(t *testing.T) {
	tests := []struct {
		name   string
		opt    Options
		stored string
		called string
	}{
		{"CH neighbouring numbers", Options{Region: "CH"}, "021 552 20 00", "021 552 20 01"},
		{"CH vs FR", Options{Region: "CH"}, "+41 21 552 20 00", "+33 1 42 68 53 00"},
		{"same national digits, other tenants' meaning", Options{Region: "US"}, "(212) 555-0100", "+44 20 7946 0958"},
		{"GB vs DE", Options{Region: "GB"}, "020 7946 0958", "+49 30 12345678"},
		{"RO vs CH", Options{Region: "RO"}, "021 318 1157", "0041 21 552 20 00"},
		{"short stored vs longer called", Options{Region: "CH", TailDigits: 7}, "552 20 00", "41215522000"},
		{"longer stored vs short called", Options{Region: "CH", TailDigits: 7}, "+41 21 552 20 00", "552 20 00"},
		{"extension vs number ending in it", Options{Region: "CH", TailDigits: 4}, "2000", "021 552 20 00"},
		{"number ending in extension vs extension", Options{Region: "CH", TailDigits: 4}, "021 552 20 00", "2000"},
		{"invalid short vs valid with its digits inside", Options{Region: "CH"}, "044 123 45", "+41 44 123 45 67"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, index, err := IndexKeys(tt.stored, tt.opt)
			if err != nil {
				t.Fatalf("IndexKeys(%q): %v", tt.stored, err)
			}
			candidates, err := Candidates(tt.called, tt.opt)
			if err != nil {
				t.Fatalf("Candidates(%q): %v", tt.called, err)
			}
			if k, ok := firstShared(index, candidates); ok {
				t.Errorf("stored %q %q and called %q %q meet on %q", tt.stored, index, tt.called, candidates, k)
			}
		})
	}
}
