package phone

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
)

func keys(ks ...string) []Key {
	out := make([]Key, len(ks))
	for i, k := range ks {
		out[i] = Key(k)
	}
	return out
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		region string
		want   []Key
	}{
		// CH: one number in every spelling phone systems send.
		{"CH peoplefone without plus", "41215522000", "CH", keys("e:+41215522000", "d:41215522000", "t:215522000")},
		{"CH 00 prefix", "0041215522000", "CH", keys("e:+41215522000", "d:0041215522000", "t:215522000")},
		{"CH international", "+41 21 552 20 00", "CH", keys("e:+41215522000", "d:41215522000", "t:215522000")},
		{"CH national", "0215522000", "CH", keys("e:+41215522000", "d:0215522000", "t:215522000")},
		{"CH national slash and dots", "021/552.20.00", "CH", keys("e:+41215522000", "d:0215522000", "t:215522000")},
		{"CH tel URI with extension", "tel:+41215522000;ext=12", "CH", keys("e:+41215522000", "d:41215522000", "t:215522000")},
		{"CH TEL URI upper case", "TEL:+41-21-552-20-00", "CH", keys("e:+41215522000", "d:41215522000", "t:215522000")},
		{"CH optional trunk zero", "+41 (0)21 552 20 00", "CH", keys("e:+41215522000", "d:410215522000", "t:215522000")},
		// Nine digits, but a valid number: its E.164 digits give the tail,
		// as they do in IndexKeys.
		{"CH without trunk zero", "21 552 20 00", "CH", keys("e:+41215522000", "d:215522000", "t:215522000")},
		{"CH mobile", "079 123 45 67", "CH", keys("e:+41791234567", "d:0791234567", "t:791234567")},
		{"CH extension after hash", "+41 21 552 20 00 #12", "CH", keys("e:+41215522000", "d:41215522000", "t:215522000")},
		{"CH Arabic-Indic digits", "٠٢١٥٥٢٢٠٠٠", "CH", keys("e:+41215522000", "d:0215522000", "t:215522000")},
		{"CH fullwidth digits", "＋４１ ２１ ５５２ ２０ ００", "CH", keys("e:+41215522000", "d:41215522000", "t:215522000")},
		{"CH tenant, US number without plus", "12125550100", "CH", keys("e:+12125550100", "d:12125550100", "t:125550100")},
		{"CH tenant, US number with 00", "0012125550100", "CH", keys("e:+12125550100", "d:0012125550100", "t:125550100")},

		// US: with and without the leading 1, with extensions.
		{"US international with extension", "+1 (212) 555-0100 x204", "US", keys("e:+12125550100", "d:12125550100", "t:125550100")},
		{"US ext. extension", "+1 (212) 555-0100 ext. 204", "US", keys("e:+12125550100", "d:12125550100", "t:125550100")},
		{"US national", "(212) 555-0100", "US", keys("e:+12125550100", "d:2125550100", "t:125550100")},
		{"US national with 1", "12125550100", "US", keys("e:+12125550100", "d:12125550100", "t:125550100")},
		{"US national digits only", "2125550100", "US", keys("e:+12125550100", "d:2125550100", "t:125550100")},
		{"US tel URI", "tel:+1-201-555-0123", "US", keys("e:+12015550123", "d:12015550123", "t:015550123")},
		{"US dialling CH with 011", "011 41 21 552 20 00", "US", keys("e:+41215522000", "d:01141215522000", "t:215522000")},
		// The US dials abroad with 011, but 00 is read as international too.
		{"US dialling CH with 00", "0041215522000", "US", keys("e:+41215522000", "d:0041215522000", "t:215522000")},

		// GB, DE, FR, RO: international, national, international without plus.
		{"GB international", "+44 20 7946 0958", "GB", keys("e:+442079460958", "d:442079460958", "t:079460958")},
		{"GB national", "020 7946 0958", "GB", keys("e:+442079460958", "d:02079460958", "t:079460958")},
		{"GB without plus", "442079460958", "GB", keys("e:+442079460958", "d:442079460958", "t:079460958")},
		{"DE international", "+49 30 12345678", "DE", keys("e:+493012345678", "d:493012345678", "t:012345678")},
		{"DE national", "030 12345678", "DE", keys("e:+493012345678", "d:03012345678", "t:012345678")},
		{"DE without plus", "493012345678", "DE", keys("e:+493012345678", "d:493012345678", "t:012345678")},
		{"FR international", "+33 1 42 68 53 00", "FR", keys("e:+33142685300", "d:33142685300", "t:142685300")},
		{"FR national", "01 42 68 53 00", "FR", keys("e:+33142685300", "d:0142685300", "t:142685300")},
		{"FR without plus", "33142685300", "FR", keys("e:+33142685300", "d:33142685300", "t:142685300")},
		{"RO international", "+40 21 318 1157", "RO", keys("e:+40213181157", "d:40213181157", "t:213181157")},
		{"RO national", "021 318 1157", "RO", keys("e:+40213181157", "d:0213181157", "t:213181157")},
		{"RO without plus", "40213181157", "RO", keys("e:+40213181157", "d:40213181157", "t:213181157")},

		// Ambiguous: 414412345 is Lucerne 041 441 23 45 read in CH; read as
		// +41 44 123 45 it is too short, so only one reading is valid.
		{"CH ambiguous one valid", "414412345", "CH", keys("e:+41414412345", "d:414412345", "t:414412345")},
		// Read as +49 2677 935 (digits that start with the tenant's own
		// country code are read as international first) and as the German
		// national number 04926 77935: both valid, both looked up.
		{"DE ambiguous two valid", "492677935", "DE", keys("e:+492677935", "e:+49492677935", "d:492677935", "t:492677935")},
		{"IT ambiguous two valid", "390682854", "IT", keys("e:+390682854", "e:+39390682854", "d:390682854", "t:390682854")},

		// Six-digit numbers are valid in Vienna; nine digits or fewer get no tail.
		{"AT short number", "01 110", "AT", keys("e:+431110", "d:01110")},
		{"AT short number without plus", "431110", "AT", keys("e:+431110", "d:431110")},
		// A German DDI glued on can stay within E.164 ...
		{"DE number with DDI", "030 12345678 12", "DE", keys("e:+49301234567812", "d:0301234567812", "t:234567812")},
		// ... or exceed it: phonenumbers calls it valid, but it is no E.164.
		{"DE longer than E.164", "+49 201 00000000000", "DE", keys("d:4920100000000000", "d:020100000000000", "d:20100000000000", "t:000000000")},

		// Invalid numbers: digits, and the other spellings of the same digits.
		{"CH invalid international", "+41 44 123 45", "CH", keys("d:414412345", "d:04412345", "d:4412345")},
		{"CH invalid national", "044 123 45", "CH", keys("d:04412345", "d:4412345", "d:414412345")},
		{"CH invalid with 00", "0041 44 123 45", "CH", keys("d:00414412345", "d:04412345", "d:4412345", "d:414412345", "t:414412345")},
		{"CH invalid long", "+41 21 552 20 00 12", "CH", keys("d:4121552200012", "d:021552200012", "d:21552200012", "t:552200012")},
		{"CH unknown country code", "+999 1234 5678", "CH", keys("d:99912345678", "t:912345678")},
		{"CH internal extension", "204", "CH", keys("d:204", "d:0204", "d:41204")},
		{"US fictional 555 number", "555-0100", "US", keys("d:5550100", "d:15550100")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Candidates(tt.input, Options{Region: tt.region})
			if err != nil {
				t.Fatalf("Candidates(%q, %s): %v", tt.input, tt.region, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Candidates(%q, %s)\n got %q\nwant %q", tt.input, tt.region, got, tt.want)
			}
		})
	}
}

