package pipedrive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

// Search limits (developers.pipedrive.com/docs/api/v2/Persons#searchPersons):
// a term has at least 2 characters.
const (
	minTerm          = 2
	phoneSearchLimit = 10
	defaultNameLimit = 10
	maxSearchLimit   = 100
)

func (c *Connector) personURL(id int64) string {
	return fmt.Sprintf("%s/person/%d", c.app, id)
}

func (c *Connector) orgURL(id int64) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprintf("%s/organization/%d", c.app, id)
}

// toContact maps a person in its v1 shape. Phones are kept as Pipedrive stores them.
func (c *Connector) toContact(p person) events.Contact {
	ct := events.Contact{
		ID:         strconv.FormatInt(p.ID, 10),
		Source:     c.cfg.Source,
		Type:       "person",
		Name:       strings.TrimSpace(p.Name),
		Company:    p.OrgName,
		ContactURI: c.personURL(p.ID),
		CRMName:    CRMName,
		CRMLogo:    c.cfg.CRMLogo,
	}
	if p.OrgID != nil {
		ct.CompanyURI = c.orgURL(p.OrgID.ID)
		if ct.Company == "" {
			ct.Company = p.OrgID.Name
		}
	}
	for _, f := range p.Phone {
		if v := strings.TrimSpace(f.Value); v != "" {
			ct.Phones = append(ct.Phones, events.Phone{Raw: v, Label: f.Label})
		}
	}
	for _, f := range p.Email {
		if v := strings.TrimSpace(f.Value); v != "" {
			ct.Emails = append(ct.Emails, v)
		}
	}
	if t, ok := parseTime(p.UpdateTime); ok {
		ct.UpdatedAt = t
	}
	if t, ok := parseTime(p.AddTime); ok {
		ct.CreatedAt = t
	}
	return ct
}

// searchItem is a person as GET /v2/persons/search returns it.
type searchItem struct {
	ID           int64    `json:"id"`
	Type         string   `json:"type"`
	Name         string   `json:"name"`
	Phones       []string `json:"phones"`
	Emails       []string `json:"emails"`
	Organization *struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	} `json:"organization"`
}

type searchData struct {
	Items []struct {
		ResultScore float64    `json:"result_score"`
		Item        searchItem `json:"item"`
	} `json:"items"`
}

// fromSearch maps a search hit. The search answer has no update time: the
// contact is as of now.
func (c *Connector) fromSearch(it searchItem) events.Contact {
	ct := events.Contact{
		ID:         strconv.FormatInt(it.ID, 10),
		Source:     c.cfg.Source,
		Type:       "person",
		Name:       strings.TrimSpace(it.Name),
		ContactURI: c.personURL(it.ID),
		CRMName:    CRMName,
		CRMLogo:    c.cfg.CRMLogo,
		UpdatedAt:  crm.Now().UTC(),
	}
	if it.Organization != nil {
		ct.Company = it.Organization.Name
		ct.CompanyURI = c.orgURL(it.Organization.ID)
	}
	for _, p := range it.Phones {
		if p = strings.TrimSpace(p); p != "" {
			ct.Phones = append(ct.Phones, events.Phone{Raw: p})
		}
	}
	for _, e := range it.Emails {
		if e = strings.TrimSpace(e); e != "" {
			ct.Emails = append(ct.Emails, e)
		}
	}
	return ct
}

func (c *Connector) searchPersons(ctx context.Context, op string, q url.Values) ([]searchItem, error) {
	var data searchData
	if _, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/v2/persons/search", cost: costSearch, query: q}, &data); err != nil {
		return nil, err
	}
	out := make([]searchItem, 0, len(data.Items))
	for _, it := range data.Items {
		if it.Item.ID != 0 && (it.Item.Type == "" || it.Item.Type == "person") {
			out = append(out, it.Item)
		}
	}
	return out, nil
}

// SearchPhone searches the persons' phone field for each format in turn
// (exact match unless PhonePartialMatch), one request per format, and
// returns each person once.
func (c *Connector) SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error) {
	var out []events.Contact
	seen, found := map[string]bool{}, map[int64]bool{}
	for _, n := range numbers {
		n = strings.TrimSpace(n)
		if len(n) < minTerm || seen[n] {
			continue
		}
		seen[n] = true
		q := url.Values{
			"term":        {n},
			"fields":      {"phone"},
			"exact_match": {strconv.FormatBool(!c.cfg.PhonePartialMatch)},
			"limit":       {strconv.Itoa(phoneSearchLimit)},
		}
		items, err := c.searchPersons(ctx, "search persons by phone", q)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if !found[it.ID] {
				found[it.ID] = true
				out = append(out, c.fromSearch(it))
			}
		}
	}
	return out, nil
}

// SearchName searches the persons' name field. A name shorter than 2
// characters finds nothing (Pipedrive refuses such a term); limit ≤ 0
// means 10, more than 100 is cut to 100.
func (c *Connector) SearchName(ctx context.Context, name string, limit int) ([]events.Contact, error) {
	name = strings.TrimSpace(name)
	if len([]rune(name)) < minTerm {
		return nil, nil
	}
	if limit <= 0 {
		limit = defaultNameLimit
	}
	q := url.Values{"term": {name}, "fields": {"name"}, "limit": {strconv.Itoa(min(limit, maxSearchLimit))}}
	items, err := c.searchPersons(ctx, "search persons by name", q)
	if err != nil {
		return nil, err
	}
	out := make([]events.Contact, 0, len(items))
	for _, it := range items {
		out = append(out, c.fromSearch(it))
	}
	return out, nil
}

// CreateContact adds a person with the phone as primary number.
// NewContact.Type is ignored (a Pipedrive contact is a person).
func (c *Connector) CreateContact(ctx context.Context, nc crm.NewContact) (events.Contact, error) {
	const op = "create person"
	name := strings.Join(strings.Fields(nc.Name), " ")
	if name == "" {
		return events.Contact{}, c.http.Wrap(op, crm.Permanent(errors.New("a name is required")))
	}
	body := map[string]any{"name": name}
	if p := strings.TrimSpace(nc.Phone); p != "" {
		body["phones"] = []map[string]any{{"value": p, "primary": true}}
	}
	var p personV2
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/v2/persons", cost: costWrite, body: body}, &p); err != nil {
		return events.Contact{}, err
	}
	if p.ID == 0 {
		return events.Contact{}, c.http.Wrap(op, crm.Transient(errors.New("answer has no id")))
	}
	return c.toContact(p.v1("")), nil
}
