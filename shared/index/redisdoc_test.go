package index

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

// A stored contact decodes to what the record of the same entry does, and
// is indexed under the same keys and words, whichever of its compact forms
// (references to keys, links around the ID, time from the header) apply.
func TestDocAsRecord(t *testing.T) {
	q := 7
	base := events.Contact{
		ID: "003000000000042", Source: "hubspot", Type: "contact", Name: "Zoë Müller-Lüdenscheidt", Title: "CFO",
		Company:    "Acme SA",
		ContactURI: "https://app.hubspot.com/contacts/4711/record/0-1/003000000000042",
		CompanyURI: "https://app.hubspot.com/contacts/4711/record/0-2/77",
		CRMName:    "HubSpot",
		Phones: []events.Phone{{Raw: "021 552 20 00", Normalized: "+41215522000", Label: "work"},
			{Raw: "0215522", Label: "legacy"}, {Raw: "+33 1 40 00 00 00", Normalized: "+33140000000"}},
		Emails:     []string{"zoe@acme.ch"},
		CustomData: events.CustomData{{Key: "tier", Value: "gold"}},
		Routing:    events.Routing{QueuePosition: &q, Language: "fr"},
		UpdatedAt:  time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("", 3600)),
		CreatedAt:  time.Date(2019, 1, 2, 3, 4, 5, 6000, time.UTC),
	}
	keys := []phone.Key{"e:+41215522000", "t:215522000", "d:0215522", "t:215522", "t:99", "x:odd", "e:+41215522000"}
	tests := []struct {
		name string
		edit func(c *events.Contact)
	}{
		{"all forms", func(*events.Contact) {}},
		{"zero times", func(c *events.Contact) { c.UpdatedAt, c.CreatedAt = time.Time{}, time.Time{} }},
		{"before 1970", func(c *events.Contact) { c.UpdatedAt = time.Date(1961, 5, 6, 7, 8, 9, 999_999_999, time.UTC) }},
		{"local", func(c *events.Contact) { c.UpdatedAt = time.Unix(1_750_000_000, 5).Local() }},
		{"odd offset", func(c *events.Contact) {
			c.UpdatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600+17))
		}},
		{"links apart", func(c *events.Contact) { c.ContactURI, c.CompanyURI = "", "https://other/7" }},
		{"no id in link", func(c *events.Contact) { c.ContactURI = "https://crm/c/x" }},
		{"normalized not a key", func(c *events.Contact) { c.Phones[0].Normalized = "+41999" }},
		{"empty", func(c *events.Contact) { *c = events.Contact{ID: "1", Source: "crm"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			c.Phones = append([]events.Phone(nil), base.Phones...)
			tt.edit(&c)
			e := Entry{Contact: c, Keys: keys}
			rec := encodeRecord(e)
			doc, dk, dw := encodeDoc(e)
			want := rec.contact()
			got, err := decodeStored(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got.UpdatedAt.Format(time.RFC3339Nano) != want.UpdatedAt.Format(time.RFC3339Nano) ||
				got.UpdatedAt.Location().String() != want.UpdatedAt.Location().String() {
				t.Errorf("UpdatedAt %v, want %v", got.UpdatedAt, want.UpdatedAt)
			}
			got.UpdatedAt = want.UpdatedAt
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
			wk, ww := rec.indexed()
			sk, sw, err := storedIndexed(doc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sk, wk) || !reflect.DeepEqual(dk, wk) || strings.Join(sw, " ") != strings.Join(ww, " ") || strings.Join(dw, " ") != strings.Join(ww, " ") {
				t.Errorf("indexed under %v %v (%v %v when written), want %v %v", sk, sw, dk, dw, wk, ww)
			}
		})
	}
}

// Whatever follows a valid header, a stored contact that is not what the
// index writes decodes to an error, never to a contact: every truncation of
// a real one, and one with bytes after it.
func TestDocCorrupt(t *testing.T) {
	doc, _, _ := encodeDoc(Entry{Contact: events.Contact{ID: "1", Source: "crm", Name: "Ann", ContactURI: "https://x/1",
		Phones: []events.Phone{{Raw: "1", Normalized: "+41215522000"}}}, Keys: []phone.Key{"e:+41215522000", "t:5522000"}})
	head := strings.Index(doc, "\n") + 1
	for n := head; n < len(doc); n++ {
		if _, err := decodeStored(doc[:n]); err == nil {
			t.Errorf("%q decoded", doc[:n])
		}
	}
	if _, err := decodeStored(doc + "x"); err == nil {
		t.Errorf("trailing byte decoded")
	}
}
