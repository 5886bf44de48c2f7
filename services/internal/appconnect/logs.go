package appconnect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/dispatch"
)

// maxSessionIDs is how many session ids GET /callLog processes, as the
// contract says: further ids are ignored, like App Connect's server does.
const maxSessionIDs = 5

// rcParty is App Connect's RcParty (and MessageParty).
type rcParty struct {
	PhoneNumber     string `json:"phoneNumber"`
	ExtensionNumber string `json:"extensionNumber"`
	Name            string `json:"name"`
}

func (p *rcParty) number() string {
	if p == nil {
		return ""
	}
	if p.PhoneNumber != "" {
		return p.PhoneNumber
	}
	return p.ExtensionNumber
}

func (p *rcParty) name() string {
	if p == nil {
		return ""
	}
	return p.Name
}

// rcCallLogRecord is the part of App Connect's RcCallLogRecord a call log
// workflow uses.
type rcCallLogRecord struct {
	SessionID     flexString      `json:"sessionId"`
	Direction     string          `json:"direction"`
	Result        string          `json:"result"`
	StartTime     json.RawMessage `json:"startTime"`
	Duration      json.RawMessage `json:"duration"`
	From          *rcParty        `json:"from"`
	To            *rcParty        `json:"to"`
	CustomSubject string          `json:"customSubject"`
	Recording     *struct {
		Link string `json:"link"`
	} `json:"recording"`
}

// createCallLogRequest is App Connect's CreateCallLogRequest.
type createCallLogRequest struct {
	LogInfo     *rcCallLogRecord `json:"logInfo"`
	ContactID   flexString       `json:"contactId"`
	ContactType string           `json:"contactType"`
	ContactName string           `json:"contactName"`
	Note        string           `json:"note"`
}

// callLogMutationResponse is App Connect's CallLogMutationResponse.
type callLogMutationResponse struct {
	Successful    bool           `json:"successful"`
	LogID         string         `json:"logId,omitempty"`
	ReturnMessage *returnMessage `json:"returnMessage"`
}

// direction maps RingCentral's Inbound/Outbound to CallInput's words.
func direction(d string) (string, bool) {
	switch d {
	case "Inbound":
		return "incoming", true
	case "Outbound":
		return "outgoing", true
	case "":
		return "", true
	}
	return "", false
}

// startTime reads an ISO 8601 date-time or epoch milliseconds.
func startTime(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	}
	var ms int64
	if json.Unmarshal(raw, &ms) == nil && ms > 0 {
		return time.UnixMilli(ms), true
	}
	return time.Time{}, false
}

// seconds reads a duration in seconds; "pending" and junk are unknown.
func seconds(raw json.RawMessage) *int {
	var n int
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil || n < 0 {
		return nil
	}
	return &n
}

