package appconnect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/crm"
)

// Names used on the wire and in events.
const (
	// dialect names App Connect in lookup metrics and call.lookup events.
	dialect = "appconnect"
	// OwnedSource is the source of contacts App Connect creates for a
	// tenant whose CRM cannot create them: Calldex owns them.
	OwnedSource = "appconnect"
	// createNewContactID is the sentinel id of App Connect's synthetic
	// "create new contact" choice.
	createNewContactID = "createNewContact"
	// createTimeout bounds a contact creation in the CRM: the user waits.
	createTimeout = 10 * time.Second
)

// contactInfo is App Connect's ContactInfo.
type contactInfo struct {
	ID                     string         `json:"id"`
	Name                   string         `json:"name"`
	Phone                  string         `json:"phone,omitempty"`
	Type                   string         `json:"type,omitempty"`
	Title                  string         `json:"title,omitempty"`
	Company                string         `json:"company,omitempty"`
	Email                  string         `json:"email,omitempty"`
	CreatedDate            string         `json:"createdDate,omitempty"`
	MostRecentActivityDate string         `json:"mostRecentActivityDate,omitempty"`
	AdditionalInfo         map[string]any `json:"additionalInfo,omitempty"`
	IsNewContact           bool           `json:"isNewContact"`
}

// contactSearchResponse is App Connect's ContactSearchResponse: the
// matches travel in "contact" (an array despite the name), not in the
// adapter guide's matchedContactInfo.
type contactSearchResponse struct {
	Successful    bool           `json:"successful"`
	ReturnMessage *returnMessage `json:"returnMessage"`
	Contact       []contactInfo  `json:"contact"`
}

var createNewContact = contactInfo{ID: createNewContactID, Name: "Create new contact...", IsNewContact: true}

// toContactInfo describes a contact for App Connect; number is the E.164
// form of the number it was found by, if any; others are the same person's
// entries from other sources (lookup.Result.Merged), listed in
// additionalInfo.otherSources with their source, id, CRM name and link.
func toContactInfo(c events.Contact, number string, others []events.Contact) contactInfo {
	ci := contactInfo{
		ID: c.ID, Name: c.Name, Type: c.Type, Title: c.Title, Company: c.Company,
	}
	if ci.Name == "" {
		ci.Name = c.Company
	}
	if ci.Type == "" {
		ci.Type = "contact"
	}
	if len(c.Emails) > 0 {
		ci.Email = c.Emails[0]
	}
	for _, p := range c.Phones {
		if number != "" && p.Normalized == number {
			ci.Phone = p.Raw
			break
		}
	}
	if ci.Phone == "" && len(c.Phones) > 0 {
		ci.Phone = c.Phones[0].Raw
	}
	// Calldex knows when the CRM record last changed, not the last
	// activity on it: the closest it has.
	if !c.UpdatedAt.IsZero() {
		ci.MostRecentActivityDate = c.UpdatedAt.UTC().Format(time.RFC3339)
	}
	if !c.CreatedAt.IsZero() {
		ci.CreatedDate = c.CreatedAt.UTC().Format(time.RFC3339)
	}
	info := sourceInfo(c)
	if c.CompanyURI != "" {
		info["companyUri"] = c.CompanyURI
	}
	if len(others) > 0 {
		list := make([]map[string]any, len(others))
		for i, o := range others {
			list[i] = sourceInfo(o)
			list[i]["id"] = o.ID
		}
		info["otherSources"] = list
	}
	if len(info) > 0 {
		ci.AdditionalInfo = info
	}
	return ci
}

// withRisk adds the caller's risk signal to a contact's additionalInfo:
// "risk" (the score, 0–100) and "riskReasons" (reason codes).
func withRisk(ci contactInfo, rk risk.Assessment) contactInfo {
	if rk.IsZero() {
		return ci
	}
	if ci.AdditionalInfo == nil {
		ci.AdditionalInfo = map[string]any{}
	}
	ci.AdditionalInfo["risk"] = rk.Score
	ci.AdditionalInfo["riskReasons"] = rk.Reasons.Codes()
	return ci
}

// sourceInfo is where a contact comes from: its source, CRM name and link,
// those it has.
func sourceInfo(c events.Contact) map[string]any {
	info := map[string]any{}
	for k, v := range map[string]string{"source": c.Source, "crmName": c.CRMName, "contactUri": c.ContactURI} {
		if v != "" {
			info[k] = v
		}
	}
	return info
}

