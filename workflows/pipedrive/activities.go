package pipedrive

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

// maxKeyPages bounds the idempotency lookup: the done activities updated
// since the call's day (of its person, when it has one), 500 per page.
const maxKeyPages = 10

// activity is the part of a v2 activity we read
// (developers.pipedrive.com/docs/api/v2/Activities).
type activity struct {
	ID      int64  `json:"id"`
	Type    string `json:"type"`
	DueDate string `json:"due_date"`
	Note    string `json:"note"`
}

// LogCall adds a done call activity for the person (Input.ContactCRMID),
// once per Call.Key: see the package documentation.
func (c *Connector) LogCall(ctx context.Context, call crm.Call) (crm.Result, error) {
	const op = "log call"
	in := call.Input
	at := crm.CallTime(in) // UTC, as Pipedrive's due_date and due_time are
	body := map[string]any{
		"subject":  crm.CallTitle(in),
		"type":     c.cfg.ActivityType,
		"done":     true,
		"due_date": at.Format("2006-01-02"),
		"due_time": at.Format("15:04"),
	}
	if d, ok := crm.CallDuration(in); ok && d > 0 {
		m := int((d + time.Minute - 1) / time.Minute) // whole minutes, rounded up
		body["duration"] = fmt.Sprintf("%02d:%02d", m/60, m%60)
	}
	var personID int64
	if id := strings.TrimSpace(in.ContactCRMID); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return crm.Result{}, c.http.Wrap(op, crm.Permanent(fmt.Errorf("contactCrmId %q is not a person id", id)))
		}
		personID = n
		body["participants"] = []map[string]any{{"person_id": n, "primary": true}}
	}
	note := callNote(in)
	marker := ""
	if call.Key != "" {
		marker = "[cdx:" + html.EscapeString(call.Key) + "]"
		note = strings.TrimSpace(note + "\n\n" + marker)
	}
	if note != "" {
		body["note"] = note
	}
	result := func(id int64) crm.Result {
		r := crm.Result{ID: strconv.FormatInt(id, 10)}
		if personID != 0 {
			r.URL = c.personURL(personID)
		}
		return r
	}

	if marker != "" {
		id, err := c.findCall(ctx, op, at, personID, marker)
		if err != nil {
			return crm.Result{}, err
		}
		if id != 0 {
			return result(id), nil
		}
	}
	var a activity
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/v2/activities", cost: costWrite, body: body}, &a); err != nil {
		return crm.Result{}, err
	}
	if a.ID == 0 {
		return crm.Result{}, c.http.Wrap(op, crm.Transient(errors.New("answer has no id")))
	}
	return result(a.ID), nil
}

// dispositionMark starts the dispositions block LogDisposition keeps at
// the end of a call activity's note.
const dispositionMark = "[cdx:disposition]"

// LogDisposition writes the dispositions into the logged call activity's
// note (Input.LogID), as a block at its end that the next dispositions
// replace: a read of the activity, and a PATCH only when the block
// changes, so the same dispositions again are one read.
func (c *Connector) LogDisposition(ctx context.Context, call crm.Call) (crm.Result, error) {
	const op = "log disposition"
	logID, err := crm.LogIDOf(call)
	if err != nil {
		return crm.Result{}, c.http.Wrap(op, err)
	}
	n, err := strconv.ParseInt(logID, 10, 64)
	if err != nil || n <= 0 {
		return crm.Result{}, c.http.Wrap(op, crm.Permanent(fmt.Errorf("logId %q is not an activity id", logID)))
	}
	result := crm.Result{ID: logID}
	if p, err := strconv.ParseInt(strings.TrimSpace(call.Input.ContactCRMID), 10, 64); err == nil && p > 0 {
		result.URL = c.personURL(p)
	}
	path := "/v2/activities/" + logID
	var a activity
	if _, err := c.do(ctx, request{op: op, method: http.MethodGet, path: path, cost: costGet}, &a); err != nil {
		return crm.Result{}, err
	}
	note := withDispositions(a.Note, crm.DispositionLines(call.Input))
	if note == a.Note {
		return result, nil
	}
	if _, err := c.do(ctx, request{op: op, method: http.MethodPatch, path: path, cost: costWrite, body: map[string]any{"note": note}}, &a); err != nil {
		return crm.Result{}, err
	}
	return result, nil
}

// withDispositions replaces the dispositions block at the end of note
// with lines (none: no block).
func withDispositions(note, lines string) string {
	if i := strings.Index(note, dispositionMark); i >= 0 {
		note = strings.TrimRight(note[:i], "\n")
	}
	if lines == "" {
		return note
	}
	return strings.TrimSpace(note + "\n\n" + dispositionMark + "\n" + lines)
}

// findCall returns the id of the call activity due on at's day whose note
// carries marker, or 0. v2 filters neither by type nor by due date: it
// reads the done activities updated since that day (of the person, when
// known) and picks among them.
func (c *Connector) findCall(ctx context.Context, op string, at time.Time, personID int64, marker string) (int64, error) {
	day := at.Format("2006-01-02")
	q := url.Values{
		"done": {"true"}, "updated_since": {at.Truncate(24 * time.Hour).Format(time.RFC3339)},
		"sort_by": {"id"}, "sort_direction": {"desc"}, "limit": {"500"},
	}
	if personID != 0 {
		q.Set("person_id", strconv.FormatInt(personID, 10))
	}
	for range maxKeyPages {
		var list []activity
		add, err := c.do(ctx, request{op: op + ": find by idempotency key", method: http.MethodGet, path: "/v2/activities", cost: costList, query: q}, &list)
		if err != nil {
			return 0, err
		}
		for _, a := range list {
			if a.Type == c.cfg.ActivityType && a.DueDate == day && strings.Contains(a.Note, marker) {
				return a.ID, nil
			}
		}
		next := add.next()
		if next == "" {
			return 0, nil
		}
		q.Set("cursor", next)
	}
	return 0, nil
}

func callNote(in events.CallInput) string {
	var lines []string
	if in.Note != "" {
		lines = append(lines, in.Note)
	}
	if in.Result != "" {
		lines = append(lines, "Result: "+in.Result)
	}
	if in.Recording != "" {
		lines = append(lines, "Recording: "+in.Recording)
	}
	return strings.Join(lines, "\n")
}