func TestIndexKeys(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		region   string
		wantE164 string
		wantKeys []Key
	}{
		{"CH national", "021 552 20 00", "CH", "+41215522000", keys("e:+41215522000", "t:215522000")},
		{"CH without plus", "41215522000", "CH", "+41215522000", keys("e:+41215522000", "t:215522000")},
		{"CH optional trunk zero", "+41 (0)21 552 20 00", "CH", "+41215522000", keys("e:+41215522000", "t:215522000")},
		{"CH stored without trunk zero", "21 552 20 00", "CH", "+41215522000", keys("e:+41215522000", "t:215522000")},
		{"CH foreign number", "+44 20 7946 0958", "CH", "+442079460958", keys("e:+442079460958", "t:079460958")},
		{"US national", "(212) 555-0100", "US", "+12125550100", keys("e:+12125550100", "t:125550100")},
		{"US with extension", "+1 212 555 0100 x204", "US", "+12125550100", keys("e:+12125550100", "t:125550100")},
		{"GB national", "020 7946 0958", "GB", "+442079460958", keys("e:+442079460958", "t:079460958")},
		{"DE national", "030 12345678", "DE", "+493012345678", keys("e:+493012345678", "t:012345678")},
		{"DE ambiguous: most likely reading", "492677935", "DE", "+492677935", keys("e:+492677935")},
		{"FR national", "01 42 68 53 00", "FR", "+33142685300", keys("e:+33142685300", "t:142685300")},
		{"RO national", "021 318 1157", "RO", "+40213181157", keys("e:+40213181157", "t:213181157")},
		// Italian numbers keep their leading 0 in E.164.
		{"IT national", "06 6982 1234", "IT", "+390669821234", keys("e:+390669821234", "t:669821234")},
		{"short valid E.164 gets no tail", "+49 30 1234", "DE", "+49301234", keys("e:+49301234")},
		{"CH invalid short", "044 123 45", "CH", "", keys("d:04412345")},
		{"CH invalid long", "+41 21 552 20 00 12", "CH", "", keys("d:4121552200012", "t:552200012")},
		{"CH invalid typo 00", "00 21 552 20 00", "CH", "", keys("d:00215522000", "t:215522000")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e164, got, err := IndexKeys(tt.raw, Options{Region: tt.region})
			if err != nil {
				t.Fatalf("IndexKeys(%q, %s): %v", tt.raw, tt.region, err)
			}
			if e164 != tt.wantE164 || !slices.Equal(got, tt.wantKeys) {
				t.Errorf("IndexKeys(%q, %s)\n got %q %q\nwant %q %q", tt.raw, tt.region, e164, got, tt.wantE164, tt.wantKeys)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		region  string
		want    string
		wantErr error
	}{
		{"CH national", "021 552 20 00", "CH", "+41215522000", nil},
		{"CH without plus", "41215522000", "CH", "+41215522000", nil},
		{"US national", "(212) 555-0100", "US", "+12125550100", nil},
		{"GB", "+44 20 7946 0958", "GB", "+442079460958", nil},
		{"DE", "030 12345678", "DE", "+493012345678", nil},
		{"FR", "01 42 68 53 00", "FR", "+33142685300", nil},
		{"RO", "+40 21 318 1157", "RO", "+40213181157", nil},
		{"same digits, other region", "0215522000", "DE", "+49215522000", nil},
		{"invalid", "044 123 45", "CH", "", ErrNotANumber},
		{"junk", "abc", "CH", "", ErrNotANumber},
		{"bad region", "021 552 20 00", "XX", "", ErrInvalidRegion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.raw, Options{Region: tt.region})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Normalize(%q, %s) error %v, want %v", tt.raw, tt.region, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q, %s) = %q, want %q", tt.raw, tt.region, got, tt.want)
			}
		})
	}
}

