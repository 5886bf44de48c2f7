package events

import (
	"reflect"
	"testing"
)

// The one-pass reading of plain custom data gives what the general one
// does, and leaves everything else to it.
func TestPlainCustomDataAsGeneral(t *testing.T) {
	tests := []struct {
		in    string
		plain bool
	}{
		{`{}`, true},
		{` { } `, true},
		{`{"Language":"fr","Segment":"SME"}`, true},
		{"{ \"a\" :\t\"1\" ,\n\"a\":\"2\" }", true},
		{`{"Zoë":"Müller","":""}`, true},
		{`{"a":"x\"y"}`, false},
		{`{"a":"\u00fc"}`, false},
		{`{"a":1,"b":"2"}`, false},
		{`{"a":{"b":"c"}}`, false},
		{`{"a":null}`, false},
		{`null`, false},
		{"{\"a\":\"\xff\"}", false},
	}
	for _, tt := range tests {
		got, ok := plainCustomData([]byte(tt.in))
		if ok != tt.plain {
			t.Errorf("%q: plain %v, want %v", tt.in, ok, tt.plain)
		}
		var want CustomData
		if err := want.unmarshalAny([]byte(tt.in)); err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %#v, want %#v", tt.in, got, want)
		}
		var via CustomData
		if err := via.UnmarshalJSON([]byte(tt.in)); err != nil || !reflect.DeepEqual(via, want) {
			t.Errorf("%q: UnmarshalJSON %#v, %v; want %#v", tt.in, via, err, want)
		}
	}
}
