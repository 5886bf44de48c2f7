package sqlcrm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/calldex/calldex/workflows/crm"
)

func idSetOf(ids []string) *idSet {
	s := newIDSet()
	for _, id := range ids {
		s.add(id)
	}
	return s
}

// ids lists a set's ids, sorted.
func (s *idSet) ids() []string { return s.missingFrom(newIDSet()) }

func TestIDSetRoundTrip(t *testing.T) {
	var many []string
	for i := 1; i <= 100_000; i++ {
		if i%97 != 0 { // an AUTO_INCREMENT table with a few gaps
			many = append(many, fmt.Sprint(i))
		}
	}
	var uuids []string
	for i := range 1000 {
		uuids = append(uuids, fmt.Sprintf("%08x-4b1c-8e2a-%012x", i*7919, i*104729))
	}
	tests := []struct {
		name    string
		ids     []string
		maxSize int
	}{
		{"empty", nil, 16},
		{"integers with gaps", many, 8 << 10},
		{"zero and leading zeros are not the same id", []string{"0", "007", "7", "18446744073709551615"}, 64},
		{"text", []string{"K-001", "K-002", "a/b", "ü", ""}, 64},
		{"uuids", uuids, 40 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := encodeIDs(idSetOf(tt.ids))
			if err != nil {
				t.Fatal(err)
			}
			if len(enc) > tt.maxSize {
				t.Errorf("%d ids take %d bytes, want at most %d", len(tt.ids), len(enc), tt.maxSize)
			}
			got, err := decodeIDs(enc)
			if want := slices.Sorted(slices.Values(tt.ids)); err != nil || !slices.Equal(got.ids(), want) {
				t.Fatalf("decoded %d ids, %v; want the %d encoded", got.len(), err, len(want))
			}
		})
	}
}

// TestIDSetEncodingKept decodes sets as the cursors stored before integer
// ids were kept in runs encoded them, and encodes them the same again.
func TestIDSetEncodingKept(t *testing.T) {
	tests := []struct {
		enc string
		ids []string
	}{
		{"6264616462646064fcf61f0a181900010000ffff", []string{"1", "18446744073709551615", "2", "3", "5", "7", "8"}},
		{"626265603630306760346760f5d635303064613462604ed44f02040000ffff", []string{"007", "7", "K-001", "K-002", "a/b"}},
	}
	for _, tt := range tests {
		enc, _ := hex.DecodeString(tt.enc)
		got, err := decodeIDs(enc)
		if err != nil || !slices.Equal(got.ids(), tt.ids) {
			t.Fatalf("decoded %v, %v; want %v", got.ids(), err, tt.ids)
		}
		again, err := encodeIDs(idSetOf(tt.ids))
		if err != nil || hex.EncodeToString(again) != tt.enc {
			t.Errorf("encoded %v as %x, %v; want %s", tt.ids, again, err, tt.enc)
		}
	}
}

// TestIDSetChanges adds and removes ids in the orders sync pages do and
// checks the set, what it misses of another and its encoding against a
// map.
func TestIDSetChanges(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	next := 0
	tests := []struct {
		name string
		id   func() string
	}{
		{"ascending", func() string { next += 1 + rnd.IntN(2); return fmt.Sprint(next - rnd.IntN(3)) }},
		{"random integers", func() string { return fmt.Sprint(rnd.IntN(300)) }},
		{"edges", func() string {
			return []string{"0", "1", "2", "18446744073709551614", "18446744073709551615"}[rnd.IntN(5)]
		}},
		{"mixed", func() string {
			return []string{fmt.Sprint(rnd.IntN(100)), fmt.Sprintf("K-%d", rnd.IntN(20)), "007"}[rnd.IntN(3)]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, other := newIDSet(), newIDSet()
			want, wantOther := map[string]struct{}{}, map[string]struct{}{}
			for page := range 200 {
				for range rnd.IntN(40) {
					id := tt.id()
					if rnd.IntN(3) == 0 {
						set.remove(id)
						delete(want, id)
					} else {
						set.add(id)
						want[id] = struct{}{}
					}
					if id := tt.id(); rnd.IntN(2) == 0 {
						other.add(id)
						wantOther[id] = struct{}{}
					}
				}
				if got := set.ids(); !slices.Equal(got, slices.Sorted(maps.Keys(want))) || set.len() != len(want) {
					t.Fatalf("page %d: set holds %v (len %d), want %v", page, got, set.len(), slices.Sorted(maps.Keys(want)))
				}
				var missing []string
				for id := range want {
					if _, ok := wantOther[id]; !ok {
						missing = append(missing, id)
					}
				}
				slices.Sort(missing)
				if got := set.missingFrom(other); !slices.Equal(got, missing) {
					t.Fatalf("page %d: missing %v, want %v", page, got, missing)
				}
				enc, err := encodeIDs(set)
				if err != nil {
					t.Fatal(err)
				}
				if dec, err := decodeIDs(enc); err != nil || !slices.Equal(dec.ids(), set.ids()) {
					t.Fatalf("page %d: decoded %v, %v; want %v", page, dec.ids(), err, set.ids())
				}
			}
		})
	}
}

func TestIDSetLimits(t *testing.T) {
	huge := newIDSet()
	for i := range 60_000 {
		huge.add(fmt.Sprintf("%016x%016x", uint64(i)*0x9e3779b97f4a7c15, uint64(i)*0xbf58476d1ce4e5b9))
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