func TestNotANumber(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"letters", "abc"},
		{"empty", ""},
		{"only spaces", "   \t "},
		{"only punctuation", "-"},
		{"one digit", "0"},
		{"40 digits", strings.Repeat("1234567890", 4)},
		{"21 digits", "+41 21 552 20 00 12345 67890"},
		{"too long input", "+41 21 552 20 00" + strings.Repeat(" ", 200)},
		{"letters mixed", "+41 21 CALL NOW"},
		{"vanity number", "1-800-FLOWERS"},
		{"x followed by text", "+41 21 552 20 00 xyz"},
		{"plus inside", "0041+21 552 20 00"},
		{"two plus signs", "++41 21 552 20 00"},
		{"superscript digits", "+41 ²¹ 552 20 00"},
		{"invalid UTF-8", "+41 21 \xff 552"},
		{"tel: only", "tel:"},
		{"parameters only", ";ext=12"},
		{"sip URI", "sip:+41215522000@pbx.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := Options{Region: "CH"}
			if ks, err := Candidates(tt.input, opt); !errors.Is(err, ErrNotANumber) || ks != nil {
				t.Errorf("Candidates(%q) = %q, %v; want ErrNotANumber", tt.input, ks, err)
			}
			if e, ks, err := IndexKeys(tt.input, opt); !errors.Is(err, ErrNotANumber) || e != "" || ks != nil {
				t.Errorf("IndexKeys(%q) = %q, %q, %v; want ErrNotANumber", tt.input, e, ks, err)
			}
			if e, err := Normalize(tt.input, opt); !errors.Is(err, ErrNotANumber) || e != "" {
				t.Errorf("Normalize(%q) = %q, %v; want ErrNotANumber", tt.input, e, err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opt     Options
		wantErr []error
	}{
		{"region only", Options{Region: "CH"}, nil},
		{"tail digits", Options{Region: "US", TailDigits: 7}, nil},
		{"empty region", Options{}, []error{ErrInvalidRegion}},
		{"unknown region", Options{Region: "XX"}, []error{ErrInvalidRegion}},
		{"lower case region", Options{Region: "ch"}, []error{ErrInvalidRegion}},
		{"non-geographic region", Options{Region: "001"}, []error{ErrInvalidRegion}},
		{"tail too short", Options{Region: "CH", TailDigits: 3}, []error{ErrInvalidTailDigits}},
		{"tail too long", Options{Region: "CH", TailDigits: 16}, []error{ErrInvalidTailDigits}},
		{"negative tail", Options{Region: "CH", TailDigits: -1}, []error{ErrInvalidTailDigits}},
		{"everything wrong", Options{Region: "XX", TailDigits: 99}, []error{ErrInvalidRegion, ErrInvalidTailDigits}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := map[string]error{"Validate": tt.opt.Validate()}
			_, errs["Candidates"] = Candidates("abc", tt.opt) // options are checked before the input
			_, _, errs["IndexKeys"] = IndexKeys("+41 21 552 20 00", tt.opt)
			_, errs["Normalize"] = Normalize("+41 21 552 20 00", tt.opt)
			for fn, err := range errs {
				if tt.wantErr == nil && fn != "Candidates" && err != nil {
					t.Errorf("%s: %v, want nil", fn, err)
				}
				for _, want := range tt.wantErr {
					if !errors.Is(err, want) {
						t.Errorf("%s: %v, want %v", fn, err, want)
					}
				}
			}
		})
	}
}

