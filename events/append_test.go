package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

var strs = []string{"", "demo", "41215522000", `q"b\`, "<&>", "tab\tnl\n\x00\x1f", "\u2028\u2029", "bad \xff utf8", "Jürg 🎉"}

func TestAppendJSONIsWhatEncodingJSONWrites(t *testing.T) {
	for i, s := range strs {
		c := CallLookup{Dialect: s, Number: strs[(i+1)%len(strs)], E164: strs[(i+6)%len(strs)], DNID: strs[(i+2)%len(strs)], Hits: i,
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

func TestContactAppendJSONIsWhatEncodingJSONWrites(t *testing.T) {
	pos := 3
	at := time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC)
	tests := []Contact{
		{},
		{ID: "42", Source: "crm", Name: "Jürg", UpdatedAt: at},
		{ID: "a.b", Source: "hubspot", Type: "lead", Name: `q"b\`, Title: "<&>", Company: "tab\tnl\n", ContactURI: "https://crm/x?a=1&b=2",
			CompanyURI: "\u2028", CRMName: "bad \xff", CRMLogo: "l", Emails: []string{"a@b", ""},
			Phones:     []Phone{{Raw: "+41 21 552 20 00", Normalized: "+41215522000", Label: "work"}, {Raw: "0215522000"}, {Label: "x"}},
			CustomData: CustomData{{"Kundennr", "K-1"}, {"", "<b>"}},
			Routing:    Routing{DirectLine: "12", QueuePosition: &pos, RouteIdentifier: "r", Language: "de", OutboundNumber: "+41"},
			UpdatedAt:  at.In(time.FixedZone("CET", 3600)), CreatedAt: at.Add(-time.Hour)},
		{ID: "1", Phones: []Phone{}, Emails: []string{}, CustomData: CustomData{}, Routing: Routing{Language: "fr"}, CreatedAt: at},
		{ID: "1", Routing: Routing{QueuePosition: new(int)}},
		{ID: "1", Routing: Routing{OutboundNumber: "+41"}},
	}
	for i, s := range strs {
		tests = append(tests, Contact{ID: s, Source: strs[(i+1)%len(strs)], Name: strs[(i+2)%len(strs)], Title: strs[(i+3)%len(strs)],
			Phones: []Phone{{Raw: s, Label: strs[(i+4)%len(strs)]}}, CustomData: CustomData{{s, strs[(i+5)%len(strs)]}}})
	}
	for _, c := range tests {
		want, _ := json.Marshal(c)
		got, err := c.AppendJSON([]byte("prefix"))
		if err != nil || string(got) != "prefix"+string(want) {
			t.Fatalf("%+v:\n got %s, %v\nwant %s", c, got, err, want)
		}
	}
	for _, at := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))} {
		for _, c := range []Contact{{ID: "1", UpdatedAt: at}, {ID: "1", CreatedAt: at}} {
			if _, err := json.Marshal(c); err == nil {
				t.Fatalf("encoding/json wrote %v", at)
			}
			if _, err := c.AppendJSON(nil); err == nil {
				t.Errorf("%+v written", c)
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

func TestDecodeBatch(t *testing.T) {
	at := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	var msg []byte
	for i := range 3 {
		if i > 0 {
			msg = append(msg, '\n')
		}
		e := Envelope{ID: fmt.Sprint("ev-", i), Type: TypeCallLookup, Tenant: "acme", Time: at, SchemaVersion: SchemaVersion,
			Data: CallLookup{Dialect: "peoplefone", Number: "41215522000", Hits: i}.AppendJSON(nil)}
		msg = e.AppendJSON(msg)
	}
	got, err := DecodeBatch(msg)
	if err != nil || len(got) != 3 {
		t.Fatalf("got %d events, %v", len(got), err)
	}
	for i, e := range got {
		var p CallLookup
		if e.ID != fmt.Sprint("ev-", i) || e.Payload(&p) != nil || p.Hits != i {
			t.Errorf("event %d: %+v %+v", i, e, p)
		}
	}
	// A single envelope, as every other event travels, is a batch of one.
	if one, err := DecodeBatch(msg[:bytes.IndexByte(msg, '\n')]); err != nil || len(one) != 1 || one[0].ID != "ev-0" {
		t.Errorf("single envelope: %+v, %v", one, err)
	}
	for _, bad := range []string{"", "\n", `{"id":"x"}`, string(msg) + "\nnot json"} {
		if _, err := DecodeBatch([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
