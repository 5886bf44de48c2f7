package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
)

// recorder is an index that records the batches it is given.
type recorder struct {
	index.Index
	batches []recorded
}

type recorded struct {
	tenant string
	refs   []string // "source:id", "-" before a delete
}

func (r *recorder) ApplyBatch(_ context.Context, tenant string, changes []index.Change) error {
	b := recorded{tenant: tenant}
	for _, c := range changes {
		ref := c.Entry.Contact.Source + ":" + c.Entry.Contact.ID + "@" + c.Entry.Contact.Name
		if c.Delete {
			ref = "-" + c.Entry.Contact.Source + ":" + c.Entry.Contact.ID
		}
		b.refs = append(b.refs, ref)
	}
	r.batches = append(r.batches, b)
	return nil
}

// TestWriteGroupsByTenantInStreamOrder: one batch per tenant, in the order
// the tenants first appear, each with its events in stream order (two
// versions of a contact included) and without the skipped ones.
func TestWriteGroupsByTenantInStreamOrder(t *testing.T) {
	up := func(seq uint64, tenant, id, name string) event {
		c := events.Contact{ID: id, Source: "crm", Name: name}
		return event{seq: seq, tenant: tenant, change: index.Upserted(index.Entry{Contact: c})}
	}
	del := func(seq uint64, tenant, id string) event {
		return event{seq: seq, tenant: tenant, change: index.Deleted("crm", id)}
	}
	evs := []event{
		up(1, "beta", "1", "v1"),
		up(2, "acme", "1", "v1"),
		{seq: 3, tenant: "acme", skip: true},
		up(4, "acme", "1", "v2"),
		del(5, "beta", "1"),
		up(6, "acme", "2", "v1"),
		del(7, "acme", "1"),
		up(8, "beta", "1", "v3"),
	}
	rec := &recorder{}
	a := applier{log: slog.New(slog.NewTextHandler(io.Discard, nil)), index: func(string) index.Index { return rec }}
	if err := a.write(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	want := []recorded{
		{"beta", []string{"crm:1@v1", "-crm:1", "crm:1@v3"}},
		{"acme", []string{"crm:1@v1", "crm:1@v2", "crm:2@v1", "-crm:1"}},
	}
	if !reflect.DeepEqual(rec.batches, want) {
		t.Errorf("batches = %v, want %v", rec.batches, want)
	}
}

// TestDecodeFastAgreesWithEvents: the one-pass decoding gives what
// events.Decode and Envelope.Payload give, and declines whatever they
// refuse, so that the usual path reports why.
func TestDecodeFastAgreesWithEvents(t *testing.T) {
	pos := 2
	full := events.Contact{ID: "003x", Source: "hubspot", Type: "lead", Name: "Zoë Müller", Title: "CEO", Company: "ACME",
		ContactURI: "https://crm/1", CompanyURI: "https://crm/c/1", CRMName: "HubSpot", CRMLogo: "https://logo",
		Phones:     []events.Phone{{Raw: "021 552 20 00", Normalized: "+41215522000", Label: "work"}, {Raw: "0215522"}},
		Emails:     []string{"z@example.com"},
		CustomData: events.CustomData{{Key: "zeta", Value: "1"}, {Key: "alpha", Value: "2"}},
		Routing:    events.Routing{DirectLine: "+41215522001", QueuePosition: &pos, RouteIdentifier: "r", Language: "fr", OutboundNumber: "+41"},
		UpdatedAt:  time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)}
	envelope := func(typ, tenant string, version int, data string) []byte {
		return []byte(fmt.Sprintf(`{"id":"e1","type":%q,"tenant":%q,"source":"hubspot","time":"2026-01-02T03:04:05Z","schemaVersion":%d,"data":%s}`,
			typ, tenant, version, data))
	}
	fullJSON, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"upsert", envelope(events.TypeContactUpserted, "acme", 1, string(fullJSON)), true},
		{"minimal upsert", envelope(events.TypeContactUpserted, "acme", 1, `{"id":"1","source":"crm","name":"A","updatedAt":"2026-01-02T03:04:05Z"}`), true},
		{"tombstone", envelope(events.TypeContactDeleted, "acme", 1, `{"id":"1","source":"crm"}`), true},
		{"unknown type", envelope("contact.merged", "acme", 1, `{"id":"1","source":"crm"}`), true},
		{"older schema", envelope(events.TypeContactUpserted, "acme", 0, `{"id":"1","source":"crm"}`), true},
		{"no type", envelope("", "acme", 1, `{"id":"1","source":"crm"}`), false},
		{"no tenant", envelope(events.TypeContactUpserted, "", 1, `{"id":"1","source":"crm"}`), false},
		{"newer schema", envelope(events.TypeContactUpserted, "acme", events.SchemaVersion+1, `{"id":"1","source":"crm"}`), false},
		{"bad payload", envelope(events.TypeContactUpserted, "acme", 1, `{"id":"1","phones":"021 552 20 00"}`), false},
		{"payload not an object", envelope(events.TypeContactDeleted, "acme", 1, `"1"`), false},
		{"not JSON", []byte(`{"type":`), false},
	}
	for _, tt := range tests {
		typ, tenant, c, ok := decodeFast(tt.msg)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		env, err := events.Decode(tt.msg)
		if !ok {
			continue
		}
		if err != nil {
			t.Errorf("%s: decoded, but events.Decode refuses it: %v", tt.name, err)
			continue
		}
		var want events.Contact
		switch env.Type {
		case events.TypeContactUpserted:
			err = env.Payload(&want)
		case events.TypeContactDeleted:
			var d events.ContactDeleted
			err = env.Payload(&d)
			want = events.Contact{ID: d.ID, Source: d.Source}
		default:
			want = c // the payload of an unknown type is never used
		}
		if err != nil {
			t.Errorf("%s: decoded, but its payload is refused: %v", tt.name, err)
			continue
		}
		if typ != env.Type || tenant != env.Tenant || !reflect.DeepEqual(c, want) {
			t.Errorf("%s: got %q %q %+v, want %q %q %+v", tt.name, typ, tenant, c, env.Type, env.Tenant, want)
		}
	}
}