// findContact answers GET /contact: the index first (it matches every
// format a number was stored in), then, on a miss, the tenant's CRM live
// with the user's alternative formats when the tenant asks for it.
func (h *Handler) findContact(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	number := q.Get("phoneNumber")
	if strings.TrimSpace(number) == "" {
		badRequest(w, "Missing required query parameter: phoneNumber")
		return
	}
	t, opts := s.tenant, h.cfg.tenantOptions(s.tenant.ID)
	if isExt, _ := strconv.ParseBool(q.Get("isExtension")); isExt {
		h.findExtension(w, r, t, opts, strings.TrimSpace(number))
		return
	}
	number = restorePlus(number)
	res, err := h.d.Lookup.Lookup(r.Context(), t, dialect, number, "")
	if err != nil {
		writeJSON(w, http.StatusOK, contactSearchResponse{ReturnMessage: danger("Contact lookup is not available right now"), Contact: []contactInfo{}})
		return
	}
	e164 := e164Of(res)
	found := make([]events.Contact, 0, len(res.Matches)+1)
	for _, m := range res.Matches {
		found = append(found, m.Contact)
	}
	if len(found) == 0 && opts.LivePhoneSearch {
		found = h.livePhoneSearch(r.Context(), t, opts, number, e164, q.Get("overridingFormat"))
	}
	out := make([]contactInfo, 0, len(found)+1)
	for i, c := range found {
		// Live contacts (res has no matches then) were never merged.
		out = append(out, withRisk(toContactInfo(c, e164, res.MergedInto(i)), res.Risk))
	}
	msg := &returnMessage{Message: "Found " + plural(len(found), "contact"), MessageType: "success", TTL: 1000}
	if len(found) == 0 {
		msg = warning("Contact not found")
	}
	if opts.AllowCreate {
		out = append(out, createNewContact)
	}
	writeJSON(w, http.StatusOK, contactSearchResponse{Successful: true, ReturnMessage: msg, Contact: out})
}

// e164Of is the most likely E.164 reading of a looked-up number: the
// first "e:" candidate key, in phone.Key's documented format.
func e164Of(res lookup.Result) string {
	for _, k := range res.Candidates {
		if e, ok := strings.CutPrefix(string(k), "e:"); ok {
			return e
		}
	}
	return ""
}

// noCRM is the CRM of a tenant without one: it can do nothing.
type noCRM struct{}

func (noCRM) PhoneSearcher() (crm.PhoneSearcher, bool)   { return nil, false }
func (noCRM) NameSearcher() (crm.NameSearcher, bool)     { return nil, false }
func (noCRM) ContactCreator() (crm.ContactCreator, bool) { return nil, false }

// crmConnector returns the tenant's CRM for App Connect
// (TenantOptions.CRM, else its only connector) and its name; noCRM when
// there is none or it cannot be built.
func (h *Handler) crmConnector(ctx context.Context, t *tenant.Tenant, opts TenantOptions) (CRM, string) {
	if h.d.Connectors == nil {
		return noCRM{}, ""
	}
	name := opts.CRM
	if name == "" {
		if len(t.Connectors) != 1 {
			return noCRM{}, ""
		}
		for n := range t.Connectors {
			name = n
		}
	}
	c, err := h.d.Connectors.Connector(ctx, t.ID, name)
	if err != nil {
		h.log.Warn("appconnect: connector unavailable", "tenant", t.ID, "connector", name, "err", err)
		return noCRM{}, ""
	}
	return c, name
}

// livePhoneSearch asks the CRM for the number as E.164 and in each of the
// user's formats, within LiveTimeout; a failure is a miss.
func (h *Handler) livePhoneSearch(ctx context.Context, t *tenant.Tenant, opts TenantOptions, number, e164, overriding string) []events.Contact {
	c, name := h.crmConnector(ctx, t, opts)
	ps, ok := c.PhoneSearcher()
	if !ok {
		return nil
	}
	numbers := []string{number}
	if e164 != "" {
		numbers = append([]string{e164}, maskedNumbers(e164, overriding)...)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.LiveTimeout)
	defer cancel()
	cs, err := ps.SearchPhone(ctx, numbers)
	if err != nil {
		h.log.Warn("appconnect: live phone search", "tenant", t.ID, "connector", name, "err", err)
		return nil
	}
	if len(cs) > t.MaxResults {
		cs = cs[:t.MaxResults]
	}
	return cs
}

// extensionTypes are the contact types of a tenant's own people.
var extensionTypes = []string{"user", "extension"}