// createCallLog answers POST /callLog: it runs the tenant's CallLog
// workflow once per RingCentral session (CallInput.CallID is the
// sessionId, so a request sent again has the same key and is not run
// again) and waits the tenant's WorkflowWait for the CRM activity id.
func (h *Handler) createCallLog(w http.ResponseWriter, r *http.Request, s *session) {
	var req createCallLogRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	var absent []string
	if req.LogInfo == nil || strings.TrimSpace(string(req.LogInfo.SessionID)) == "" {
		absent = append(absent, "logInfo.sessionId")
	}
	if strings.TrimSpace(string(req.ContactID)) == "" {
		absent = append(absent, "contactId")
	}
	if missing(w, absent...) {
		return
	}
	li := req.LogInfo
	dir, ok := direction(li.Direction)
	if !ok {
		badRequest(w, "logInfo.direction must be Inbound or Outbound")
		return
	}
	t := s.tenant
	wf := h.cfg.CallLogWorkflow
	if _, ok := t.Workflows[wf]; !ok {
		writeJSON(w, http.StatusOK, callLogMutationResponse{ReturnMessage: warning("Call logging is not set up for this " + h.cfg.DisplayName + " account")})
		return
	}
	sid := string(li.SessionID)
	cl := CallLog{
		ContactID: string(req.ContactID), ContactType: req.ContactType, ContactName: req.ContactName,
		Direction: dir, Subject: li.CustomSubject, Note: req.Note, Result: li.Result,
		DurationSeconds: seconds(li.Duration),
	}
	if li.Recording != nil {
		cl.Recording = li.Recording.Link
	}
	if st, ok := startTime(li.StartTime); ok {
		cl.StartTime = st.UTC().Format(time.RFC3339)
	}
	in := callInput(sid, cl)
	in.OriginatorNumber, in.DestinationNumber = li.From.number(), li.To.number()
	if n := li.From.name(); n != "" {
		in.OriginatorName = n
	}
	if n := li.To.name(); n != "" {
		in.DestinationName = n
	}

	ctx := r.Context()
	prev, key, force, err := h.runOf(ctx, t.ID, sid)
	if err != nil {
		h.unavailable(w, err)
		return
	}
	if prev.LogID != "" {
		// Logged and its CRM id known: nothing to run, whatever the
		// dispatcher still remembers.
		writeJSON(w, http.StatusOK, callLogMutationResponse{Successful: true, LogID: prev.LogID, ReturnMessage: success("Call logged")})
		return
	}
	if key == "" {
		if key, err = h.d.Workflows.Submit(ctx, t.ID, wf, in, force); err != nil {
			h.unavailable(w, err)
			return
		}
	}
	_, err = h.d.CallLogs.Update(ctx, t.ID, sid, func(stored *CallLog, exists bool) error {
		if exists && stored.Key == key {
			return errSkip // the same call logged again: keep what was logged
		}
		cl.Key, cl.UpdatedAt = key, h.now().UTC()
		cl.UpdateKey, cl.Dispositions = "", stored.Dispositions
		*stored = cl
		stored.SyncedHash = stateHash(cl)
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		// The workflow is stored and runs; only GET /callLog will not
		// show it until the client logs it again.
		h.log.Error("appconnect: store call log", "tenant", t.ID, "key", key, "err", err)
	}
	res, err := h.d.Workflows.Wait(ctx, key, t.WorkflowWait)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, dispatch.ErrNotFound) {
		h.log.Warn("appconnect: workflow wait", "key", key, "err", err)
	}
	switch res.Status {
	case events.StatusDone:
		h.rememberLogID(ctx, t.ID, sid, key, res.ID)
		writeJSON(w, http.StatusOK, callLogMutationResponse{Successful: true, LogID: res.ID, ReturnMessage: success("Call logged")})
	case events.StatusFailed:
		writeJSON(w, http.StatusOK, callLogMutationResponse{ReturnMessage: danger("The CRM did not accept the call log: " + truncate(res.LastError, 200))})
	default:
		writeJSON(w, http.StatusOK, callLogMutationResponse{Successful: true, ReturnMessage: success("Call log accepted; it is being written to the CRM")})
	}
}

// runOf reads a session's stored call log and returns the workflow key
// already accepted, running or done for it, or "" when a run is needed,
// with force set when the previous run failed (logging the call again is
// then an explicit replay).
func (h *Handler) runOf(ctx context.Context, tenantID, sid string) (prev CallLog, key string, force bool, err error) {
	prev, err = h.d.CallLogs.Get(ctx, tenantID, sid)
	if errors.Is(err, ErrNoCallLog) {
		return CallLog{}, "", false, nil
	}
	if err != nil || prev.LogID != "" || prev.Key == "" {
		return prev, "", false, err
	}
	st, err := h.d.Workflows.Status(ctx, prev.Key)
	switch {
	case errors.Is(err, dispatch.ErrNotFound):
		return prev, "", false, nil
	case err != nil:
		return prev, "", false, err
	case st.Status == events.StatusFailed:
		return prev, "", true, nil
	}
	return prev, prev.Key, false, nil
}

