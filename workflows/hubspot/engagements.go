package hubspot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
)

// Endpoints and HUBSPOT_DEFINED association types
// (developers.hubspot.com/docs/api/crm/calls, /docs/api/crm/tickets).
const (
	pathCalls            = "/crm/v3/objects/calls"
	pathCallSearch       = "/crm/v3/objects/calls/search"
	pathTickets          = "/crm/v3/objects/tickets"
	pathTicketSearch     = "/crm/v3/objects/tickets/search"
	assocCallToContact   = 194
	assocTicketToContact = 16
)

type associationType struct {
	AssociationCategory string `json:"associationCategory"`
	AssociationTypeID   int    `json:"associationTypeId"`
}

type association struct {
	To struct {
		ID string `json:"id"`
	} `json:"to"`
	Types []associationType `json:"types"`
}

type createRequest struct {
	Properties   map[string]string `json:"properties"`
	Associations []association     `json:"associations,omitempty"`
}

func associateContact(contactID string, typeID int) []association {
	if contactID == "" {
		return nil
	}
	a := association{Types: []associationType{{AssociationCategory: "HUBSPOT_DEFINED", AssociationTypeID: typeID}}}
	a.To.ID = contactID
	return []association{a}
}

// LogCall creates a call engagement associated with the contact (when
// Input.ContactCRMID is set), once per Call.Key: see the package doc.
func (c *Connector) LogCall(ctx context.Context, call crm.Call) (crm.Result, error) {
	const op = "log call"
	in := call.Input
	props := map[string]string{
		"hs_timestamp":   crm.CallTime(in).Format("2006-01-02T15:04:05.000Z07:00"),
		"hs_call_title":  crm.CallTitle(in),
		"hs_call_status": "NO_ANSWER",
	}
	if crm.Answered(in) {
		props["hs_call_status"] = "COMPLETED"
	}
	switch strings.ToLower(in.Direction) {
	case "incoming", "inbound":
		props["hs_call_direction"] = "INBOUND"
	case "outgoing", "outbound":
		props["hs_call_direction"] = "OUTBOUND"
	}
	if d, ok := crm.CallDuration(in); ok {
		props["hs_call_duration"] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	setIf(props, "hs_call_from_number", in.OriginatorNumber)
	setIf(props, "hs_call_to_number", in.DestinationNumber)
	setIf(props, "hs_call_body", callBody(in))
	setIf(props, "hs_call_recording_url", in.Recording)

	result := func(id string) crm.Result {
		return crm.Result{ID: id, URL: c.recordURL(typeContact, in.ContactCRMID)}
	}
	if call.Key != "" {
		f := c.keyFilter(props, "hs_call_title", c.cfg.CallKeyProperty, call.Key)
		id, err := c.findByKey(ctx, op, pathCallSearch, f)
		if err != nil {
			return crm.Result{}, err
		}
		if id != "" {
			return result(id), nil
		}
	}
	var o object
	req := createRequest{Properties: props, Associations: associateContact(in.ContactCRMID, assocCallToContact)}
	if err := c.do(ctx, op, http.MethodPost, pathCalls, nil, req, &o); err != nil {
		return crm.Result{}, err
	}
	if o.ID == "" {
		return crm.Result{}, c.http.Wrap(op, crm.Transient(errors.New("answer has no id")))
	}
	return result(o.ID), nil
}

// defaultOutcomes are HubSpot's default call outcomes, by lower-case
// label, and the GUIDs hs_call_disposition takes for them
// (developers.hubspot.com/docs/api/crm/calls, hs_call_disposition).
var defaultOutcomes = map[string]string{
	"busy":              "9d9162e7-6cf3-4944-bf63-4dff82258764",
	"connected":         "f240bbac-87c9-4f6e-bf70-924b57d47db7",
	"left live message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
	"left voicemail":    "b2cf5968-551e-4856-9783-52b3da59a7d0",
	"no answer":         "73a0d17f-1163-4015-bdd5-ec830791da20",
	"wrong number":      "17b47fee-58de-441e-a44c-c6300d46f273",
}

// guid is the form of an outcome's internal value, custom or default.
var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// outcomeGUID is the hs_call_disposition value of an outcome given by
// label or GUID.
func outcomeGUID(v string) (string, error) {
	if guid.MatchString(v) {
		return strings.ToLower(v), nil
	}
	if id, ok := defaultOutcomes[strings.ToLower(strings.Join(strings.Fields(v), " "))]; ok {
		return id, nil
	}
	return "", fmt.Errorf("call outcome %q is neither an outcome GUID nor one of %s", v, strings.Join(slices.Sorted(maps.Keys(defaultOutcomes)), ", "))
}

// LogDisposition sets the logged call's outcome (hs_call_disposition) from
// the disposition named by DispositionField: a PATCH of the call, which
// the same outcome again leaves as it is. Without that disposition there
// is nothing HubSpot keeps, and nothing is sent.
func (c *Connector) LogDisposition(ctx context.Context, call crm.Call) (crm.Result, error) {
	const op = "log disposition"
	logID, err := crm.LogIDOf(call)
	if err != nil {
		return crm.Result{}, c.http.Wrap(op, err)
	}
	result := crm.Result{ID: logID, URL: c.recordURL(typeContact, call.Input.ContactCRMID)}
	v := strings.TrimSpace(call.Input.Dispositions[c.cfg.DispositionField])
	if v == "" {
		return result, nil
	}
	id, err := outcomeGUID(v)
	if err != nil {
		return crm.Result{}, c.http.Wrap(op, crm.Permanent(err))
	}
	req := createRequest{Properties: map[string]string{"hs_call_disposition": id}}
	var o object
	if err := c.do(ctx, op, http.MethodPatch, pathCalls+"/"+url.PathEscape(logID), nil, req, &o); err != nil {
		return crm.Result{}, err
	}
	return result, nil
}

// CreateTicket opens a ticket in TicketPipeline/TicketStage about the call,
// associated with the contact, once per Call.Key.
func (c *Connector) CreateTicket(ctx context.Context, call crm.Call) (crm.Result, error) {
	const op = "create ticket"
	in := call.Input
	subject := in.Subject
	if subject == "" {
		subject = "Call " + crm.Party(in)
	}
	props := map[string]string{
		"subject":           subject,
		"hs_pipeline":       c.cfg.TicketPipeline,
		"hs_pipeline_stage": c.cfg.TicketStage,
	}
	setIf(props, "content", ticketContent(in))
	if call.Key != "" {
		f := c.keyFilter(props, "subject", c.cfg.TicketKeyProperty, call.Key)
		id, err := c.findByKey(ctx, op, pathTicketSearch, f)
		if err != nil {
			return crm.Result{}, err
		}
		if id != "" {
			return crm.Result{ID: id, URL: c.recordURL(typeTicket, id)}, nil
		}
	}
	var o object
	req := createRequest{Properties: props, Associations: associateContact(in.ContactCRMID, assocTicketToContact)}
	if err := c.do(ctx, op, http.MethodPost, pathTickets, nil, req, &o); err != nil {
		return crm.Result{}, err
	}
	if o.ID == "" {
		return crm.Result{}, c.http.Wrap(op, crm.Transient(errors.New("answer has no id")))
	}
	return crm.Result{ID: o.ID, URL: c.recordURL(typeTicket, o.ID)}, nil
}

// keyFilter stores the idempotency key in props, in keyProp when configured
// or else at the end of the title property, and returns the filter that
// finds a record carrying it.
func (c *Connector) keyFilter(props map[string]string, titleProp, keyProp, key string) filter {
	if keyProp != "" {
		props[keyProp] = key
		return filter{PropertyName: keyProp, Operator: "EQ", Value: key}
	}
	props[titleProp] += " [cdx:" + key + "]"
	return filter{PropertyName: titleProp, Operator: "EQ", Value: props[titleProp]}
}

// findByKey returns the id of a record matching f, or "".
func (c *Connector) findByKey(ctx context.Context, op, path string, f filter) (string, error) {
	req := searchRequest{FilterGroups: []filterGroup{{Filters: []filter{f}}}, Properties: []string{f.PropertyName}, Limit: 1}
	var resp searchResponse
	if err := c.do(ctx, op+": find by idempotency key", http.MethodPost, path, nil, req, &resp); err != nil {
		return "", err
	}
	for _, o := range resp.Results {
		if o.ID != "" {
			return o.ID, nil
		}
	}
	return "", nil
}

func setIf(props map[string]string, key, value string) {
	if v := strings.TrimSpace(value); v != "" {
		props[key] = v
	}
}

func callBody(in events.CallInput) string {
	var lines []string
	if in.Note != "" {
		lines = append(lines, in.Note)
	}
	if in.Result != "" {
		lines = append(lines, "Result: "+in.Result)
	}
	return strings.Join(lines, "\n")
}

func ticketContent(in events.CallInput) string {
	lines := []string{}
	if in.Note != "" {
		lines = append(lines, in.Note, "")
	}
	lines = append(lines, "Call "+crm.Party(in)+" at "+crm.CallTime(in).Format(time.RFC3339))
	if in.Recording != "" {
		lines = append(lines, "Recording: "+in.Recording)
	}
	return strings.Join(lines, "\n")
}
