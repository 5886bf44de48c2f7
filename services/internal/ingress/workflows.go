package ingress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/httpjson"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/dispatch"
)

// Dispatcher runs workflows durably (workflows/dispatch).
type Dispatcher interface {
	// Submit stores a workflow request and returns its idempotency key once
	// JetStream acked it; errors wrap dispatch.ErrUnavailable when nothing
	// was stored.
	Submit(ctx context.Context, tenant, workflow string, in events.CallInput, force bool) (string, error)
	// Wait returns the latest result after at most d.
	Wait(ctx context.Context, key string, d time.Duration) (events.WorkflowResult, error)
	// Status returns the result of a key, or an error wrapping
	// dispatch.ErrNotFound.
	Status(ctx context.Context, key string) (events.WorkflowResult, error)
}

func (s *Server) workflowRoutes() {
	s.handle("GET /peoplefone/workflows/{key}", s.tenantAuth(s.workflowStatus))
	s.handle("POST /peoplefone/{workflow}", s.tenantAuth(s.peoplefoneWorkflow))
	s.handle("POST /events/calls", s.tenantAuth(s.callEvent))
}

type workflowRequest struct {
	Inputs *events.CallInput `json:"inputs"`
}

// peoplefoneWorkflow answers POST <root>/<workflow-name>.
func (s *Server) peoplefoneWorkflow(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	name := r.PathValue("workflow")
	// Only what a lookup offers (crmActions, else every workflow) runs
	// here; the others run for App Connect or on call events alone.
	if !slices.Contains(t.Actions(), name) {
		writeError(w, http.StatusNotFound, "unknown_workflow", fmt.Sprintf("workflow %q is not offered", name))
		return
	}
	var req workflowRequest
	if err := decodeJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Inputs == nil {
		badFields(w, []string{"inputs"})
		return
	}
	if bad := validateInputs(req.Inputs); len(bad) > 0 {
		badFields(w, bad)
		return
	}
	s.runWorkflow(w, r, t, name, *req.Inputs)
}

// runWorkflow submits, waits the tenant's bounded time and answers the
// outcome: 200 {id,url} when done, 202 {} while running, both with the
// run's status resource as Location.
func (s *Server) runWorkflow(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, name string, in events.CallInput) {
	key, err := s.Workflows.Submit(r.Context(), t.ID, name, in, false)
	if err != nil {
		s.workflowUnavailable(w, err)
		return
	}
	res, err := s.Workflows.Wait(r.Context(), key, t.WorkflowWait)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.Log.Warn("workflow wait", "key", key, "err", err)
	}
	answerWorkflow(w, key, res)
}

func answerWorkflow(w http.ResponseWriter, key string, res events.WorkflowResult) {
	switch res.Status {
	case events.StatusDone:
		w.Header().Set("Location", "/peoplefone/workflows/"+key)
		writeJSON(w, http.StatusOK, map[string]string{"id": res.ID, "url": res.URL})
	case events.StatusFailed:
		writeJSON(w, http.StatusBadGateway, httpjson.Error{Error: httpjson.ErrorBody{Code: "crm_rejected", Message: res.LastError}})
	default:
		w.Header().Set("Location", "/peoplefone/workflows/"+key)
		writeJSON(w, http.StatusAccepted, struct{}{})
	}
}

func (s *Server) workflowUnavailable(w http.ResponseWriter, err error) {
	if !errors.Is(err, dispatch.ErrUnavailable) {
		s.Log.Error("workflow submit", "err", err)
	}
	writeError(w, http.StatusServiceUnavailable, "workflow_store_unavailable", "workflow not accepted: the event store did not acknowledge it; retry")
}

