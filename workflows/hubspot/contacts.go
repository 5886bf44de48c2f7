package hubspot

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

// contactProperties are the properties every contact read asks for.
var contactProperties = []string{"firstname", "lastname", "company", "phone", "mobilephone", "email", "lastmodifieddate", "createdate"}

// Search limits (developers.hubspot.com/docs/api/crm/search): filter groups
// are ORed, at most 5 per request.
const (
	maxFilterGroups   = 5
	phoneSearchLimit  = 20
	defaultNameLimit  = 10
	pathContacts      = "/crm/v3/objects/contacts"
	pathContactSearch = "/crm/v3/objects/contacts/search"
)

// toContact maps a contact record to the canonical contact. Phones are kept
// as HubSpot stores them: the index normalises.
func (c *Connector) toContact(o object) events.Contact {
	p := o.Properties
	ct := events.Contact{
		ID:         o.ID,
		Source:     c.cfg.Source,
		Type:       "contact",
		Name:       strings.TrimSpace(p.get("firstname") + " " + p.get("lastname")),
		Company:    p.get("company"),
		ContactURI: c.recordURL(typeContact, o.ID),
		CRMName:    CRMName,
		CRMLogo:    c.cfg.CRMLogo,
	}
	if v := p.get("phone"); v != "" {
		ct.Phones = append(ct.Phones, events.Phone{Raw: v, Label: "work"})
	}
	if v := p.get("mobilephone"); v != "" {
		ct.Phones = append(ct.Phones, events.Phone{Raw: v, Label: "mobile"})
	}
	if v := p.get("email"); v != "" {
		ct.Emails = []string{v}
	}
	if ct.Name == "" {
		// HubSpot shows the email of a contact without a name.
		ct.Name = p.get("email")
	}
	if t, ok := parseTime(p.get("lastmodifieddate")); ok {
		ct.UpdatedAt = t
	} else if t, ok := parseTime(o.UpdatedAt); ok {
		ct.UpdatedAt = t
	}
	if t, ok := parseTime(p.get("createdate")); ok {
		ct.CreatedAt = t
	} else if t, ok := parseTime(o.CreatedAt); ok {
		ct.CreatedAt = t
	}
	return ct
}

// SearchPhone finds contacts whose phone or mobilephone equals one of the
// numbers, as typed: HubSpot compares the stored text, so every format the
// caller lists is one EQ filter group; groups are sent 5 per request.
func (c *Connector) SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error) {
	var groups []filterGroup
	seen := map[string]bool{}
	for _, n := range numbers {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		for _, prop := range []string{"phone", "mobilephone"} {
			groups = append(groups, filterGroup{Filters: []filter{{PropertyName: prop, Operator: "EQ", Value: n}}})
		}
	}
	var out []events.Contact
	found := map[string]bool{}
	for start := 0; start < len(groups); start += maxFilterGroups {
		req := searchRequest{
			FilterGroups: groups[start:min(start+maxFilterGroups, len(groups))],
			Properties:   contactProperties,
			Limit:        phoneSearchLimit,
		}
		var resp searchResponse
		if err := c.do(ctx, "search contacts by phone", http.MethodPost, pathContactSearch, nil, req, &resp); err != nil {
			return nil, err
		}
		for _, o := range resp.Results {
			if o.ID == "" || found[o.ID] {
				continue
			}
			found[o.ID] = true
			out = append(out, c.toContact(o))
		}
	}
	return out, nil
}

// SearchName finds contacts by HubSpot's full-text query (names, email,
// phone, company). limit ≤ 0 means 10; more than 200 is cut to 200.
func (c *Connector) SearchName(ctx context.Context, name string, limit int) ([]events.Contact, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, nil
	}
	if limit <= 0 {
		limit = defaultNameLimit
	}
	req := searchRequest{Query: name, Properties: contactProperties, Limit: min(limit, maxPageSize)}
	var resp searchResponse
	if err := c.do(ctx, "search contacts by name", http.MethodPost, pathContactSearch, nil, req, &resp); err != nil {
		return nil, err
	}
	out := make([]events.Contact, 0, len(resp.Results))
	for _, o := range resp.Results {
		out = append(out, c.toContact(o))
	}
	return out, nil
}

// CreateContact creates a contact: the name's last word is the lastname, the
// rest the firstname; the phone goes to "phone". NewContact.Type is ignored
// (HubSpot contacts have no type).
func (c *Connector) CreateContact(ctx context.Context, nc crm.NewContact) (events.Contact, error) {
	first, last := splitName(nc.Name)
	if first == "" && last == "" {
		return events.Contact{}, c.http.Wrap("create contact", crm.Permanent(errors.New("a name is required")))
	}
	properties := map[string]string{"firstname": first}
	if last != "" {
		properties["lastname"] = last
	}
	if p := strings.TrimSpace(nc.Phone); p != "" {
		properties["phone"] = p
	}
	var o object
	if err := c.do(ctx, "create contact", http.MethodPost, pathContacts, nil, map[string]any{"properties": properties}, &o); err != nil {
		return events.Contact{}, err
	}
	if o.ID == "" {
		return events.Contact{}, c.http.Wrap("create contact", crm.Transient(errors.New("answer has no id")))
	}
	return c.toContact(o), nil
}

func splitName(name string) (first, last string) {
	words := strings.Fields(name)
	switch len(words) {
	case 0:
		return "", ""
	case 1:
		return words[0], ""
	default:
		return strings.Join(words[:len(words)-1], " "), words[len(words)-1]
	}
}
