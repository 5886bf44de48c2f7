package appconnect_test

import (
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
)

// contacts returns the "contact" array of a lookup answer.
func contacts(t *testing.T, v map[string]any) []map[string]any {
	t.Helper()
	list, ok := v["contact"].([]any)
	if !ok {
		t.Fatalf("no contact array: %v", v)
	}
	out := make([]map[string]any, len(list))
	for i, c := range list {
		out[i] = c.(map[string]any)
	}
	return out
}

func ids(cs []map[string]any) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i], _ = c["id"].(string)
	}
	return out
}

func TestFindContactByPhone(t *testing.T) {
	h := newHarness(t)
	older := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	h.put("acme", events.Contact{ID: "c-ann", Name: "Ann Archer", Title: "CFO", Company: "Archer & Co",
		Emails: []string{"ann@archer.test"}, Phones: []events.Phone{{Raw: "(415) 555-0100"}}, UpdatedAt: older})
	h.put("acme", events.Contact{ID: "c-bob", Name: "Bob Archer", Type: "lead", Phones: []events.Phone{{Raw: "415.555.0100"}}})
	h.put("acme", events.Contact{ID: "c-cy", Name: "Cy Other", Phones: []events.Phone{{Raw: "+1 415 555 0111"}}})
	h.put("globex", events.Contact{ID: "g-1", Name: "Greta", Phones: []events.Phone{{Raw: "021 552 20 00"}}})
	acme := bearer(h.login("acme-key-123456"))
	globex := bearer(h.login("globex-key-456789"))

	t.Run("several matches and the create option", func(t *testing.T) {
		v := h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550100", "", acme...).envelope(t, 200, true, "success")
		cs := contacts(t, v)
		if got := ids(cs); !slices.Equal(got, []string{"c-bob", "c-ann", "createNewContact"}) {
			t.Fatalf("ids %v", got)
		}
		ann := cs[1]
		want := map[string]any{"name": "Ann Archer", "phone": "(415) 555-0100", "type": "contact", "title": "CFO",
			"company": "Archer & Co", "email": "ann@archer.test", "mostRecentActivityDate": "2025-03-01T10:00:00Z", "isNewContact": false}
		for k, w := range want {
			if ann[k] != w {
				t.Errorf("%s = %v, want %v", k, ann[k], w)
			}
		}
		if info, _ := ann["additionalInfo"].(map[string]any); info["source"] != "crm" {
			t.Errorf("additionalInfo %v", ann["additionalInfo"])
		}
		if cs[0]["type"] != "lead" {
			t.Errorf("bob's type %v", cs[0]["type"])
		}
		if c := cs[2]; c["name"] != "Create new contact..." || c["isNewContact"] != true {
			t.Errorf("create option %v", c)
		}
		if _, ok := v["matchedContactInfo"]; ok {
			t.Error("answer uses the adapter guide's matchedContactInfo")
		}
	})

	t.Run("plus arriving as a space", func(t *testing.T) {
		// An unencoded + in a query string decodes to a space.
		v := h.do("GET", "/appconnect/contact?phoneNumber=+14155550111", "", acme...).envelope(t, 200, true, "success")
		if got := ids(contacts(t, v)); !slices.Equal(got, []string{"c-cy", "createNewContact"}) {
			t.Errorf("ids %v", got)
		}
		v = h.do("GET", "/appconnect/contact?phoneNumber=%2041215522000", "", globex...).envelope(t, 200, true, "success")
		if got := ids(contacts(t, v)); !slices.Equal(got, []string{"g-1", "createNewContact"}) {
			t.Errorf("globex ids %v", got)
		}
	})

	t.Run("no match", func(t *testing.T) {
		v := h.do("GET", "/appconnect/contact?phoneNumber=%2B14155559999", "", acme...).envelope(t, 200, true, "warning")
		if message(v) != "Contact not found" {
			t.Errorf("message %q", message(v))
		}
		if got := ids(contacts(t, v)); !slices.Equal(got, []string{"createNewContact"}) {
			t.Errorf("ids %v", got)
		}
		umbrella := bearer(h.login("umbrella-key-0000"))
		v = h.do("GET", "/appconnect/contact?phoneNumber=%2B14155559999", "", umbrella...).envelope(t, 200, true, "warning")
		if cs := contacts(t, v); len(cs) != 0 {
			t.Errorf("tenant without creation got %v", cs)
		}
		v = h.do("GET", "/appconnect/contact?phoneNumber=not-a-number", "", acme...).envelope(t, 200, true, "warning")
		if message(v) != "Contact not found" {
			t.Errorf("junk number: %q", message(v))
		}
	})

	t.Run("tenants are isolated", func(t *testing.T) {
		v := h.do("GET", "/appconnect/contact?phoneNumber=%2B41215522000", "", acme...).envelope(t, 200, true, "warning")
		if got := ids(contacts(t, v)); !slices.Equal(got, []string{"createNewContact"}) {
			t.Errorf("acme sees %v", got)
		}
	})

	t.Run("max results", func(t *testing.T) {
		for _, id := range []string{"m1", "m2", "m3", "m4"} {
			h.put("acme", events.Contact{ID: id, Name: "Many " + id, Phones: []events.Phone{{Raw: "+1 415 555 0177"}}})
		}
		v := h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550177", "", acme...).envelope(t, 200, true, "success")
		if cs := contacts(t, v); len(cs) != 3+1 {
			t.Errorf("%d entries, want maxResults 3 + the create option", len(cs))
		}
	})

	t.Run("missing phone number", func(t *testing.T) {
		h.invalid("GET", "/appconnect/contact", "", acme...).envelope(t, 400, false, "warning")
	})
}

