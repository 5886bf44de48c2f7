package pipedrive

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/calldex/calldex/workflows/crm"
)

// cursorVersion changes when the cursor's meaning does; an older cursor is
// refused (permanent) rather than misread.
const cursorVersion = 1

// cursor is where ListChanges resumes (crm.EncodeCursor).
type cursor struct {
	V int `json:"v"`
	// Full is set during the initial load through GET /persons.
	Full bool `json:"full,omitempty"`
	// Start is the offset of the next page: in the full load, or within
	// the second Since of /recents.
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
	if cur.Full {
		return c.loadPersons(ctx, cur, now)
	}
	return c.recentPersons(ctx, cur, now)
}

// loadPersons reads one page of the full load.
func (c *Connector) loadPersons(ctx context.Context, cur cursor, now time.Time) (crm.Page, error) {
	if cur.Start == 0 {
		cur.Since = now.Add(-c.cfg.SyncOverlap).Unix()
	}
	q := url.Values{"start": {strconv.Itoa(cur.Start)}, "limit": {strconv.Itoa(c.cfg.PageSize)}, "sort": {"id ASC"}}
	var persons []person
	add, err := c.do(ctx, "list persons", http.MethodGet, "/persons", q, nil, &persons)
	if err != nil {
		return crm.Page{}, err
	}
	var page crm.Page
	for _, p := range persons {
		c.collect(&page, p.ID, &p)
	}
	if more, next := add.more(cur.Start, len(persons)); more {
		// Start a little early: a person deleted meanwhile shifts the rest.
		cur.Start = max(next-c.cfg.PageSize/50, cur.Start+1)
	} else {
		cur.Full, cur.Start = false, 0
	}
	page.More = true // another page, or recents since the load began
	page.Next = cur.String()
	return page, nil
}

// recentEntry is one /recents item (developers.pipedrive.com/docs/api/v1/Recents).
type recentEntry struct {
	Item string  `json:"item"`
	ID   int64   `json:"id"`
	Data *person `json:"data"`
}

// recentPersons reads one page of /recents?items=person.
func (c *Connector) recentPersons(ctx context.Context, cur cursor, now time.Time) (crm.Page, error) {
	q := url.Values{
		"since_timestamp": {time.Unix(cur.Since, 0).UTC().Format(timeLayout)},
		"items":           {"person"},
		"start":           {strconv.Itoa(cur.Start)},
		"limit":           {strconv.Itoa(c.cfg.PageSize)},
	}
	var entries []recentEntry
	add, err := c.do(ctx, "list recent persons", http.MethodGet, "/recents", q, nil, &entries)
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
