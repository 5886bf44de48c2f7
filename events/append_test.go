package events

import (
	"encoding/json"
	"testing"
	"time"
)

var strs = []string{"", "demo", "41215522000", `q"b\`, "<&>", "tab\tnl\n\x00\x1f", "\u2028\u2029", "bad \xff utf8", "Jürg 🎉"}

func TestAppendJSONIsWhatEncodingJSONWrites(t *testing.T) {
	for i, s := range strs {
		c := CallLookup{Dialect: s, Number: strs[(i+1)%len(strs)], DNID: strs[(i+2)%len(strs)], Hits: i,
			ContactID: strs[(i+3)%len(strs)], Latency: time.Duration(i) * 1234567}
		want, _ := json.Marshal(c)
		got := c.AppendJSON(nil)
		if string(got) != string(want) {
			t.Fatalf("CallLookup:\n got %s\nwant %s", got, want)
		}
		for _, at := range []time.Time{time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC),
			time.Date(2026, 1, 5, 10, 0, 0, 5000, time.FixedZone("CET", 3600))} {
			e := Envelope{ID: s, Type: TypeCallLookup, Tenant: strs[(i+4)%len(strs)], Source: strs[(i+5)%len(strs)], Time: at,
				SchemaVersion: SchemaVersion, Data: got}
			want, _ := json.Marshal(e)
			if got := e.AppendJSON(nil); string(got) != string(want) {
				t.Fatalf("Envelope:\n got %s\nwant %s", got, want)
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range strs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}