// rememberLogID keeps the CRM id of a done call log beside it, so GET
// /callLog answers it even after the workflow result expired.
func (h *Handler) rememberLogID(ctx context.Context, tenantID, sid, key, logID string) {
	if logID == "" {
		return
	}
	_, err := h.d.CallLogs.Update(ctx, tenantID, sid, func(cl *CallLog, exists bool) error {
		if !exists || cl.Key != key {
			return errSkip
		}
		cl.LogID = logID
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		h.log.Warn("appconnect: remember log id", "tenant", tenantID, "err", err)
	}
}

// errSkip aborts a CallLogStore update that has nothing to change.
var errSkip = errors.New("nothing to update")

// callInput is what a call log workflow gets: the call as stored.
func callInput(sid string, cl CallLog) events.CallInput {
	in := events.CallInput{
		CallID: sid, ContactCRMID: cl.ContactID, Direction: cl.Direction,
		StartedTime: cl.StartTime, Subject: cl.Subject, Note: cl.Note, Result: cl.Result,
		Recording: cl.Recording, DurationSeconds: cl.DurationSeconds,
	}
	if st, err := time.Parse(time.RFC3339, cl.StartTime); err == nil && cl.DurationSeconds != nil {
		in.EndedTime = st.Add(time.Duration(*cl.DurationSeconds) * time.Second).UTC().Format(time.RFC3339)
		if strings.EqualFold(cl.Result, "Missed") {
			in.DeclinedTime = in.EndedTime
		}
	}
	if cl.Direction == "incoming" {
		in.OriginatorName = cl.ContactName
	} else if cl.Direction == "outgoing" {
		in.DestinationName = cl.ContactName
	}
	return in
}

// stateHash identifies the fields a CallLogUpdate writes, so that an
// update sent again, or one that changes nothing, runs no workflow.
func stateHash(cl CallLog) string {
	d := -1
	if cl.DurationSeconds != nil {
		d = *cl.DurationSeconds
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{cl.Subject, cl.Note, cl.Result, cl.Recording, strconv.Itoa(d), cl.StartTime}, "\x00")))
	return hex.EncodeToString(sum[:12])
}

// unavailable answers a request the workflow queue did not store. The
// contract has no 503 for these routes: its convention for a processed
// request whose effect failed is 200 with successful false, and nothing
// was logged, so the user may simply try again.
func (h *Handler) unavailable(w http.ResponseWriter, err error) {
	if !errors.Is(err, dispatch.ErrUnavailable) {
		h.log.Error("appconnect: workflow store", "err", err)
	}
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusOK, envelope{ReturnMessage: danger(h.cfg.DisplayName + " could not accept this right now; nothing was logged. Please try again.")})
}

// updateCallLogRequest is App Connect's UpdateCallLogRequest: only the
// fields sent change.
type updateCallLogRequest struct {
	SessionID     flexString      `json:"sessionId"`
	Subject       *string         `json:"subject"`
	Note          *string         `json:"note"`
	Result        *string         `json:"result"`
	RecordingLink *string         `json:"recordingLink"`
	Duration      *int            `json:"duration"`
	StartTime     json.RawMessage `json:"startTime"`
}

// callLogUpdateResponse is App Connect's CallLogUpdateResponse.
type callLogUpdateResponse struct {
	Successful    bool           `json:"successful"`
	LogID         string         `json:"logId,omitempty"`
	UpdatedNote   string         `json:"updatedNote,omitempty"`
	ReturnMessage *returnMessage `json:"returnMessage"`
}