// workflowStatus shows a workflow's status, attempts, last error and result.
func (s *Server) workflowStatus(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	res, err := s.Workflows.Status(r.Context(), r.PathValue("key"))
	if errors.Is(err, dispatch.ErrNotFound) || (err == nil && res.Tenant != t.ID) {
		writeError(w, http.StatusNotFound, "unknown_workflow_run", "no workflow run "+r.PathValue("key"))
		return
	}
	if err != nil {
		s.workflowUnavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func badFields(w http.ResponseWriter, fields []string) {
	writeJSON(w, http.StatusBadRequest, httpjson.Error{Error: httpjson.ErrorBody{
		Code: "invalid_inputs", Message: "invalid fields: " + strings.Join(fields, ", "), Fields: fields,
	}})
}

// validateInputs names every bad field of a business workflow request.
func validateInputs(in *events.CallInput) []string {
	var bad []string
	if in.Direction != "" && in.Direction != "incoming" && in.Direction != "outgoing" {
		bad = append(bad, "direction")
	}
	for name, v := range map[string]string{
		"startedTime": in.StartedTime, "answeredTime": in.AnsweredTime,
		"endedTime": in.EndedTime, "declinedTime": in.DeclinedTime,
	} {
		if !validTime(v) {
			bad = append(bad, name)
		}
	}
	slices.Sort(bad)
	return bad
}

// validTime accepts empty or ISO 8601 with or without zone and fraction.
func validTime(v string) bool {
	if v == "" {
		return true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if _, err := time.Parse(layout, v); err == nil {
			return true
		}
	}
	return false
}

// callEvent accepts a call event into CALLS; for ended and missed calls it
// also runs the tenant's automatic workflows for the matched contact.
func (s *Server) callEvent(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	var ev events.CallEvent
	if err := decodeJSON(w, r, &ev); err != nil {
		fail(w, err)
		return
	}
	if bad := validateCallEvent(&ev); len(bad) > 0 {
		badFields(w, bad)
		return
	}
	env, err := events.New(ev.CallID+"-"+ev.Event, events.TypeCallEvent, t.ID, "", time.Now(), ev)
	if err != nil {
		fail(w, err)
		return
	}
	data, _ := json.Marshal(env)
	if err := s.publishCall(r.Context(), t.ID, ev, data); err != nil {
		s.workflowUnavailable(w, err)
		return
	}
	runs := map[string]string{}
	if ev.Event == events.CallEnded || ev.Event == events.CallMissed {
		in, res := s.callInput(r.Context(), t, ev)
		for _, name := range t.Automatic {
			in.ContactCRMID = automaticContact(t, name, res)
			key, err := s.Workflows.Submit(r.Context(), t.ID, name, in, false)
			if err != nil {
				s.workflowUnavailable(w, err)
				return
			}
			runs[name] = "/peoplefone/workflows/" + key
		}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": true, "workflows": runs})
}

func validateCallEvent(ev *events.CallEvent) []string {
	var bad []string
	switch ev.Event {
	case events.CallRinging, events.CallAnswered, events.CallEnded, events.CallMissed:
	default:
		bad = append(bad, "event")
	}
	if ev.CallID == "" || len(ev.CallID) > 200 {
		bad = append(bad, "callId")
	}
	if ev.Direction != "incoming" && ev.Direction != "outgoing" {
		bad = append(bad, "direction")
	}
	if ev.OriginatorNumber == "" {
		bad = append(bad, "originatorNumber")
	}
	for name, v := range map[string]string{"startedTime": ev.StartedTime, "answeredTime": ev.AnsweredTime, "endedTime": ev.EndedTime} {
		if !validTime(v) {
			bad = append(bad, name)
		}
	}
	slices.Sort(bad)
	return bad
}

// callInput turns a finished call into workflow inputs, and looks the
// other party's number up for its contact (automaticContact).
func (s *Server) callInput(ctx context.Context, t *tenant.Tenant, ev events.CallEvent) (events.CallInput, lookup.Result) {
	in := events.CallInput{
		CallID: ev.CallID, UserCRMID: ev.UserCRMID, Direction: ev.Direction,
		OriginatorNumber: ev.OriginatorNumber, OriginatorName: ev.OriginatorName,
		DestinationNumber: ev.DestinationNumber, DestinationName: ev.DestinationName,
		StartedTime: ev.StartedTime, AnsweredTime: ev.AnsweredTime, EndedTime: ev.EndedTime,
	}
	if ev.Event == events.CallMissed {
		in.DeclinedTime = ev.EndedTime
	}
	other := ev.OriginatorNumber
	if ev.Direction == "outgoing" {
		other = ev.DestinationNumber
	}
	// A failed lookup logs the call without a contact.
	res, _ := s.Lookup.Service().Lookup(ctx, t, other)
	return in, res
}

// automaticContact is the contact id an automatic workflow logs the call
// on: the tenant's ranking picks the person (the first match), and of that
// person the entry of the workflow's own connector when it has one (the id
// that CRM knows), else the entry ranked first. "" without a match.
func automaticContact(t *tenant.Tenant, workflow string, res lookup.Result) string {
	if len(res.Matches) == 0 {
		return ""
	}
	if c, ok := res.MergedFrom(0, t.Workflows[workflow].Connector); ok {
		return c.ID
	}
	return res.Matches[0].Contact.ID
}

// publishCall stores a call event; the message id makes a re-sent event a
// duplicate JetStream drops.
func (s *Server) publishCall(ctx context.Context, tenant string, ev events.CallEvent, data []byte) error {
	msg := &nats.Msg{Subject: s.Topology.CallSubject(tenant, ev.Event), Data: data, Header: nats.Header{}}
	msg.Header.Set(nats.MsgIdHdr, tenant+"-"+ev.CallID+"-"+ev.Event)
	if _, err := s.JS.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("%w: publish call event: %w", dispatch.ErrUnavailable, err)
	}
	return nil
}
