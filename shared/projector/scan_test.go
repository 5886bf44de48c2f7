package projector

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
)

// scanSeeds are contact events as the publishers write them, and others.
func scanSeeds(t testing.TB) [][]byte {
	pos := 0
	at := time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC)
	contacts := []events.Contact{
		{ID: "1", Source: "crm", Name: "A", UpdatedAt: at},
		{ID: "a.b", Source: "crm", Type: "lead", Name: "Jürg Müller & Söhne <AG>", Title: `q"b\`, Company: "tab\tnl\n\x01", ContactURI: "https://crm/x?a=1&b=2",
			CompanyURI: "\u2028 🎉", CRMName: "n", CRMLogo: "l", Emails: []string{"a@b", ""},
			Phones:     []events.Phone{{Raw: "+41 21 552 20 00", Normalized: "+41215522000", Label: "work"}, {Raw: "0215522000"}},
			CustomData: events.CustomData{{Key: "Kundennr", Value: "K-1"}, {Key: "ä\"", Value: "<b>"}, {Key: "Kundennr", Value: "again"}},
			Routing:    events.Routing{DirectLine: "12", QueuePosition: &pos, RouteIdentifier: "r", Language: "de", OutboundNumber: "+41"},
			UpdatedAt:  at.In(time.FixedZone("CET", 3600)), CreatedAt: at.Add(-time.Hour)},
		{ID: "1", Phones: []events.Phone{}, Emails: []string{}, CustomData: events.CustomData{}, Routing: events.Routing{Language: "fr"}},
	}
	var out [][]byte
	for _, c := range contacts {
		data, err := c.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{events.TypeContactUpserted, events.TypeContactDeleted} {
			e := events.Envelope{ID: "e1", Type: typ, Tenant: "acme", Source: c.Source, Time: at, SchemaVersion: events.SchemaVersion, Data: data}
			out = append(out, e.AppendJSON(nil))
		}
	}
	for _, s := range []string{
		` { "type" : "contact.upserted" , "tenant" : "acme", "schemaVersion" : 1 , "data" : { "id" : "1" , "phones" : [ { "raw" : "1" } ] } } `,
		`{"type":"contact.upserted","tenant":"acme","schemaVersion":-0,"data":{"id":"\u00e9\/\b\f\r","routing":{"queuePosition":-12}}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"id":"1"},"data":{"name":"x"}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"id":"1","routing":{}}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"id":null}}`,
		`{"Type":"contact.upserted","tenant":"acme","data":{"id":"1"}}`,
		`{"type":"contact.upserted","tenant":"acme","extra":1,"data":{"id":"1"}}`,
		`{"type":"contact.upserted","tenant":"acme","schemaVersion":1.0,"data":{"id":"1"}}`,
		`{"type":"contact.upserted","tenant":"acme","schemaVersion":2,"data":{"id":"1"}}`,
		`{"type":"contact.upserted","tenant":"acme","schemaVersion":01,"data":{"id":"1"}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"id":"\ud83c\udf89"}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"id":"bad \xff"}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"customData":{"n":2}}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"updatedAt":"2026-13-01T00:00:00Z"}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"updatedAt":"2026-01-01T00:00:00Z","createdAt":"x"}}`,
		`{"type":"contact.upserted","tenant":"acme","data":{"id":"1"}} x`,
		`{"type":"contact.upserted","tenant":"acme","data":{"id":"1",}}`,
		`{"type":"","tenant":"acme","data":{}}`,
		`{"type":"contact.merged","tenant":"acme","data":{}}`,
		`{}`, ``, `[]`, `{"type":"a\u0`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// decodeJSON is what encoding/json makes of a contact event.
func decodeJSON(b []byte) (typ, tenant string, c events.Contact, ok bool) {
	var e contactEvent
	if err := json.Unmarshal(b, &e); err != nil || e.Type == "" || e.Tenant == "" || e.SchemaVersion > events.SchemaVersion {
		return "", "", events.Contact{}, false
	}
	return e.Type, e.Tenant, e.Data, true
}

func checkScan(t *testing.T, b []byte) bool {
	typ, tenant, c, ok := decodeScan(b)
	if !ok {
		return false
	}
	wtyp, wtenant, wc, wok := decodeJSON(b)
	if !wok || typ != wtyp || tenant != wtenant || !reflect.DeepEqual(c, wc) {
		t.Fatalf("%s:\n scanned %v %q %q %+v\nencoding/json %v %q %q %+v", b, ok, typ, tenant, c, wok, wtyp, wtenant, wc)
	}
	return true
}

func TestDecodeScanIsWhatEncodingJSONDecodes(t *testing.T) {
	scanned := 0
	for _, b := range scanSeeds(t) {
		if checkScan(t, b) {
			scanned++
		}
	}
	// What the publishers write is never left to encoding/json.
	for _, b := range scanSeeds(t)[:6] {
		if _, _, _, ok := decodeScan(b); !ok {
			t.Errorf("not scanned: %s", b)
		}
	}
	if scanned < 10 {
		t.Errorf("only %d events scanned", scanned)
	}
}

func FuzzDecodeScan(f *testing.F) {
	for _, b := range scanSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}