func TestFindContactAlternativeFormats(t *testing.T) {
	h := newHarness(t)
	// In the CRM only, stored in one format each: the index has never seen
	// them, and the CRM's search matches exact strings only.
	h.crm.setContacts(
		events.Contact{ID: "crm-paren", Name: "Paren Stored", Source: "crm", Phones: []events.Phone{{Raw: "(415) 555-0142"}}},
		events.Contact{ID: "crm-hash", Name: "Dash Stored", Source: "crm", Phones: []events.Phone{{Raw: "415-555-0143"}}},
	)
	acme := bearer(h.login("acme-key-123456"))
	tests := []struct {
		name, number, formats string
		wantIDs               []string
		wantSent              []string
	}{
		{"star mask", "+14155550142", "(***) ***-****", []string{"crm-paren", "createNewContact"},
			[]string{"+14155550142", "(415) 555-0142"}},
		{"hash mask", "+14155550143", "###-###-####", []string{"crm-hash", "createNewContact"},
			[]string{"+14155550143", "415-555-0143"}},
		{"several masks, spaces after commas", "+14155550143", "(***) ***-****, ###-###-####,***.***.****", []string{"crm-hash", "createNewContact"},
			[]string{"+14155550143", "(415) 555-0143", "415-555-0143", "415.555.0143"}},
		{"mask for other lengths skipped", "+14155550142", "** ** ** **,(***) ***-****", []string{"crm-paren", "createNewContact"},
			[]string{"+14155550142", "(415) 555-0142"}},
		{"no mask, no match", "+14155550142", "", []string{"createNewContact"}, []string{"+14155550142"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"phoneNumber": {tc.number}, "overridingFormat": {tc.formats}}
			v := h.do("GET", "/appconnect/contact?"+q.Encode(), "", acme...).json(t)
			if got := ids(contacts(t, v)); !slices.Equal(got, tc.wantIDs) {
				t.Errorf("ids %v, want %v", got, tc.wantIDs)
			}
			if got := h.crm.lastSearch(); !slices.Equal(got, tc.wantSent) {
				t.Errorf("CRM asked for %q, want %q", got, tc.wantSent)
			}
		})
	}

	t.Run("index hit needs no CRM", func(t *testing.T) {
		h.put("acme", events.Contact{ID: "idx", Name: "Indexed", Phones: []events.Phone{{Raw: "4155550150"}}})
		before := h.crm.searches()
		q := url.Values{"phoneNumber": {"+14155550150"}, "overridingFormat": {"(***) ***-****"}}
		v := h.do("GET", "/appconnect/contact?"+q.Encode(), "", acme...).envelope(t, 200, true, "success")
		if got := ids(contacts(t, v)); got[0] != "idx" {
			t.Errorf("ids %v", got)
		}
		if h.crm.searches() != before {
			t.Error("the CRM was asked although the index matched")
		}
	})
}

