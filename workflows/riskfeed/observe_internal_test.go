package riskfeed

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
)

// readLookup reads every call.lookup line the ingress writes exactly as
// encoding/json does, whatever its strings hold, and leaves every other
// line to encoding/json.
func TestReadLookupIsWhatEncodingJSONReads(t *testing.T) {
	strs := []string{"", "demo", "41215522000", `q"b\`, `,"tenant":"x`, `,"e164":"+1`, "<&>", "tab\tnl\n", "bad \xff utf8", "Jürg 🎉"}
	at := time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC)
	read := 0
	for i, s := range strs {
		for _, e164 := range []string{"+41215522000", ""} {
			data := events.CallLookup{Dialect: s, Number: strs[(i+1)%len(strs)], E164: e164, DNID: strs[(i+2)%len(strs)],
				Hits: i, ContactID: strs[(i+3)%len(strs)]}.AppendJSON(nil)
			line := events.Envelope{ID: strs[(i+4)%len(strs)], Type: events.TypeCallLookup, Tenant: "acme", Source: s,
				Time: at.Add(time.Duration(i) * time.Minute), SchemaVersion: events.SchemaVersion, Data: data}.AppendJSON(nil)
			var want eventLine
			if err := json.Unmarshal(line, &want); err != nil {
				t.Fatal(err)
			}
			got, ok := readLookup(line)
			if e164 == "" {
				if ok {
					t.Errorf("%s: read without an e164", line)
				}
				continue
			}
			if !ok {
				t.Errorf("%s: not read", line)
				continue
			}
			read++
			want.Data.Number = "" // not needed once e164 is known
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", line, got, want)
			}
		}
	}
	if read == 0 {
		t.Fatal("no line read")
	}
	for _, line := range []string{
		`{"id":"1","type":"call.event","tenant":"acme","time":"2026-12-07T10:00:00Z","schemaVersion":1,"data":{"event":"ended"}}`,
		`{"id":"1","type": "call.lookup","tenant":"acme","time":"2026-12-07T10:00:00Z","schemaVersion":1,"data":{"e164":"+41215522000"}}`,
		`{"id":"1","type":"call.lookup","tenant":"ac\u006de","time":"2026-12-07T10:00:00Z","schemaVersion":1,"data":{"e164":"+41215522000"}}`,
	} {
		if ev, ok := readLookup([]byte(line)); ok {
			t.Errorf("%s: read as %+v, want it left to encoding/json", line, ev)
		}
	}
}
