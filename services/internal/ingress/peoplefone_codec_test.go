package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/risk"
)

// tricky strings: everything encoding/json escapes, and invalid UTF-8.
var tricky = []string{
	"", "Alexa Holiday", "Jürg Müller", `quote " and \ backslash`, "<script>&amp;</script>",
	"tab\tnew\nline\rcr\bbs\fff", "\x00\x01\x1f\x7f", "line\u2028sep\u2029", "bad \xff\xfe utf8 \xc3",
	"emoji 🎉 中文", "https://crm.example.com/c?a=1&b=2",
}

func encodeLikeBefore(res lookup.Result, actions []string) []byte {
	out := make([]peoplefoneEntry, len(res.Matches))
	for i, m := range res.Matches {
		c := m.Contact
		out[i] = peoplefoneEntry{Name: c.Name, Company: c.Company, ContactURI: c.ContactURI, CompanyURI: c.CompanyURI,
			ID: c.ID, CRMName: c.CRMName, CRMLogo: c.CRMLogo, CustomData: withRisk(customData(c, res.MergedInto(i)), res.Risk), CRMActions: actions}
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(out)
	return b.Bytes()
}

func TestPeoplefoneAnswerIsWhatEncodingJSONWrites(t *testing.T) {
	var matches []index.Match
	for i, s := range tricky {
		c := events.Contact{Name: s, Company: tricky[(i+1)%len(tricky)], ContactURI: tricky[(i+2)%len(tricky)],
			CompanyURI: tricky[(i+3)%len(tricky)], ID: tricky[(i+4)%len(tricky)], CRMName: s, CRMLogo: s}
		switch i % 3 {
		case 0:
			c.CustomData = events.CustomData{{Key: s, Value: tricky[(i+5)%len(tricky)]}, {Key: "Language", Value: "fr"}}
		case 1:
			c.Emails = []string{s + "@example.com", "second@example.com"}
		}
		matches = append(matches, index.Match{Contact: c})
	}
	// The same person from other sources, on every third match.
	merged := make([][]events.Contact, len(matches))
	for i := 0; i < len(merged); i += 3 {
		merged[i] = []events.Contact{{ID: tricky[i], Source: "hubspot", CRMName: tricky[(i+1)%len(tricky)], ContactURI: tricky[(i+2)%len(tricky)]},
			{ID: "77", Source: "pipedrive"}}
	}
	robocaller := risk.Assessment{Score: 85, Reasons: 1<<risk.ManyTenants | 1<<risk.ShortCalls | 1<<risk.Unanswered, High: true}
	for _, rk := range []risk.Assessment{{}, robocaller} {
		for _, actions := range [][]string{nil, {}, {"CallFlow", "Ticket"}, {"<&>"}} {
			for _, ms := range [][]index.Match{nil, matches[:1], matches} {
				for _, merged := range [][][]events.Contact{nil, merged[:len(ms)]} {
					res := lookup.Result{Matches: ms, Merged: merged, Risk: rk}
					want := encodeLikeBefore(res, actions)
					if got := appendPeoplefoneEntries(nil, res, actions); !bytes.Equal(got, want) {
						t.Fatalf("risk %+v, actions %q, %d matches:\n got %s\nwant %s", rk, actions, len(ms), got, want)
					}
				}
			}
		}
	}
}

// numberLikeBefore is what the handler read with encoding/json alone.
func numberLikeBefore(body string) (string, error) {
	r := httptest.NewRequest(http.MethodPost, "/peoplefone/Lookup", strings.NewReader(body))
	var req peoplefoneRequest
	if err := decodeJSON(httptest.NewRecorder(), r, &req); err != nil {
		return "", err
	}
	if req.Inputs.PhoneNumber == nil || strings.TrimSpace(*req.Inputs.PhoneNumber) == "" {
		return "", errors.Join(errBadRequest, errors.New("inputs.phoneNumber is required"))
	}
	return *req.Inputs.PhoneNumber, nil
}

func TestPeoplefoneRequestReadsLikeEncodingJSON(t *testing.T) {
	bodies := []struct {
		body string
		fast bool // read without encoding/json
	}{
		{`{"inputs":{"phoneNumber":"41215522000"}}`, true},
		{" \n{ \"inputs\" : { \"phoneNumber\" :\t\"+41 21 552 20 00\" } }\r\n", true},
		{`{"inputs":{"phoneNumber":"abc"}}`, true},
		{`{"inputs":{"phoneNumber":"  "}}`, true},
		{`{"inputs":{"phoneNumber":""}}`, true},
		{`{"inputs":{"phoneNumber":"41\u00321"}}`, false},
		{`{"inputs":{"phoneNumber":"Jürg"}}`, false},
		{`{"Inputs":{"PHONENUMBER":"41215522000"}}`, false},
		{`{"inputs":{"phoneNumber":"41215522000","callerName":"x"}}`, false},
		{`{"inputs":{"phoneNumber":"1"},"inputs":{"phoneNumber":"2"}}`, false},
		{`{"other":1,"inputs":{"phoneNumber":"41215522000"}}`, false},
		{`{"inputs":{"phoneNumber":null}}`, false},
		{`{"inputs":{"phoneNumber":41215522000}}`, false},
		{`{"inputs":{}}`, false},
		{`{"inputs":`, false},
		{`{"inputs":{"phoneNumber":"41215522000"}} {}`, false},
		{`{"inputs":{"phoneNumber":"41215522000"}}}`, false},
		{`[1,2]`, false},
		{``, false},
	}
	for _, b := range bodies {
		_, fast := scanPeoplefoneRequest([]byte(b.body))
		if fast != b.fast {
			t.Errorf("%q: read without encoding/json %v, want %v", b.body, fast, b.fast)
		}
		want, wantErr := numberLikeBefore(b.body)
		r := httptest.NewRequest(http.MethodPost, "/peoplefone/Lookup", strings.NewReader(b.body))
		got, err := readPeoplefoneNumber(httptest.NewRecorder(), r)
		if got != want || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%q: got %q, %v; encoding/json %q, %v", b.body, got, err, want, wantErr)
		}
	}
}

func TestPeoplefoneRequestTooLarge(t *testing.T) {
	body := `{"inputs":{"phoneNumber":"41215522000","pad":"` + strings.Repeat("x", maxBody) + `"}}`
	r := httptest.NewRequest(http.MethodPost, "/peoplefone/Lookup", strings.NewReader(body))
	_, err := readPeoplefoneNumber(httptest.NewRecorder(), r)
	var mbe *http.MaxBytesError
	if !errors.As(err, &mbe) {
		t.Fatalf("got %v, want a MaxBytesError", err)
	}
}

func BenchmarkPeoplefoneCodec(b *testing.B) {
	matches := []index.Match{{Contact: events.Contact{ID: "c17", Name: "Contact 17", Company: "Bench AG",
		ContactURI: "https://crm.example.com/contacts/c17", CRMName: "Bench CRM", CustomData: events.CustomData{{Key: "Segment", Value: "bench"}}}}}
	body := []byte(`{"inputs":{"phoneNumber":"41215000017"}}`)
	actions := []string{"CallFlow", "Ticket"}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/peoplefone/Lookup", bytes.NewReader(body))
		w := httptest.NewRecorder()
		if _, err := readPeoplefoneNumber(w, r); err != nil {
			b.Fatal(err)
		}
		writePeoplefoneAnswer(w, lookup.Result{Matches: matches}, actions)
	}
}