// updateCallLog answers PATCH /callLog: the fields sent replace the stored
// ones (GET /callLog shows them), and when they differ from what the CRM
// last got, the tenant's CallLogUpdate workflow runs with the whole
// updated call. Updates are replays of one call (force), so a new key per
// change; an update that changes nothing runs nothing.
func (h *Handler) updateCallLog(w http.ResponseWriter, r *http.Request, s *session) {
	var req updateCallLogRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	sid := strings.TrimSpace(string(req.SessionID))
	if sid == "" {
		missing(w, "sessionId")
		return
	}
	if req.Duration != nil && *req.Duration < 0 {
		badRequest(w, "duration must not be negative")
		return
	}
	t, ctx := s.tenant, r.Context()
	cl, err := h.d.CallLogs.Update(ctx, t.ID, sid, func(cl *CallLog, exists bool) error {
		if !exists {
			return ErrNoCallLog
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&cl.Subject, req.Subject)
		set(&cl.Note, req.Note)
		set(&cl.Result, req.Result)
		set(&cl.Recording, req.RecordingLink)
		if req.Duration != nil {
			d := *req.Duration
			cl.DurationSeconds = &d
		}
		if st, ok := startTime(req.StartTime); ok {
			cl.StartTime = st.UTC().Format(time.RFC3339)
		}
		cl.UpdatedAt = h.now().UTC()
		return nil
	})
	switch {
	case errors.Is(err, ErrNoCallLog):
		writeJSON(w, http.StatusOK, callLogUpdateResponse{ReturnMessage: warning("This call has not been logged yet")})
		return
	case err != nil:
		h.log.Error("appconnect: update call log", "tenant", t.ID, "err", err)
		writeJSON(w, http.StatusOK, callLogUpdateResponse{ReturnMessage: danger("The call log could not be updated right now; please try again")})
		return
	}
	logID := h.logIDOf(ctx, cl)
	wf := h.cfg.CallLogUpdateWorkflow
	if _, ok := t.Workflows[wf]; !ok {
		writeJSON(w, http.StatusOK, callLogUpdateResponse{Successful: true, LogID: logID, UpdatedNote: cl.Note,
			ReturnMessage: warning("Saved in " + h.cfg.DisplayName + "; this account does not update call logs in the CRM")})
		return
	}
	hash := stateHash(cl)
	if hash == cl.SyncedHash {
		writeJSON(w, http.StatusOK, callLogUpdateResponse{Successful: true, LogID: logID, UpdatedNote: cl.Note, ReturnMessage: success("Call log updated")})
		return
	}
	key, err := h.submitChange(ctx, t.ID, sid, wf, callInput(sid, cl), hash, stateHash, func(stored *CallLog, key string, synced bool) {
		stored.UpdateKey = key
		if synced {
			stored.SyncedHash = hash
		}
	})
	if err != nil {
		h.unavailable(w, err)
		return
	}
	res, _ := h.d.Workflows.Wait(ctx, key, t.WorkflowWait)
	if res.Status == events.StatusFailed {
		writeJSON(w, http.StatusOK, callLogUpdateResponse{LogID: logID, ReturnMessage: danger("The CRM did not accept the update: " + truncate(res.LastError, 200))})
		return
	}
	writeJSON(w, http.StatusOK, callLogUpdateResponse{Successful: true, LogID: logID, UpdatedNote: cl.Note, ReturnMessage: success("Call log updated")})
}

