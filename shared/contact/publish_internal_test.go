package contact

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
)

func TestUpsertMsgIsWhatEncodingJSONWrites(t *testing.T) {
	p := NewPublisher(nil, events.Topology{Prefix: "t"})
	pos := 2
	c := events.Contact{ID: "a.b", Source: "crm", Name: "Jürg <&>", Phones: []events.Phone{{Raw: "021 552 20 00", Label: "work"}},
		Emails: []string{"j@example.com"}, CustomData: events.CustomData{{Key: "n", Value: "1"}}, Routing: events.Routing{QueuePosition: &pos},
		UpdatedAt: time.Date(2026, 1, 5, 10, 0, 0, 5000, time.UTC), CreatedAt: time.Date(2020, 1, 5, 10, 0, 0, 0, time.UTC)}
	subj, data, err := p.upsertMsg("acme", c)
	if err != nil || subj != p.topo.ContactSubject("acme", "crm", "a.b") {
		t.Fatalf("subject %q, %v", subj, err)
	}
	env, err := events.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := events.New(env.ID, events.TypeContactUpserted, "acme", "crm", env.Time, c)
	if err != nil {
		t.Fatal(err)
	}
	if wantData, _ := json.Marshal(want); string(data) != string(wantData) {
		t.Fatalf("got  %s\nwant %s", data, wantData)
	}
	var got events.Contact
	if err := env.Payload(&got); err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("payload %+v, %v; want %+v", got, err, c)
	}
	c.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := p.upsertMsg("acme", c); err == nil {
		t.Fatal("a time encoding/json cannot write was written")
	}
}
