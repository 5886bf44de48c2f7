package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/httpjson"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/tenant"
)

const (
	// adminSource is the source of contacts written through the admin API.
	adminSource = "admin"
	// maxImport bounds a bulk import body.
	maxImport = 256 << 20
	// importBatch contacts are published with their acks in flight at once.
	importBatch = 1000
	// projectionWait is how long a single write waits to be visible in lookups.
	projectionWait = 2 * time.Second
)

type writeAnswer struct {
	Tenant  string `json:"tenant"`
	Source  string `json:"source"`
	ID      string `json:"id"`
	Seq     uint64 `json:"seq"`
	Indexed bool   `json:"indexed"`
}

// adminPutContact stores one contact. It answers 200 once lookups see it, or
// 202 when it is stored but not yet projected.
func (s *Server) adminPutContact(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	var c events.Contact
	if err := decodeJSON(w, r, &c); err != nil {
		fail(w, err)
		return
	}
	if c.ID != "" && c.ID != r.PathValue("id") {
		fail(w, errors.Join(errBadRequest, fmt.Errorf("body id %q differs from path id %q", c.ID, r.PathValue("id"))))
		return
	}
	c.ID = r.PathValue("id")
	if err := contact.Validate(&c, adminSource); err != nil {
		fail(w, errors.Join(errBadRequest, err))
		return
	}
	seq, err := s.Contacts.Upsert(r.Context(), t.ID, c)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	s.answerWrite(w, r.Context(), writeAnswer{Tenant: t.ID, Source: c.Source, ID: c.ID, Seq: seq})
}

// adminDeleteContact publishes a tombstone (source from ?source=, default admin).
func (s *Server) adminDeleteContact(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	source := r.URL.Query().Get("source")
	if source == "" {
		source = adminSource
	}
	if err := events.ValidID(source); err != nil {
		fail(w, errors.Join(errBadRequest, err))
		return
	}
	seq, err := s.Contacts.Delete(r.Context(), t.ID, source, r.PathValue("id"))
	if err != nil {
		s.unavailable(w, err)
		return
	}
	s.answerWrite(w, r.Context(), writeAnswer{Tenant: t.ID, Source: source, ID: r.PathValue("id"), Seq: seq})
}

func (s *Server) answerWrite(w http.ResponseWriter, ctx context.Context, a writeAnswer) {
	ctx, cancel := context.WithTimeout(ctx, projectionWait)
	defer cancel()
	a.Indexed = s.Projection.WaitApplied(ctx, a.Seq) == nil
	code := http.StatusOK
	if !a.Indexed {
		code = http.StatusAccepted
	}
	writeJSON(w, code, a)
}

func (s *Server) unavailable(w http.ResponseWriter, err error) {
	s.Log.Error("event store unavailable", "err", err)
	writeError(w, http.StatusServiceUnavailable, "event_store_unavailable", "contact not stored: the event store did not acknowledge it; retry")
}

type rejectedLine struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

type importAnswer struct {
	Accepted int            `json:"accepted"`
	Rejected int            `json:"rejected"`
	Errors   []rejectedLine `json:"errors"`
	Seq      uint64         `json:"seq,omitempty"`
	Indexed  bool           `json:"indexed"`
}

// maxReportedErrors bounds the error list of one import answer.
const maxReportedErrors = 1000

// adminBulkContacts imports NDJSON or CSV. It answers once JetStream acked
// every accepted contact, so 200 means stored; a failure mid-way answers 503
// and re-sending the same file is harmless (upserts are idempotent).
func (s *Server) adminBulkContacts(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	ct := r.Header.Get("Content-Type")
	if !strings.Contains(ct, "csv") && !strings.Contains(ct, "json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/x-ndjson or text/csv")
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxImport)
	ans := importAnswer{Errors: []rejectedLine{}}
	batch := make([]events.Contact, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		seq, err := s.Contacts.UpsertMany(r.Context(), t.ID, batch)
		if err != nil {
			return err
		}
		ans.Accepted += len(batch)
		ans.Seq = max(ans.Seq, seq)
		batch = batch[:0]
		return nil
	}
	var publishErr error
	err := contact.Read(body, contact.FormatOf(ct), adminSource, func(rec contact.Record) error {
		if rec.Err != nil {
			ans.Rejected++
			if len(ans.Errors) < maxReportedErrors {
				ans.Errors = append(ans.Errors, rejectedLine{Line: rec.Line, Reason: rec.Err.Error()})
			}
			return nil
		}
		batch = append(batch, rec.Contact)
		if len(batch) == importBatch {
			publishErr = flush()
			return publishErr
		}
		return nil
	})
	if err == nil {
		publishErr = flush()
		err = publishErr
	}
	switch {
	case publishErr != nil:
		s.Log.Error("import: event store unavailable", "tenant", t.ID, "err", publishErr)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"error":  httpjson.ErrorBody{Code: "event_store_unavailable", Message: "import stopped: the event store did not acknowledge; re-send the whole file"},
			"stored": ans.Accepted,
		})
		return
	case err != nil:
		fail(w, errors.Join(errBadRequest, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), projectionWait)
	defer cancel()
	ans.Indexed = ans.Seq == 0 || s.Projection.WaitApplied(ctx, ans.Seq) == nil
	writeJSON(w, http.StatusOK, ans)
}

// Explanation is the answer of the explain route (GET …/lookup): the
// candidate keys read, the matches in rank order with their kind, the time.
type Explanation struct {
	Number     string           `json:"number"`
	Candidates []phone.Key      `json:"candidates"`
	NotANumber string           `json:"notANumber"`
	Matches    []ExplainedMatch `json:"matches"`
	TookMicros int64            `json:"tookMicros"`
}

// ExplainedMatch is one match of an Explanation.
type ExplainedMatch struct {
	Kind    string         `json:"kind"`
	Contact events.Contact `json:"contact"`
	// Merged are the same person's entries from other sources, answered as
	// this contact (lookup.Result.Merged).
	Merged []events.Contact `json:"merged,omitempty"`
}

// adminLookup explains a lookup: candidates, matches with their kind, time.
func (s *Server) adminLookup(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	number := r.URL.Query().Get("number")
	if number == "" {
		fail(w, errors.Join(errBadRequest, errors.New("query parameter number is required")))
		return
	}
	res, err := s.Lookup.Service().Lookup(r.Context(), t, number)
	if err != nil {
		lookupFailed(w)
		return
	}
	ex := Explanation{Number: res.Number, Candidates: res.Candidates, NotANumber: res.NotANumber,
		Matches: make([]ExplainedMatch, len(res.Matches)), TookMicros: res.Took.Microseconds()}
	for i, m := range res.Matches {
		ex.Matches[i] = ExplainedMatch{Kind: m.Kind.String(), Contact: m.Contact, Merged: res.MergedInto(i)}
	}
	writeJSON(w, http.StatusOK, ex)
}

// adminResync asks the CRM sync to reread a source from the start and
// delete the contacts it no longer lists.
func (s *Server) adminResync(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	source := r.PathValue("source")
	if _, ok := t.Connectors[source]; !ok {
		writeError(w, http.StatusNotFound, "unknown_source", "no source "+source)
		return
	}
	if err := s.Resync.Resync(r.Context(), t.ID, source); err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"tenant": t.ID, "source": source, "resync": "requested"})
}