// submitChange runs workflow wf for a change of a stored call log, under a
// new key (force), and records the run on the call log with record:
// synced when the call log still is what was sent (hashOf gives hash),
// else a later change is pending and runs on its own.
func (h *Handler) submitChange(ctx context.Context, tenantID, sid, wf string, in events.CallInput, hash string,
	hashOf func(CallLog) string, record func(stored *CallLog, key string, synced bool)) (string, error) {
	key, err := h.d.Workflows.Submit(ctx, tenantID, wf, in, true)
	if err != nil {
		return "", err
	}
	_, err = h.d.CallLogs.Update(ctx, tenantID, sid, func(stored *CallLog, exists bool) error {
		if !exists {
			return errSkip
		}
		record(stored, key, hashOf(*stored) == hash)
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		// The run is stored and runs; only the record of it is missing.
		h.log.Warn("appconnect: record "+wf, "tenant", tenantID, "key", key, "err", err)
	}
	return key, nil
}

// logIDOf is the CRM id of a stored call log: remembered, or read from
// its workflow's result.
func (h *Handler) logIDOf(ctx context.Context, cl CallLog) string {
	if cl.LogID != "" || cl.Key == "" {
		return cl.LogID
	}
	res, err := h.d.Workflows.Status(ctx, cl.Key)
	if err == nil && res.Status == events.StatusDone {
		return res.ID
	}
	return ""
}

// callLogInfo is App Connect's CallLogInfo.
type callLogInfo struct {
	Subject      string         `json:"subject,omitempty"`
	Note         string         `json:"note,omitempty"`
	ContactName  string         `json:"contactName,omitempty"`
	Dispositions map[string]any `json:"dispositions,omitempty"`
}

// callLogLookupItem is App Connect's CallLogLookupItem.
type callLogLookupItem struct {
	SessionID string       `json:"sessionId"`
	Matched   bool         `json:"matched"`
	LogID     string       `json:"logId,omitempty"`
	LogData   *callLogInfo `json:"logData,omitempty"`
}

type callLogLookupResponse struct {
	Successful    bool                `json:"successful"`
	Logs          []callLogLookupItem `json:"logs"`
	ReturnMessage *returnMessage      `json:"returnMessage"`
}

// getCallLogs answers GET /callLog?sessionIds=a,b: for each session (at
// most five), whether Calldex logged it, the CRM activity id once known,
// and the subject, note and dispositions as last sent.
func (h *Handler) getCallLogs(w http.ResponseWriter, r *http.Request, s *session) {
	var ids []string
	for _, id := range strings.Split(r.URL.Query().Get("sessionIds"), ",") {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		badRequest(w, "Missing required query parameter: sessionIds")
		return
	}
	if len(ids) > maxSessionIDs {
		ids = ids[:maxSessionIDs]
	}
	t, ctx := s.tenant, r.Context()
	logs := make([]callLogLookupItem, 0, len(ids))
	matched := 0
	for _, id := range ids {
		item := callLogLookupItem{SessionID: id}
		cl, err := h.d.CallLogs.Get(ctx, t.ID, id)
		switch {
		case errors.Is(err, ErrNoCallLog):
		case err != nil:
			h.log.Error("appconnect: read call log", "tenant", t.ID, "err", err)
			writeJSON(w, http.StatusOK, callLogLookupResponse{Logs: []callLogLookupItem{}, ReturnMessage: danger("Call logs are not available right now")})
			return
		default:
			item.Matched, item.LogID = h.matched(ctx, cl)
			if item.Matched {
				matched++
				item.LogData = &callLogInfo{Subject: cl.Subject, Note: cl.Note, ContactName: cl.ContactName, Dispositions: cl.Dispositions}
			}
		}
		logs = append(logs, item)
	}
	writeJSON(w, http.StatusOK, callLogLookupResponse{Successful: true, Logs: logs,
		ReturnMessage: &returnMessage{Message: fmt.Sprintf("%d of %s logged", matched, plural(len(ids), "call")), MessageType: "success", TTL: 1000}})
}

// matched tells whether a stored call log counts as logged: its workflow
// is accepted, running or done (a failed one may be logged again), with
// the CRM id once done. A result no longer recorded counts as logged: it
// was stored, and results outlive every retry.
func (h *Handler) matched(ctx context.Context, cl CallLog) (bool, string) {
	if cl.LogID != "" {
		return true, cl.LogID
	}
	res, err := h.d.Workflows.Status(ctx, cl.Key)
	switch {
	case err != nil:
		return true, ""
	case res.Status == events.StatusFailed:
		return false, ""
	case res.Status == events.StatusDone:
		return true, res.ID
	}
	return true, ""
}

// callDispositionRequest is App Connect's CallDispositionRequest.
type callDispositionRequest struct {
	SessionID    flexString     `json:"sessionId"`
	Dispositions map[string]any `json:"dispositions"`
}

// upsertDisposition answers PUT /callDisposition: the dispositions are
// merged into those kept with the call log (GET /callLog shows them) and,
// when they differ from what the CRM last got, the tenant's disposition
// workflow applies them to the logged call's CRM entry. Like call log
// updates, each change runs under a new key (force) and the same
// dispositions again run nothing; the workflow names the call's CRM id,
// or the call log's key while that is not known yet (the worker waits for
// the call log).
func (h *Handler) upsertDisposition(w http.ResponseWriter, r *http.Request, s *session) {
	var req callDispositionRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	sid := strings.TrimSpace(string(req.SessionID))
	if sid == "" {
		missing(w, "sessionId")
		return
	}
	t, ctx := s.tenant, r.Context()
	cl, err := h.d.CallLogs.Update(ctx, t.ID, sid, func(cl *CallLog, exists bool) error {
		if !exists {
			return ErrNoCallLog
		}
		if cl.Dispositions == nil {
			cl.Dispositions = map[string]any{}
		}
		maps.Copy(cl.Dispositions, req.Dispositions)
		cl.UpdatedAt = h.now().UTC()
		return nil
	})
	switch {
	case errors.Is(err, ErrNoCallLog):
		writeJSON(w, http.StatusOK, envelope{ReturnMessage: warning("This call has not been logged yet")})
		return
	case err != nil:
		h.log.Error("appconnect: save disposition", "tenant", t.ID, "err", err)
		writeJSON(w, http.StatusOK, envelope{ReturnMessage: danger("The disposition could not be saved right now; please try again")})
		return
	}
	wf := h.cfg.DispositionWorkflow
	if _, ok := t.Workflows[wf]; !ok {
		writeJSON(w, http.StatusOK, envelope{Successful: true, ReturnMessage: warning("Saved in " + h.cfg.DisplayName + "; this account does not send dispositions to the CRM")})
		return
	}
	dispositions := dispositionText(cl.Dispositions)
	hash := dispositionHash(dispositions)
	if hash == cl.DispositionHash && !h.failed(ctx, cl.DispositionKey) {
		writeJSON(w, http.StatusOK, envelope{Successful: true, ReturnMessage: success("Disposition saved")})
		return
	}
	in := callInput(sid, cl)
	in.Dispositions, in.LogID, in.LogKey = dispositions, h.logIDOf(ctx, cl), cl.Key
	key, err := h.submitChange(ctx, t.ID, sid, wf, in, hash, func(cl CallLog) string { return dispositionHash(dispositionText(cl.Dispositions)) },
		func(stored *CallLog, key string, synced bool) {
			stored.DispositionKey = key
			if synced {
				stored.DispositionHash = hash
			}
		})
	if err != nil {
		h.unavailable(w, err)
		return
	}
	res, _ := h.d.Workflows.Wait(ctx, key, t.WorkflowWait)
	if res.Status == events.StatusFailed {
		writeJSON(w, http.StatusOK, envelope{ReturnMessage: danger("The CRM did not accept the disposition: " + truncate(res.LastError, 200))})
		return
	}
	writeJSON(w, http.StatusOK, envelope{Successful: true, ReturnMessage: success("Disposition saved")})
}

// failed reports whether the workflow run key failed for good: sending
// the same again is then a new try.
func (h *Handler) failed(ctx context.Context, key string) bool {
	res, err := h.d.Workflows.Status(ctx, key)
	return err == nil && res.Status == events.StatusFailed
}

// dispositionText is what a workflow carries of App Connect's
// dispositions: text as sent, other values (numbers, booleans, lists) as
// JSON; null leaves the field out.
func dispositionText(d map[string]any) map[string]string {
	out := make(map[string]string, len(d))
	for k, v := range d {
		switch x := v.(type) {
		case nil:
		case string:
			out[k] = x
		default:
			b, err := json.Marshal(x)
			if err == nil {
				out[k] = string(b)
			}
		}
	}
	return out
}

// dispositionHash identifies a set of dispositions (JSON sorts map keys).
func dispositionHash(d map[string]string) string {
	b, _ := json.Marshal(d) // a map of strings always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// rcMessage is the part of App Connect's RcMessage a message workflow uses.
type rcMessage struct {
	ID           flexString `json:"id"`
	Type         string     `json:"type"`
	Direction    string     `json:"direction"`
	Subject      string     `json:"subject"`
	CreationTime string     `json:"creationTime"`
	From         *rcParty   `json:"from"`
	To           []rcParty  `json:"to"`
	Attachments  []struct {
		Type       string `json:"type"`
		Link       string `json:"link"`
		VMDuration *int   `json:"vmDuration"`
	} `json:"attachments"`
}

// messageLogRequest is App Connect's MessageLogRequest.
type messageLogRequest struct {
	LogInfo *struct {
		Messages []rcMessage `json:"messages"`
	} `json:"logInfo"`
	ContactID   flexString `json:"contactId"`
	ContactName string     `json:"contactName"`
}

// messageLogResponse is App Connect's MessageLogResponse.
type messageLogResponse struct {
	Successful    bool           `json:"successful"`
	LogIDs        []string       `json:"logIds"`
	ReturnMessage *returnMessage `json:"returnMessage"`
}

// messageInput is what a message workflow gets; the message id is the
// CallID, so a message sent again has the same key.
func messageInput(m rcMessage, contactID, contactName string) events.CallInput {
	dir, _ := direction(m.Direction)
	in := events.CallInput{
		CallID: string(m.ID), ContactCRMID: contactID, Direction: dir,
		OriginatorNumber: m.From.number(), OriginatorName: m.From.name(),
		StartedTime: m.CreationTime, Note: m.Subject, MessageType: m.Type,
	}
	if m.Type == "VoiceMail" {
		in.MessageType = "Voicemail"
	}
	if len(m.To) > 0 {
		in.DestinationNumber, in.DestinationName = m.To[0].number(), m.To[0].name()
	}
	switch dir {
	case "incoming":
		if in.OriginatorName == "" {
			in.OriginatorName = contactName
		}
	case "outgoing":
		if in.DestinationName == "" {
			in.DestinationName = contactName
		}
	}
	for _, a := range m.Attachments {
		if a.Type == "AudioRecording" {
			in.Recording = a.Link
			in.DurationSeconds = a.VMDuration
		}
	}
	return in
}

// createMessageLog answers POST /messageLog: one MessageLog workflow per
// RingCentral message, oldest first, keyed by the message id; messages
// already logged are skipped. logIds lists the RingCentral message ids
// this request logged (or got accepted), as App Connect's server does.
func (h *Handler) createMessageLog(w http.ResponseWriter, r *http.Request, s *session) {
	var req messageLogRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	var absent []string
	if req.LogInfo == nil {
		absent = append(absent, "logInfo")
	}
	if strings.TrimSpace(string(req.ContactID)) == "" {
		absent = append(absent, "contactId")
	}
	if missing(w, absent...) {
		return
	}
	msgs := req.LogInfo.Messages
	for i, m := range msgs {
		if strings.TrimSpace(string(m.ID)) == "" || m.Type == "" {
			badRequest(w, fmt.Sprintf("logInfo.messages[%d]: id and type are required", i))
			return
		}
		if _, ok := direction(m.Direction); !ok {
			badRequest(w, fmt.Sprintf("logInfo.messages[%d]: direction must be Inbound or Outbound", i))
			return
		}
	}
	if len(msgs) == 0 {
		writeJSON(w, http.StatusOK, messageLogResponse{LogIDs: []string{}, ReturnMessage: warning("No message to log.")})
		return
	}
	t := s.tenant
	wf := h.cfg.MessageLogWorkflow
	if _, ok := t.Workflows[wf]; !ok {
		writeJSON(w, http.StatusOK, messageLogResponse{LogIDs: []string{}, ReturnMessage: warning("Message logging is not set up for this " + h.cfg.DisplayName + " account")})
		return
	}
	ctx := r.Context()
	type run struct{ id, key string }
	var runs []run
	// App Connect sends the newest message first; log the oldest first.
	for _, m := range slices.Backward(msgs) {
		in := messageInput(m, string(req.ContactID), req.ContactName)
		key, force := h.d.Workflows.Key(t.ID, wf, in), false
		st, err := h.d.Workflows.Status(ctx, key)
		switch {
		case err == nil && st.Status != events.StatusFailed:
			continue // logged before
		case err == nil:
			force = true
		case !errors.Is(err, dispatch.ErrNotFound):
			h.unavailable(w, err)
			return
		}
		if key, err = h.d.Workflows.Submit(ctx, t.ID, wf, in, force); err != nil {
			h.unavailable(w, err)
			return
		}
		runs = append(runs, run{id: string(m.ID), key: key})
	}
	if len(runs) == 0 {
		writeJSON(w, http.StatusOK, messageLogResponse{Successful: true, LogIDs: []string{}, ReturnMessage: success("Messages already logged")})
		return
	}
	keys := make([]string, len(runs))
	for i, r := range runs {
		keys[i] = r.key
	}
	results := h.waitAll(ctx, t, keys)
	logIDs := []string{}
	var failed []string
	for i, res := range results {
		if res.Status == events.StatusFailed {
			failed = append(failed, res.LastError)
			continue
		}
		logIDs = append(logIDs, runs[i].id)
	}
	if len(failed) > 0 {
		writeJSON(w, http.StatusOK, messageLogResponse{LogIDs: logIDs,
			ReturnMessage: danger(fmt.Sprintf("%d of %s could not be logged: %s", len(failed), plural(len(runs), "message"), truncate(failed[0], 200)))})
		return
	}
	writeJSON(w, http.StatusOK, messageLogResponse{Successful: true, LogIDs: logIDs, ReturnMessage: success(plural(len(logIDs), "message") + " logged")})
}

// waitAll waits for several workflow runs at once, the tenant's
// WorkflowWait in all.
func (h *Handler) waitAll(ctx context.Context, t *tenant.Tenant, keys []string) []events.WorkflowResult {
	out := make([]events.WorkflowResult, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			res, err := h.d.Workflows.Wait(ctx, key, t.WorkflowWait)
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, dispatch.ErrNotFound) {
				h.log.Warn("appconnect: workflow wait", "key", key, "err", err)
			}
			out[i] = res
		})
	}
	wg.Wait()
	return out
}
