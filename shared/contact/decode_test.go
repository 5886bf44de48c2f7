package contact_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/contact"
)

func readAll(t *testing.T, in string, f contact.Format) ([]contact.Record, error) {
	t.Helper()
	var recs []contact.Record
	err := contact.Read(strings.NewReader(in), f, "admin", func(r contact.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

func TestReadNDJSON(t *testing.T) {
	in := `{"id":"1","name":"Ann","phones":[{"raw":"0215522000"}],"customData":{"z":"1","a":2}}

{"id":"2","name":"Bob"
{"id":"3","company":"Cie","source":"crm"}
{"id":"4","name":"X","bogus":true}
{"id":" ","name":"Y"}
`
	recs, err := readAll(t, in, contact.NDJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	ok := recs[0]
	if ok.Err != nil || ok.Line != 1 || ok.Contact.Source != "admin" || ok.Contact.Type != "contact" ||
		ok.Contact.CustomData[0].Key != "z" || ok.Contact.CustomData[1].Value != "2" {
		t.Fatalf("record 1: %+v", ok)
	}
	if recs[1].Line != 3 || !errors.Is(recs[1].Err, contact.ErrInvalid) {
		t.Fatalf("malformed line: %+v", recs[1])
	}
	if recs[2].Err != nil || recs[2].Contact.Source != "crm" {
		t.Fatalf("company only, own source: %+v", recs[2])
	}
	if recs[3].Line != 5 || recs[3].Err == nil || !strings.Contains(recs[3].Err.Error(), "bogus") {
		t.Fatalf("unknown field: %+v", recs[3])
	}
	if recs[4].Err == nil || !strings.Contains(recs[4].Err.Error(), "id is required") {
		t.Fatalf("blank id: %+v", recs[4])
	}
}

func TestReadCSV(t *testing.T) {
	in := "\ufeffName,ID,Phones,Emails\n" +
		"Ann,1,0215522000; +41 79 555 01 01,a@x.example;b@x.example\n" +
		"\"Bob, Jr.\",2,,\n" +
		"Cy,3\n" +
		"\"broken,4,,\n"
	recs, err := readAll(t, in, contact.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 3 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	a := recs[0].Contact
	if recs[0].Err != nil || recs[0].Line != 2 || a.ID != "1" || a.Name != "Ann" || len(a.Phones) != 2 || a.Phones[1].Raw != "+41 79 555 01 01" || len(a.Emails) != 2 {
		t.Fatalf("row 1: %+v", recs[0])
	}
	if recs[1].Err != nil || recs[1].Contact.Name != "Bob, Jr." {
		t.Fatalf("quoted comma: %+v", recs[1])
	}
	if recs[2].Line != 4 || recs[2].Err == nil {
		t.Fatalf("short row: %+v", recs[2])
	}
}

func TestReadCSVHeaderErrors(t *testing.T) {
	for _, in := range []string{"name,phone\nA,1\n", "name,phones\nA,1\n", ""} {
		if _, err := readAll(t, in, contact.CSV); err == nil {
			t.Errorf("%q: want a header error", in)
		}
	}
}

func TestFormatOf(t *testing.T) {
	if contact.FormatOf("text/csv; charset=utf-8") != contact.CSV || contact.FormatOf("x.CSV") != contact.CSV ||
		contact.FormatOf("application/x-ndjson") != contact.NDJSON {
		t.Fatal("FormatOf")
	}
}

// createdAt is optional in both formats; a CSV value that is not RFC 3339
// rejects its line only.
func TestReadCreatedAt(t *testing.T) {
	want := time.Date(2019, 10, 30, 3, 30, 17, 0, time.UTC)
	recs, err := readAll(t, "id,name,createdAt\n1,Ann,2019-10-30T04:30:17+01:00\n2,Bob,\n3,Cy,yesterday\n", contact.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Err != nil || !recs[0].Contact.CreatedAt.Equal(want) || recs[1].Err != nil || !recs[1].Contact.CreatedAt.IsZero() {
		t.Fatalf("records %+v", recs)
	}
	if !errors.Is(recs[2].Err, contact.ErrInvalid) || !strings.Contains(recs[2].Err.Error(), "createdAt") {
		t.Errorf("bad createdAt: %v", recs[2].Err)
	}
	recs, err = readAll(t, `{"id":"1","name":"Ann","createdAt":"2019-10-30T03:30:17Z"}`+"\n", contact.NDJSON)
	if err != nil || len(recs) != 1 || recs[0].Err != nil || !recs[0].Contact.CreatedAt.Equal(want) {
		t.Fatalf("ndjson: %+v, %v", recs, err)
	}
}