func TestTailDigits(t *testing.T) {
	opt := Options{Region: "CH", TailDigits: 7}
	got, err := Candidates("41215522000", opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := keys("e:+41215522000", "d:41215522000", "t:5522000"); !slices.Equal(got, want) {
		t.Errorf("Candidates = %q, want %q", got, want)
	}
	// Seven digits are not more than the tail: exact match only.
	got, err = Candidates("552 20 00", opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := keys("d:5522000", "d:05522000", "d:415522000"); !slices.Equal(got, want) {
		t.Errorf("Candidates = %q, want %q", got, want)
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		input string
		want  number
	}{
		{"41215522000", number{digits: "41215522000"}},
		{" +41 21 552 20 00 ", number{digits: "41215522000", plus: true}},
		{"tel:+41215522000;ext=12;phone-context=example.com", number{digits: "41215522000", plus: true}},
		{"+1 (212) 555-0100 x204", number{digits: "12125550100", plus: true}},
		{"+1 (212) 555-0100 X 204", number{digits: "12125550100", plus: true}},
		{"+1 212 555 0100 extension 204", number{digits: "12125550100", plus: true}},
		{"+1 212 555 0100 ext:204", number{digits: "12125550100", plus: true}},
		{"+41215522000,,12", number{digits: "41215522000", plus: true}},
		{"021 552 20 00; 079 123 45 67", number{digits: "0215522000"}},
		{"021\u00a0552\u202f20\u201300", number{digits: "0215522000"}},
		{"[021] 552~20~00", number{digits: "0215522000"}},
		{"٠٢١٥٥٢٢٠٠٠", number{digits: "0215522000"}}, // Arabic-Indic
		{"۰۲۱۵۵۲۲۰۰۰", number{digits: "0215522000"}}, // Extended Arabic-Indic (Persian)
		{"०२१५५२२०००", number{digits: "0215522000"}}, // Devanagari
		{"𝟎𝟐𝟏𝟓𝟓𝟐𝟐𝟎𝟎𝟎", number{digits: "0215522000"}}, // mathematical bold
		{"𝟶𝟸𝟷𝟻𝟻𝟸𝟸𝟶𝟶𝟶", number{digits: "0215522000"}}, // mathematical monospace
	}
	for _, tt := range tests {
		got, err := scan(tt.input)
		if err != nil || got != tt.want {
			t.Errorf("scan(%q) = %+v, %v; want %+v", tt.input, got, err, tt.want)
		}
	}
}

// TestDecimalValue checks the run arithmetic against every decimal digit
// Unicode knows: each value's run holds a 0 below it and a 9 above it.
func TestDecimalValue(t *testing.T) {
	for _, zero := range []rune{'0', 0x660, 0x6f0, 0x966, 0xff10, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6} {
		for v := range rune(10) {
			if got := decimalValue(zero + v); rune(got) != v {
				t.Errorf("decimalValue(%U) = %d, want %d", zero+v, got, v)
			}
		}
	}
	for r := rune(0); r <= 0x10ffff; r++ {
		if r > 0x7f && !unicode.IsDigit(r) {
			continue
		}
		if r <= 0x7f && (r < '0' || r > '9') {
			continue
		}
		v := rune(decimalValue(r))
		if v > 9 || !unicode.IsDigit(r-v) || decimalValue(r-v) != 0 || !unicode.IsDigit(r-v+9) || decimalValue(r-v+9) != 9 {
			t.Errorf("decimalValue(%U) = %d, not in a run of ten", r, v)
		}
	}
}

// TestConcurrentUse runs lookups from many goroutines, as the ingress does;
// phonenumbers keeps caches inside, so run it with -race.
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for _, region := range fuzzRegions {
		wg.Go(func() {
			for _, in := range fuzzSeeds {
				_, _ = Candidates(in, Options{Region: region})
				_, _, _ = IndexKeys(in, Options{Region: region})
			}
		})
	}
	wg.Wait()
}
