package crm_test

import (
	"strings"
	"testing"

	"github.com/calldex/calldex/workflows/crm"
)

type testCursor struct {
	V     int    `json:"v"`
	Since int64  `json:"since,omitempty"`
	After string `json:"after,omitempty"`
}

func TestCursorRoundTrip(t *testing.T) {
	in := testCursor{V: 2, Since: 1575737400000, After: "NTI1Cg=="}
	s := crm.EncodeCursor(in)
	if strings.ContainsAny(s, "+/=") {
		t.Errorf("cursor %q is not URL-safe", s)
	}
	var out testCursor
	if err := crm.DecodeCursor(s, 2, &out); err != nil || out != in {
		t.Fatalf("DecodeCursor = %+v, %v; want %+v", out, err, in)
	}
}

func TestDecodeCursorRefuses(t *testing.T) {
	tests := []struct{ name, cursor, want string }{
		{"not base64url", "%%%", "is not base64url"},
		{"not JSON", "bm90IGpzb24", `cursor "bm90IGpzb24": invalid character`},
		{"wrong field type", crm.EncodeCursor(map[string]any{"v": 2, "since": "x"}), "cannot unmarshal"},
		{"older version", crm.EncodeCursor(testCursor{V: 1}), "cursor version 1, want 2: reset the sync cursor"},
		{"no version", crm.EncodeCursor(map[string]any{"since": 5}), "cursor version 0, want 2"},
		{"version not a number", crm.EncodeCursor(map[string]any{"w": "2"}), "cursor version 0, want 2"},
	}
	for _, tt := range tests {
		var c testCursor
		if err := crm.DecodeCursor(tt.cursor, 2, &c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

func TestEncodeCursorPanicsOnAProgrammingError(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("EncodeCursor of a channel did not panic")
		}
	}()
	crm.EncodeCursor(make(chan int))
}
