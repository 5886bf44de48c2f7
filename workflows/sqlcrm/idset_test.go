package sqlcrm

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/calldex/calldex/workflows/crm"
)

func TestIDSetRoundTrip(t *testing.T) {
	many := idSet{}
	for i := 1; i <= 100_000; i++ {
		if i%97 != 0 { // an AUTO_INCREMENT table with a few gaps
			many[fmt.Sprint(i)] = struct{}{}
		}
	}
	uuids := idSet{}
	for i := range 1000 {
		uuids[fmt.Sprintf("%08x-4b1c-8e2a-%012x", i*7919, i*104729)] = struct{}{}
	}
	tests := []struct {
		name    string
		set     idSet
		maxSize int
	}{
		{"empty", idSet{}, 16},
		{"integers with gaps", many, 8 << 10},
		{"zero and leading zeros are not the same id", idSet{"0": {}, "007": {}, "7": {}, "18446744073709551615": {}}, 64},
		{"text", idSet{"K-001": {}, "K-002": {}, "a/b": {}, "ü": {}, "": {}}, 64},
		{"uuids", uuids, 40 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := encodeIDs(tt.set)
			if err != nil {
				t.Fatal(err)
			}
			if len(enc) > tt.maxSize {
				t.Errorf("%d ids take %d bytes, want at most %d", len(tt.set), len(enc), tt.maxSize)
			}
			got, err := decodeIDs(enc)
			if err != nil || !maps.Equal(got, tt.set) {
				t.Fatalf("decoded %d ids, %v; want the %d encoded", len(got), err, len(tt.set))
			}
		})
	}
}

func TestIDSetLimits(t *testing.T) {
	huge := idSet{}
	for i := range 60_000 {
		huge[fmt.Sprintf("%016x%016x", uint64(i)*0x9e3779b97f4a7c15, uint64(i)*0xbf58476d1ce4e5b9)] = struct{}{}
	}
	if _, err := encodeIDs(huge); !errors.Is(err, errTooManyIDs) {
		t.Fatalf("err = %v, want errTooManyIDs", err)
	}
	if _, err := decodeIDs([]byte("not deflate")); err == nil {
		t.Fatal("decoded garbage")
	}
}

func TestCursorVersion(t *testing.T) {
	if _, err := decodeCursor(crm.EncodeCursor(cursor{V: cursorVersion + 1})); err == nil {
		t.Fatal("a cursor of another version was read")
	}
	c, err := decodeCursor("")
	if err != nil || !c.Initial || c.V != cursorVersion {
		t.Fatalf("empty cursor = %+v, %v", c, err)
	}
}
