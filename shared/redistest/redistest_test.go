package redistest_test

import (
	"strings"
	"testing"

	"github.com/calldex/calldex/shared/redistest"
)

func TestClientCleansUpItsPrefix(t *testing.T) {
	outer, outerPrefix := redistest.Client(t)
	var inner string
	t.Run("writer", func(t *testing.T) {
		rdb, prefix := redistest.Client(t)
		if prefix == outerPrefix || !strings.HasPrefix(prefix, "cdxtest:") {
			t.Fatalf("prefix %q (outer %q): want a fresh cdxtest: prefix", prefix, outerPrefix)
		}
		inner = prefix
		for i := range 2500 { // more than one SCAN/UNLINK batch
			if err := rdb.Set(t.Context(), prefix+":k"+string(rune('a'+i%26))+strings.Repeat("x", i/26), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if err := outer.Set(t.Context(), outerPrefix+":mine", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	iter := outer.Scan(t.Context(), 0, inner+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		n++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d keys left under %s after its test ended", n, inner)
	}
	if v, err := outer.Get(t.Context(), outerPrefix+":mine").Int(); err != nil || v != 1 {
		t.Errorf("outer key = %d, %v: another test's cleanup must not touch it", v, err)
	}
}
