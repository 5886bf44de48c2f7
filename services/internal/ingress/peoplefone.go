package ingress

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
)

// peoplefoneEntry is one contact in the current CONNECTOR API (camelCase).
type peoplefoneEntry struct {
	Name       string            `json:"name"`
	Company    string            `json:"company"`
	ContactURI string            `json:"contactUri"`
	CompanyURI string            `json:"companyUri"`
	ID         string            `json:"id"`
	CRMName    string            `json:"crmName"`
	CRMLogo    string            `json:"crmLogo"`
	CustomData events.CustomData `json:"customData"`
	CRMActions []string          `json:"crmActions"`
}

// peoplefoneEntryV1 is one contact in the first CONNECTOR API (PascalCase).
type peoplefoneEntryV1 struct {
	Name       string            `json:"Name"`
	Company    string            `json:"Company"`
	ContactURI string            `json:"ContactUri"`
	CompanyURI string            `json:"CompanyUri"`
	ID         string            `json:"Id"`
	CRMName    string            `json:"CrmName"`
	CRMLogo    string            `json:"CrmLogo"`
	CustomData events.CustomData `json:"CustomData"`
}

type peoplefoneRequest struct {
	Inputs struct {
		PhoneNumber *string `json:"phoneNumber"`
	} `json:"inputs"`
}

// peoplefoneLookup answers POST <root>/Lookup: always 200 with an array,
// empty when nothing matches (a 404 would mean "service unreachable").
func (s *Server) peoplefoneLookup(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	number, err := readPeoplefoneNumber(w, r)
	if err != nil {
		fail(w, err)
		return
	}
	res, err := s.Lookup.Lookup(r.Context(), t, dialectPeoplefone, number, "")
	if err != nil {
		lookupFailed(w)
		return
	}
	writePeoplefoneAnswer(w, res, t.Actions())
}

// peoplefoneLookupV1 answers GET <url>?PhoneNumber= of the first version.
func (s *Server) peoplefoneLookupV1(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	number := r.URL.Query().Get("PhoneNumber")
	if strings.TrimSpace(number) == "" {
		fail(w, errors.Join(errBadRequest, errors.New("query parameter PhoneNumber is required")))
		return
	}
	res, err := s.Lookup.Lookup(r.Context(), t, dialectPeoplefoneV1, number, "")
	if err != nil {
		lookupFailed(w)
		return
	}
	out := make([]peoplefoneEntryV1, len(res.Matches))
	for i, m := range res.Matches {
		c := m.Contact
		out[i] = peoplefoneEntryV1{Name: c.Name, Company: c.Company, ContactURI: c.ContactURI, CompanyURI: c.CompanyURI,
			ID: c.ID, CRMName: c.CRMName, CRMLogo: c.CRMLogo, CustomData: withRisk(customData(c, res.MergedInto(i)), res.Risk)}
	}
	writeJSON(w, http.StatusOK, out)
}

// customData is what the agent sees beside the name: the contact's own
// custom data, or else its first email, so the card is never bare; then,
// for each entry of the same person from another source (others), that
// source's id and link: "<CRM name> id", "<CRM name> link" (the source's
// name when it has no CRM name).
func customData(c events.Contact, others []events.Contact) events.CustomData {
	own := c.CustomData
	if len(own) == 0 {
		own = events.CustomData{}
		if len(c.Emails) > 0 {
			own = events.CustomData{{Key: "email", Value: c.Emails[0]}}
		}
	}
	if len(others) == 0 {
		return own
	}
	out := slices.Clip(own)
	for _, o := range others {
		label := o.CRMName
		if label == "" {
			label = o.Source
		}
		out = append(out, events.KV{Key: label + " id", Value: o.ID})
		if o.ContactURI != "" {
			out = append(out, events.KV{Key: label + " link", Value: o.ContactURI})
		}
	}
	return out
}

// withRisk adds the caller's risk to custom data, when there is a signal:
// "Risk" (the score) and "RiskReasons" (reason codes, comma-separated).
func withRisk(cd events.CustomData, rk risk.Assessment) events.CustomData {
	if rk.IsZero() {
		return cd
	}
	out := make(events.CustomData, len(cd), len(cd)+2)
	copy(out, cd)
	return append(out, events.KV{Key: "Risk", Value: strconv.Itoa(rk.Score)},
		events.KV{Key: "RiskReasons", Value: string(rk.Reasons.AppendCodes(nil))})
}