func TestFindExtension(t *testing.T) {
	h := newHarness(t)
	h.put("acme", events.Contact{ID: "u-101", Name: "Ursula User", Type: "user", Phones: []events.Phone{{Raw: "101"}}})
	h.put("acme", events.Contact{ID: "c-101", Name: "Customer With Short Number", Type: "contact", Phones: []events.Phone{{Raw: "101"}}})
	acme := bearer(h.login("acme-key-123456"))

	v := h.do("GET", "/appconnect/contact?phoneNumber=101&isExtension=true", "", acme...).envelope(t, 200, true, "success")
	if got := ids(contacts(t, v)); !slices.Equal(got, []string{"u-101"}) {
		t.Errorf("index directory: %v", got)
	}
	v = h.do("GET", "/appconnect/contact?phoneNumber=102&isExtension=true", "", acme...).envelope(t, 200, true, "success")
	cs := contacts(t, v)
	if len(cs) != 1 || cs[0]["id"] != "ext-102" || cs[0]["name"] != "Reception Desk" || cs[0]["email"] != "desk@acme.test" {
		t.Errorf("config directory: %v", cs)
	}
	v = h.do("GET", "/appconnect/contact?phoneNumber=103&isExtension=true", "", acme...).envelope(t, 200, true, "warning")
	if cs := contacts(t, v); len(cs) != 0 {
		t.Errorf("unknown extension: %v", cs)
	}
	globex := bearer(h.login("globex-key-456789"))
	v = h.do("GET", "/appconnect/contact?phoneNumber=101&isExtension=true", "", globex...).envelope(t, 200, true, "warning")
	if cs := contacts(t, v); len(cs) != 0 {
		t.Errorf("tenant without directory: %v", cs)
	}
}

func TestSearchContactByName(t *testing.T) {
	h := newHarness(t)
	h.put("acme", events.Contact{ID: "mu", Name: "Jürgen Müller", Phones: []events.Phone{{Raw: "+14155550160"}}})
	h.put("acme", events.Contact{ID: "zo", Name: "Zoë Martin"})
	h.put("acme", events.Contact{ID: "mo", Name: "Mona Mullerova"})
	h.put("globex", events.Contact{ID: "gm", Name: "Gerd Müller"})
	h.crm.setContacts(
		events.Contact{ID: "live-1", Source: "crm", Name: "Heinz Müller-Live"},
		events.Contact{ID: "mu", Source: "crm", Name: "Jürgen Müller"}, // in the index too
	)
	acme := bearer(h.login("acme-key-123456"))
	search := func(name string) []string {
		t.Helper()
		v := h.do("GET", "/appconnect/custom/contact/search?"+url.Values{"name": {name}}.Encode(), "", acme...).json(t)
		return ids(contacts(t, v))
	}
	if got := search("muller"); !slices.Contains(got, "mu") || !slices.Contains(got, "mo") || slices.Contains(got, "gm") {
		t.Errorf("muller: %v", got)
	}
	if got := search("JÜRG MÜL"); !slices.Equal(got, []string{"mu"}) {
		t.Errorf("JÜRG MÜL: %v", got)
	}
	if got := search("zoe"); !slices.Equal(got, []string{"zo"}) {
		t.Errorf("zoe: %v", got)
	}
	// The CRM's live search adds what the index lacks, without duplicates.
	if got := search("Müller-Live"); !slices.Equal(got, []string{"live-1"}) {
		t.Errorf("live: %v", got)
	}
	if got := search("jürgen"); !slices.Equal(got, []string{"mu"}) {
		t.Errorf("jürgen with live duplicate: %v", got)
	}
	v := h.do("GET", "/appconnect/custom/contact/search?name=nobody", "", acme...).envelope(t, 200, true, "warning")
	if !strings.Contains(message(v), "nobody") {
		t.Errorf("message %q", message(v))
	}
	h.do("GET", "/appconnect/custom/contact/search?name=mu", "", acme...).envelope(t, 200, true, "success")
	h.invalid("GET", "/appconnect/custom/contact/search", "", acme...).envelope(t, 400, false, "warning")
}