// findExtension answers isExtension=true from the tenant's directory: the
// indexed contacts of type user or extension with that number, then the
// configured directory. App Connect never offers to create an extension.
func (h *Handler) findExtension(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, opts TenantOptions, ext string) {
	out := []contactInfo{}
	res, err := h.d.Lookup.Lookup(r.Context(), t, dialect, ext, "")
	if err != nil {
		writeJSON(w, http.StatusOK, contactSearchResponse{ReturnMessage: danger("Contact lookup is not available right now"), Contact: out})
		return
	}
	for i, m := range res.Matches {
		if contains(extensionTypes, strings.ToLower(m.Contact.Type)) {
			out = append(out, toContactInfo(m.Contact, "", res.MergedInto(i)))
		}
	}
	for _, e := range opts.Directory {
		if len(out) >= t.MaxResults {
			break
		}
		if digits(e.Number) != "" && digits(e.Number) == digits(ext) {
			id := e.ID
			if id == "" {
				id = "ext-" + digits(e.Number)
			}
			out = append(out, contactInfo{ID: id, Name: e.Name, Phone: e.Number, Type: "extension", Title: e.Title, Email: e.Email})
		}
	}
	if len(out) > t.MaxResults {
		out = out[:t.MaxResults]
	}
	if len(out) == 0 {
		writeJSON(w, http.StatusOK, contactSearchResponse{Successful: true, ReturnMessage: warning("No internal extension " + truncate(ext, 32) + " in the directory"), Contact: out})
		return
	}
	writeJSON(w, http.StatusOK, contactSearchResponse{Successful: true, Contact: out,
		ReturnMessage: &returnMessage{Message: "Found " + plural(len(out), "extension"), MessageType: "success", TTL: 1000}})
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// searchContactByName answers GET /custom/contact/search: the index's
// name search (case and accents folded), then the CRM's live search when
// the tenant asks for it, without duplicates, at most MaxResults.
func (h *Handler) searchContactByName(w http.ResponseWriter, r *http.Request, s *session) {
	name := strings.TrimSpace(r.URL.Query().Get("name"))
	if name == "" {
		badRequest(w, "Missing required query parameter: name")
		return
	}
	t, opts := s.tenant, h.cfg.tenantOptions(s.tenant.ID)
	found, err := h.d.Names.SearchName(r.Context(), t.ID, name, t.MaxResults)
	if err != nil {
		h.log.Error("appconnect: name search", "tenant", t.ID, "err", err)
		writeJSON(w, http.StatusOK, contactSearchResponse{ReturnMessage: danger("Contact search is not available right now"), Contact: []contactInfo{}})
		return
	}
	if opts.LiveNameSearch && len(found) < t.MaxResults {
		found = appendNew(found, h.liveNameSearch(r.Context(), t, opts, name), t.MaxResults)
	}
	out := make([]contactInfo, 0, len(found))
	for _, c := range found {
		out = append(out, toContactInfo(c, "", nil))
	}
	if len(out) == 0 {
		writeJSON(w, http.StatusOK, contactSearchResponse{Successful: true, ReturnMessage: warning("No contact found with name " + truncate(name, 64)), Contact: out})
		return
	}
	writeJSON(w, http.StatusOK, contactSearchResponse{Successful: true, Contact: out,
		ReturnMessage: &returnMessage{Message: "Found " + plural(len(out), "contact"), MessageType: "success", TTL: 1000}})
}

func (h *Handler) liveNameSearch(ctx context.Context, t *tenant.Tenant, opts TenantOptions, name string) []events.Contact {
	c, conn := h.crmConnector(ctx, t, opts)
	ns, ok := c.NameSearcher()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.LiveTimeout)
	defer cancel()
	cs, err := ns.SearchName(ctx, name, t.MaxResults)
	if err != nil {
		h.log.Warn("appconnect: live name search", "tenant", t.ID, "connector", conn, "err", err)
		return nil
	}
	return cs
}

// appendNew adds the contacts of more not already in list (same id, and
// same source when both have one), up to limit.
func appendNew(list, more []events.Contact, limit int) []events.Contact {
	for _, c := range more {
		if len(list) >= limit {
			break
		}
		dup := false
		for _, x := range list {
			if x.ID == c.ID && (x.Source == c.Source || x.Source == "" || c.Source == "") {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, c)
		}
	}
	return list
}

// createContactRequest is App Connect's CreateContactRequest.
type createContactRequest struct {
	PhoneNumber    string `json:"phoneNumber"`
	NewContactName string `json:"newContactName"`
	NewContactType string `json:"newContactType"`
}

// contactMutationResponse is App Connect's ContactMutationResponse.
type contactMutationResponse struct {
	Successful    bool           `json:"successful"`
	ReturnMessage *returnMessage `json:"returnMessage"`
	Contact       *contactInfo   `json:"contact,omitempty"`
}

// maxNameLen bounds a typed contact name.
const maxNameLen = 200

