package appconnect

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestRestorePlus(t *testing.T) {
	tests := []struct{ in, want string }{
		{" 14155550100", "+14155550100"},
		{"  41215522000 ", "+41215522000"},
		{"+14155550100", "+14155550100"},
		{"4155550100", "4155550100"},
		{"101", "101"},
		{" ", ""},
		{" (415) 555-0100", "(415) 555-0100"}, // not a lost +: left as the number it is
	}
	for _, tc := range tests {
		if got := restorePlus(tc.in); got != tc.want {
			t.Errorf("restorePlus(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskedNumbers(t *testing.T) {
	tests := []struct {
		name, e164, formats string
		want                []string
	}{
		{"star", "+14155550142", "(***) ***-****", []string{"(415) 555-0142"}},
		{"hash", "+14155550142", "###-###-####", []string{"415-555-0142"}},
		{"mixed placeholders", "+14155550142", "(###) ***-####", []string{"(415) 555-0142"}},
		{"several, trimmed, deduplicated", "+14155550142", " ***-***-****, ###-###-####,**********", []string{"415-555-0142", "4155550142"}},
		{"swiss", "+41215522000", "0** *** ** **", []string{"021 552 20 00"}},
		{"wrong length skipped", "+41215522000", "(***) ***-****", nil},
		{"too short skipped", "+14155550142", "***-****", nil},
		{"empty", "+14155550142", "", nil},
		{"only commas", "+14155550142", " , ,", nil},
		{"not E.164", "4155550142", "(***) ***-****", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := maskedNumbers(tc.e164, tc.formats); !slices.Equal(got, tc.want) {
				t.Errorf("maskedNumbers(%q, %q) = %q, want %q", tc.e164, tc.formats, got, tc.want)
			}
		})
	}
}

func TestFlexString(t *testing.T) {
	var v struct{ A, B, C flexString }
	if err := json.Unmarshal([]byte(`{"A":"x1","B":1724099032020,"C":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != "x1" || v.B != "1724099032020" || v.C != "" {
		t.Errorf("%+v", v)
	}
	if err := json.Unmarshal([]byte(`{"A":{"no":1}}`), &v); err == nil {
		t.Error("an object was accepted as an id")
	}
}

// FuzzPhoneInput feeds what App Connect sends on the ringing path to the
// parsers that face it: they must not panic, and a mask never yields more
// digits than the number has.
func FuzzPhoneInput(f *testing.F) {
	f.Add(" 14155550100", "(***) ***-****,###-###-####")
	f.Add("+41215522000", "0** *** ** **")
	f.Add("101", "")
	f.Add("+١٤١٥٥٥٥٠١٠٠", "*,#,**")
	f.Fuzz(func(t *testing.T, number, formats string) {
		n := restorePlus(number)
		for _, m := range maskedNumbers(n, formats) {
			if len(m) > len(formats) {
				t.Fatalf("mask output %q longer than the masks %q", m, formats)
			}
		}
	})
}
