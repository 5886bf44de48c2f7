package index

import (
	"reflect"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
)

// Every field of a contact survives its record: the contact below sets
// them all, and the test fails as soon as events.Contact gains one it does
// not set (which the record would then drop).
func TestRecordRoundTrip(t *testing.T) {
	q := -3
	c := events.Contact{
		ID: "42", Source: "hubspot", Type: "lead", Name: "Zoë Müller-Lüdenscheidt", Title: "CFO",
		Company: "Acme SA", ContactURI: "https://crm/c/42", CompanyURI: "https://crm/co/7",
		CRMName: "HubSpot", CRMLogo: "https://crm/logo.png",
		Phones:     []events.Phone{{Raw: "021 552 20 00", Normalized: "+41215522000", Label: "work"}, {Raw: "x"}},
		Emails:     []string{"zoe@acme.ch", ""},
		CustomData: events.CustomData{{Key: "tier", Value: "gold"}, {Key: "", Value: "ü"}},
		Routing: events.Routing{DirectLine: "201", QueuePosition: &q, RouteIdentifier: "vip",
			Language: "fr", OutboundNumber: "+41215522001"},
		UpdatedAt: time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("", 3600)),
		CreatedAt: time.Date(2019, 1, 2, 3, 4, 5, 6000, time.UTC),
	}
	requireAllSet(t, reflect.ValueOf(c), "Contact")
	keys := []phone.Key{"e:+41215522000", "t:215522000", "e:+41215522000"}
	rec := encodeRecord(Entry{Contact: c, Keys: keys})

	got := rec.contact()
	if !got.UpdatedAt.Equal(c.UpdatedAt) || got.UpdatedAt.Format(time.RFC3339Nano) != c.UpdatedAt.Format(time.RFC3339Nano) {
		t.Errorf("UpdatedAt %v, want %v", got.UpdatedAt, c.UpdatedAt)
	}
	got.UpdatedAt = c.UpdatedAt
	if !reflect.DeepEqual(got, c) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, c)
	}
	if r := rec.ref(); r != "hubspot:42" {
		t.Errorf("ref %q", r)
	}
	var ks []phone.Key
	rec.keys(func(k phone.Key) { ks = append(ks, k) })
	if !reflect.DeepEqual(ks, keys[:2]) {
		t.Errorf("keys %v, want %v (deduplicated)", ks, keys[:2])
	}
	if !rec.hasKey("t:215522000") || rec.hasKey("t:21552200") {
		t.Error("hasKey")
	}
	if w := rec.words(nil); !reflect.DeepEqual(w, FoldName(c.Name)) {
		t.Errorf("words %v, want %v", w, FoldName(c.Name))
	}

	// The decoded contact is the caller's: changing it changes no record.
	got.Phones[0].Raw, got.Emails[0], got.CustomData[0].Value, *got.Routing.QueuePosition = "", "", "", 9
	if again := rec.contact(); again.Phones[0].Raw == "" || again.Emails[0] == "" || again.CustomData[0].Value == "" || *again.Routing.QueuePosition != q {
		t.Error("a decoded contact shares memory with the record")
	}
	if empty := encodeRecord(Entry{Contact: events.Contact{ID: "1", Source: "s"}}).contact(); !reflect.DeepEqual(empty, events.Contact{ID: "1", Source: "s", UpdatedAt: empty.UpdatedAt}) || !empty.UpdatedAt.IsZero() {
		t.Errorf("empty contact decoded as %+v", empty)
	}
}

func requireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]() {
		for i := range v.NumField() {
			requireAllSet(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
		return
	}
	if v.IsZero() {
		t.Errorf("%s is not set in the test contact: set it, and make sure records keep it", path)
	}
}
