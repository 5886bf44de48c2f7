package pipedrive

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/workflows/crm"
)

// cursorVersion changes when the cursor's meaning does; an older cursor is
// refused (permanent) rather than misread.
const cursorVersion = 1

// cursor is where ListChanges resumes (crm.EncodeCursor).
type cursor struct {
	V int `json:"v"`
	// Full is set during the initial load through GET /v2/persons.
	Full bool `json:"full,omitempty"`
	// Page is the load's next page (v2 next_cursor); "" is the first.
	Page string `json:"page,omitempty"`
	// Start is the offset of the next page within the second Since of
	// /v1/recents. A cursor written when the load paged by offset
	// (Full with Start) restarts the load.
	Start int `json:"start,omitempty"`
	// Since (Unix seconds) asks /recents for changes after it; during the
	// full load it is when the load began, where recents take over.
	Since int64 `json:"since,omitempty"`
}

func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{V: cursorVersion, Full: true}, nil
	}
	var c cursor
	if err := crm.DecodeCursor(s, cursorVersion, &c); err != nil {
		return cursor{}, err
	}
	return c, nil
}

func (c cursor) String() string { return crm.EncodeCursor(c) }

// ListChanges returns the next page of person changes since cursor ("" =
// from the start). See the package documentation.
func (c *Connector) ListChanges(ctx context.Context, cursorText string) (crm.Page, error) {
	cur, err := decodeCursor(cursorText)
	if err != nil {
		return crm.Page{}, c.http.Wrap("list changes", crm.Permanent(err))
	}
	now := crm.Now()
	if !cur.Full && now.Add(-c.cfg.RecentsMaxAge).Unix() > cur.Since {
		// Recents no longer reach back to the cursor: load everything again.
		cur = cursor{V: cursorVersion, Full: true}
	}
	if cur.Full && cur.Page == "" && cur.Start != 0 {
		// Written while the load paged by offset: v2 pages by cursor.
		cur = cursor{V: cursorVersion, Full: true}
	}
	if cur.Full {
		return c.loadPersons(ctx, cur, now)
	}
	return c.recentPersons(ctx, cur, now)
}

// loadPersons reads one page of the full load, by id: cursor paging,
// unlike offsets, neither skips nor repeats a person when others are
// deleted meanwhile.
func (c *Connector) loadPersons(ctx context.Context, cur cursor, now time.Time) (crm.Page, error) {
	if cur.Page == "" {
		cur.Since = now.Add(-c.cfg.SyncOverlap).Unix()
	}
	q := url.Values{"limit": {strconv.Itoa(c.cfg.PageSize)}, "sort_by": {"id"}, "sort_direction": {"asc"}}
	if cur.Page != "" {
		q.Set("cursor", cur.Page)
	}
	var persons []personV2
	add, err := c.do(ctx, request{op: "list persons", method: http.MethodGet, path: "/v2/persons", cost: costList, query: q}, &persons)
	if err != nil {
		return crm.Page{}, err
	}
	orgs, err := c.orgNames(ctx, persons)
	if err != nil {
		return crm.Page{}, err
	}
	var page crm.Page
	for _, p := range persons {
		name := ""
		if p.OrgID != nil {
			name = orgs[*p.OrgID]
		}
		v := p.v1(name)
		c.collect(&page, p.ID, &v)
	}
	if next := add.next(); next != "" {
		cur.Page = next
	} else {
		cur.Full, cur.Page, cur.Start = false, "", 0
	}
	page.More = true // another page, or recents since the load began
	page.Next = cur.String()
	return page, nil
}

// maxIDs is how many ids GET /v2/organizations takes at once.
const maxIDs = 100

// orgNames reads the names of the persons' organizations, which a v2
// person does not carry (GET /v2/organizations?ids=).
func (c *Connector) orgNames(ctx context.Context, persons []personV2) (map[int64]string, error) {
	var ids []string
	names := map[int64]string{}
	for _, p := range persons {
		if p.OrgID != nil && *p.OrgID != 0 {
			if _, ok := names[*p.OrgID]; !ok {
				names[*p.OrgID] = ""
				ids = append(ids, strconv.FormatInt(*p.OrgID, 10))
			}
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), maxIDs)
		q := url.Values{"ids": {strings.Join(ids[:n], ",")}, "limit": {strconv.Itoa(maxIDs)}}
		ids = ids[n:]
		var orgs []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		}
		if _, err := c.do(ctx, request{op: "list organizations", method: http.MethodGet, path: "/v2/organizations", cost: costList, query: q}, &orgs); err != nil {
			return nil, err
		}
		for _, o := range orgs {
			names[o.ID] = o.Name
		}
	}
	return names, nil
}

// recentEntry is one /v1/recents item (developers.pipedrive.com/docs/api/v1/Recents).
type recentEntry struct {
	Item string  `json:"item"`
	ID   int64   `json:"id"`
	Data *person `json:"data"`
}

// recentPersons reads one page of /v1/recents?items=person: recents have
// no v2 form.
func (c *Connector) recentPersons(ctx context.Context, cur cursor, now time.Time) (crm.Page, error) {
	q := url.Values{
		"since_timestamp": {time.Unix(cur.Since, 0).UTC().Format(timeLayout)},
		"items":           {"person"},
		"start":           {strconv.Itoa(cur.Start)},
		"limit":           {strconv.Itoa(c.cfg.PageSize)},
	}
	var entries []recentEntry
	add, err := c.do(ctx, request{op: "list recent persons", method: http.MethodGet, path: "/v1/recents", cost: costV1List, query: q}, &entries)
	if err != nil {
		return crm.Page{}, err
	}
	var page crm.Page
	var last time.Time
	for _, e := range entries {
		if e.Item != "person" {
			continue
		}
		c.collect(&page, e.ID, e.Data)
		if e.Data != nil {
			if t, ok := parseTime(e.Data.UpdateTime); ok && t.After(last) {
				last = t
			}
		}
	}
	if add != nil {
		if t, ok := parseTime(add.LastTimestampOnPage); ok {
			last = t
		}
	}
	more, next := add.more(cur.Start, len(entries))
	switch {
	case more && !last.IsZero() && last.Unix()-1 > cur.Since:
		// Restart after the page's last second, re-reading that second.
		cur.Since, cur.Start = last.Unix()-1, 0
		page.More = true
	case more:
		// A whole page within one second: page by offset inside it.
		cur.Start = max(next, cur.Start+1)
		page.More = true
	default:
		if !last.IsZero() {
			cur.Since = max(cur.Since, min(last.Unix(), now.Add(-c.cfg.SyncOverlap).Unix())-1)
		}
		cur.Start = 0
	}
	page.Next = cur.String()
	return page, nil
}

// collect adds a person to the page: deleted (no data, or active_flag
// false) or upserted.
func (c *Connector) collect(page *crm.Page, id int64, p *person) {
	if p != nil && p.ID != 0 {
		id = p.ID
	}
	if id == 0 {
		return
	}
	if p == nil || (p.ActiveFlag != nil && !*p.ActiveFlag) {
		page.Deletes = append(page.Deletes, strconv.FormatInt(id, 10))
		return
	}
	page.Upserts = append(page.Upserts, c.toContact(*p))
}
