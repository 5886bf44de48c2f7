package hubspot

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

// archivedPageSize is the list endpoint's largest page.
const archivedPageSize = 100

// cursor is where ListChanges resumes (crm.EncodeCursor).
type cursor struct {
	V int `json:"v"`
	// Since is a lastmodifieddate in Unix ms: the next query asks for
	// contacts modified at or after it.
	Since int64 `json:"since"`
	// Tie is set while paging through the contacts modified in the
	// millisecond Since by hs_object_id, after TieID.
	Tie   bool   `json:"tie,omitempty"`
	TieID string `json:"tieId,omitempty"`
	// SweptAt is when the last complete archived sweep started (Unix ms).
	SweptAt int64 `json:"sweptAt,omitempty"`
	// SweepFrom is when the running sweep started (0: none runs), and
	// SweepAfter its paging token.
	SweepFrom  int64  `json:"sweepFrom,omitempty"`
	SweepAfter string `json:"sweepAfter,omitempty"`
}

func decodeCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{V: cursorVersion}, nil
	}
	var c cursor
	if err := crm.DecodeCursor(s, cursorVersion, &c); err != nil {
		return cursor{}, err
	}
	return c, nil
}

func (c cursor) String() string { return crm.EncodeCursor(c) }

// ListChanges returns the next page of contact changes since cursor ("" =
// from the start). See the package documentation for how the cursor moves
// and when deletes are reported.
func (c *Connector) ListChanges(ctx context.Context, cursorText string) (crm.Page, error) {
	cur, err := decodeCursor(cursorText)
	if err != nil {
		return crm.Page{}, c.http.Wrap("list changes", crm.Permanent(err))
	}
	now := crm.Now()
	if cur.SweepFrom == 0 && !cur.Tie && c.sweepDue(cur, now) {
		cur.SweepFrom = now.UnixMilli()
	}
	if cur.SweepFrom != 0 {
		return c.sweepArchived(ctx, cur)
	}
	return c.changedContacts(ctx, cur, now)
}

func (c *Connector) sweepDue(cur cursor, now time.Time) bool {
	return cur.SweptAt == 0 || now.UnixMilli()-cur.SweptAt >= c.cfg.ArchivedSweepInterval.Milliseconds()
}

// sweepArchived reads one page of archived contacts and reports those
// archived since the previous sweep (allowing SyncOverlap of clock skew).
func (c *Connector) sweepArchived(ctx context.Context, cur cursor) (crm.Page, error) {
	q := url.Values{"archived": {"true"}, "limit": {strconv.Itoa(archivedPageSize)}}
	if cur.SweepAfter != "" {
		q.Set("after", cur.SweepAfter)
	}
	var resp listResponse
	if err := c.do(ctx, "list archived contacts", http.MethodGet, pathContacts, q, nil, &resp); err != nil {
		return crm.Page{}, err
	}
	var page crm.Page
	cutoff := cur.SweptAt - c.cfg.SyncOverlap.Milliseconds()
	for _, o := range resp.Results {
		if o.ID == "" {
			continue
		}
		at, ok := parseTime(o.ArchivedAt)
		if cur.SweptAt == 0 || !ok || at.UnixMilli() >= cutoff {
			page.Deletes = append(page.Deletes, o.ID)
		}
	}
	if after := resp.Paging.after(); after != "" {
		cur.SweepAfter = after
	} else {
		cur.SweptAt, cur.SweepFrom, cur.SweepAfter = cur.SweepFrom, 0, ""
	}
	// Either more archived contacts, or the changes query resumes now.
	page.More = true
	page.Next = cur.String()
	return page, nil
}

// changedContacts reads one page of contacts modified since the cursor.
func (c *Connector) changedContacts(ctx context.Context, cur cursor, now time.Time) (crm.Page, error) {
	since := strconv.FormatInt(cur.Since, 10)
	req := searchRequest{Properties: contactProperties, Limit: c.cfg.PageSize}
	if cur.Tie {
		req.FilterGroups = []filterGroup{{Filters: []filter{
			{PropertyName: "lastmodifieddate", Operator: "EQ", Value: since},
			{PropertyName: "hs_object_id", Operator: "GT", Value: cur.TieID},
		}}}
		req.Sorts = []sort{{PropertyName: "hs_object_id", Direction: "ASCENDING"}}
	} else {
		req.FilterGroups = []filterGroup{{Filters: []filter{
			{PropertyName: "lastmodifieddate", Operator: "GTE", Value: since},
		}}}
		req.Sorts = []sort{{PropertyName: "lastmodifieddate", Direction: "ASCENDING"}}
	}
	var resp searchResponse
	if err := c.do(ctx, "list changed contacts", http.MethodPost, pathContactSearch, nil, req, &resp); err != nil {
		return crm.Page{}, err
	}
	var page crm.Page
	last := cur.Since
	for _, o := range resp.Results {
		if o.ID == "" {
			continue
		}
		ct := c.toContact(o)
		page.Upserts = append(page.Upserts, ct)
		if ms := ct.UpdatedAt.UnixMilli(); !ct.UpdatedAt.IsZero() && ms > last {
			last = ms
		}
	}
	full := len(resp.Results) >= c.cfg.PageSize
	switch {
	case cur.Tie && full:
		cur.TieID = resp.Results[len(resp.Results)-1].ID
		page.More = true
	case cur.Tie:
		// The millisecond is done: move past it.
		cur.Tie, cur.TieID = false, ""
		cur.Since++
		page.More = true
	default:
		// Never past now-SyncOverlap: search lags writes.
		next := min(last, now.Add(-c.cfg.SyncOverlap).UnixMilli())
		switch {
		case !full:
			cur.Since = max(cur.Since, next)
			page.More = c.sweepDue(cur, now)
		case next > cur.Since:
			cur.Since = next
			page.More = true
		case last == cur.Since:
			// A whole page modified in one millisecond: page by id.
			cur.Tie, cur.TieID = true, "0"
			page.More = true
		default:
			// More than a page changed within SyncOverlap of now: the
			// next poll continues once the horizon has moved.
			page.More = false
		}
	}
	page.Next = cur.String()
	return page, nil
}