// createContact answers POST /contact: the contact is created in the
// tenant's CRM when it can (crm.ContactCreator), else owned by Calldex;
// either way it is published to CONTACTS and the answer waits until the
// index has it, so the next lookup of the number finds it.
func (h *Handler) createContact(w http.ResponseWriter, r *http.Request, s *session) {
	var req createContactRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	name := strings.TrimSpace(req.NewContactName)
	number := restorePlus(req.PhoneNumber)
	var absent []string
	if number == "" {
		absent = append(absent, "phoneNumber")
	}
	if name == "" {
		absent = append(absent, "newContactName")
	}
	if missing(w, absent...) {
		return
	}
	if len(name) > maxNameLen {
		badRequest(w, "newContactName is longer than "+strconv.Itoa(maxNameLen)+" bytes")
		return
	}
	t, opts := s.tenant, h.cfg.tenantOptions(s.tenant.ID)
	typ, ok := h.contactType(req.NewContactType)
	if !ok {
		badRequest(w, "Unknown newContactType "+truncate(req.NewContactType, 64))
		return
	}
	if _, err := phone.Candidates(number, t.PhoneOptions()); err != nil {
		badRequest(w, "phoneNumber is not a phone number")
		return
	}
	if !opts.AllowCreate {
		writeJSON(w, http.StatusOK, contactMutationResponse{ReturnMessage: warning("Creating contacts from App Connect is not enabled for this account")})
		return
	}
	stored := number
	if e164, err := phone.Normalize(number, t.PhoneOptions()); err == nil {
		stored = e164
	}

	var c events.Contact
	inCRM := false
	crmConn, conn := h.crmConnector(r.Context(), t, opts)
	if creator, ok := crmConn.ContactCreator(); ok {
		ctx, cancel := context.WithTimeout(r.Context(), createTimeout)
		created, err := creator.CreateContact(ctx, crm.NewContact{Name: name, Phone: stored, Type: typ})
		cancel()
		if err != nil {
			h.log.Warn("appconnect: create contact in CRM", "tenant", t.ID, "connector", conn, "err", err)
			msg := danger("The CRM could not be reached; please try again")
			if crm.IsPermanent(err) {
				msg = warning("The CRM refused the new contact: " + truncate(err.Error(), 200))
			}
			writeJSON(w, http.StatusOK, contactMutationResponse{ReturnMessage: msg})
			return
		}
		c, inCRM = created, true
		if c.Source == "" && events.ValidID(conn) == nil {
			c.Source = conn
		}
		if c.Name == "" {
			c.Name = name
		}
		if c.Type == "" {
			c.Type = typ
		}
		if len(c.Phones) == 0 {
			c.Phones = []events.Phone{{Raw: stored}}
		}
	} else {
		c = events.Contact{
			ID: ownedContactID(t.ID, stored, name), Source: OwnedSource, Type: typ, Name: name,
			CRMName: h.cfg.DisplayName, Phones: []events.Phone{{Raw: stored}},
		}
	}
	c.UpdatedAt = h.now().UTC()
	if err := contact.Validate(&c, OwnedSource); err != nil {
		h.log.Error("appconnect: created contact is invalid", "tenant", t.ID, "connector", conn, "err", err)
		writeJSON(w, http.StatusOK, contactMutationResponse{ReturnMessage: danger("The new contact could not be stored: " + truncate(err.Error(), 200))})
		return
	}
	ci := toContactInfo(c, stored, nil)
	ci.AdditionalInfo = nil
	seq, err := h.d.Contacts.Upsert(r.Context(), t.ID, c)
	if err != nil {
		h.log.Error("appconnect: publish created contact", "tenant", t.ID, "err", err)
		if inCRM {
			// It exists in the CRM: the next sync brings it to the index.
			writeJSON(w, http.StatusOK, contactMutationResponse{Successful: true, Contact: &ci,
				ReturnMessage: warning("Contact created in the CRM; Calldex will recognise it after the next sync")})
			return
		}
		writeJSON(w, http.StatusOK, contactMutationResponse{ReturnMessage: danger("The contact could not be stored; please try again")})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.ProjectionWait)
	defer cancel()
	if err := h.d.Projection.WaitApplied(ctx, seq); err != nil {
		writeJSON(w, http.StatusOK, contactMutationResponse{Successful: true, Contact: &ci,
			ReturnMessage: warning("Contact created; it can take a moment before calls are matched to it")})
		return
	}
	writeJSON(w, http.StatusOK, contactMutationResponse{Successful: true, Contact: &ci, ReturnMessage: success("Contact created")})
}

// contactType maps App Connect's newContactType (a manifest value or
// display name) to a contact type; empty is the first configured type.
func (h *Handler) contactType(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return h.cfg.ContactTypes[0].Value, true
	}
	for _, ct := range h.cfg.ContactTypes {
		if strings.EqualFold(v, ct.Value) || strings.EqualFold(v, ct.Display) {
			return ct.Value, true
		}
	}
	return "", false
}

// ownedContactID derives the id of a Calldex-owned contact from what the
// user typed, so that a create sent twice (a double click, a retry) makes
// one contact.
func ownedContactID(tenant, number, name string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + number + "\x00" + strings.ToLower(name)))
	return "ac-" + hex.EncodeToString(sum[:10])
}