func TestCreateContactThenLookup(t *testing.T) {
	h := newHarness(t)

	t.Run("in the tenant's CRM", func(t *testing.T) {
		acme := bearer(h.login("acme-key-123456"))
		v := h.do("POST", "/appconnect/contact", `{"phoneNumber":"+14155550170","newContactName":"  Nora New ","newContactType":"lead"}`, acme...).
			envelope(t, 200, true, "success")
		c := v["contact"].(map[string]any)
		if c["id"] != "crm-1" || c["name"] != "Nora New" || c["type"] != "lead" {
			t.Errorf("contact %v", c)
		}
		if created := h.crm.createdContacts(); len(created) != 1 || created[0].Phone != "+14155550170" || created[0].Type != "lead" {
			t.Errorf("CRM got %+v", created)
		}
		v = h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550170", "", acme...).envelope(t, 200, true, "success")
		if got := ids(contacts(t, v)); !slices.Equal(got, []string{"crm-1", "createNewContact"}) {
			t.Errorf("lookup right after create: %v", got)
		}
	})

	t.Run("CRM refuses", func(t *testing.T) {
		acme := bearer(h.login("acme-key-123456"))
		h.crm.failWith(errPermanent)
		v := h.do("POST", "/appconnect/contact", `{"phoneNumber":"+14155550171","newContactName":"Refused"}`, acme...).
			envelope(t, 200, false, "warning")
		if !strings.Contains(message(v), "422") {
			t.Errorf("message %q", message(v))
		}
	})

	t.Run("Calldex-owned", func(t *testing.T) {
		globex := bearer(h.login("globex-key-456789"))
		body := `{"phoneNumber":" 41215522099","newContactName":"Otto Owned"}`
		v := h.do("POST", "/appconnect/contact", body, globex...).envelope(t, 200, true, "success")
		id, _ := v["contact"].(map[string]any)["id"].(string)
		if !strings.HasPrefix(id, "ac-") {
			t.Fatalf("id %q", id)
		}
		// National format, as a Swiss phone system sends it.
		v = h.do("GET", "/appconnect/contact?phoneNumber=0215522099", "", globex...).envelope(t, 200, true, "success")
		cs := contacts(t, v)
		if cs[0]["id"] != id || cs[0]["additionalInfo"].(map[string]any)["source"] != "appconnect" {
			t.Errorf("lookup: %v", cs)
		}
		// Sent twice (double click): one contact.
		v = h.do("POST", "/appconnect/contact", body, globex...).envelope(t, 200, true, "success")
		if v["contact"].(map[string]any)["id"] != id {
			t.Error("a second create made another contact")
		}
		v = h.do("GET", "/appconnect/contact?phoneNumber=%2B41215522099", "", globex...).json(t)
		if n := len(contacts(t, v)); n != 2 {
			t.Errorf("%d entries after a double create", n)
		}
	})

	t.Run("refused", func(t *testing.T) {
		umbrella := bearer(h.login("umbrella-key-0000"))
		h.do("POST", "/appconnect/contact", `{"phoneNumber":"+14155550172","newContactName":"No"}`, umbrella...).
			envelope(t, 200, false, "warning")
		acme := bearer(h.login("acme-key-123456"))
		h.do("POST", "/appconnect/contact", `{"phoneNumber":"+14155550172","newContactName":"X","newContactType":"Candidate"}`, acme...).
			envelope(t, 400, false, "warning")
		h.do("POST", "/appconnect/contact", `{"phoneNumber":"call me","newContactName":"X"}`, acme...).
			envelope(t, 400, false, "warning")
		h.invalid("POST", "/appconnect/contact", `{"phoneNumber":"+14155550172"}`, acme...).envelope(t, 400, false, "warning")
	})
}

func TestLookupRecorded(t *testing.T) {
	m := metrics.New()
	pub := &recordingEvents{}
	h := newHarness(t, func(_ *appconnect.Config, d *appconnect.Deps) {
		d.Lookup = lookup.NewRecorder(d.Lookup.(*lookup.Recorder).Service(), m, pub, events.Topology{}, nil)
	})
	h.put("acme", events.Contact{ID: "c1", Name: "Ann", Phones: []events.Phone{{Raw: "+14155550100"}}})
	acme := bearer(h.login("acme-key-123456"))
	h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550100", "", acme...)
	h.do("GET", "/appconnect/contact?phoneNumber=%2B14155550199", "", acme...)
	if got := lookupCounts(t, m); got["hit"] != 1 || got["miss"] != 1 {
		t.Errorf("appconnect lookups by result: %v", got)
	}
	subjects, payloads := pub.all()
	if len(payloads) != 2 || subjects[0] != "calls.acme.lookup" || payloads[0].Dialect != "appconnect" || payloads[0].ContactID != "c1" || payloads[1].Hits != 0 {
		t.Errorf("call.lookup events %v %+v", subjects, payloads)
	}
}

// lookupCounts reads calldex_lookups_total{dialect="appconnect"} by result.
func lookupCounts(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "calldex_lookups_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["dialect"] == "appconnect" {
				out[labels["result"]] = metric.GetCounter().GetValue()
			}
		}
	}
	return out
}

type recordingEvents struct {
	mu       sync.Mutex
	subjects []string
	payloads []events.CallLookup
}

func (r *recordingEvents) Publish(subject string, _ events.Envelope, ev events.CallLookup) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subjects = append(r.subjects, subject)
	r.payloads = append(r.payloads, ev)
	return true
}

func (r *recordingEvents) all() ([]string, []events.CallLookup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.subjects...), append([]events.CallLookup(nil), r.payloads...)
}
