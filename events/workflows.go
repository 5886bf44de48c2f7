package events

import "time"

// WorkflowRequested is the payload of workflow.requested: run Workflow for a
// tenant, once. Key is the idempotency key (also the message's Nats-Msg-Id
// and the workflow_results entry).
type WorkflowRequested struct {
	Key      string    `json:"key"`
	Workflow string    `json:"workflow"`
	Inputs   CallInput `json:"inputs"`
	// Forced marks a replay that was given a new key on purpose.
	Forced      bool      `json:"forced,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
}

// CallInput is what a workflow knows of the call: the peoplefone business
// workflow inputs, plus what App Connect's call and message logs add.
type CallInput struct {
	ContactCRMID      string `json:"contactCrmId,omitempty"`
	UserCRMID         string `json:"userCrmId,omitempty"`
	OriginatorNumber  string `json:"originatorNumber,omitempty"`
	OriginatorName    string `json:"originatorName,omitempty"`
	DestinationNumber string `json:"destinationNumber,omitempty"`
	DestinationName   string `json:"destinationName,omitempty"`
	Direction         string `json:"direction,omitempty"` // incoming | outgoing
	StartedTime       string `json:"startedTime,omitempty"`
	AnsweredTime      string `json:"answeredTime,omitempty"`
	EndedTime         string `json:"endedTime,omitempty"`
	DeclinedTime      string `json:"declinedTime,omitempty"`

	CallID    string `json:"callId,omitempty"` // App Connect sessionId, PBX call id
	Subject   string `json:"subject,omitempty"`
	Note      string `json:"note,omitempty"`
	Result    string `json:"result,omitempty"`
	Recording string `json:"recording,omitempty"`
	// DurationSeconds is set when the source states it; otherwise it is
	// derived from the times.
	DurationSeconds *int   `json:"durationSeconds,omitempty"`
	MessageType     string `json:"messageType,omitempty"` // SMS, Fax, Voicemail

	// Dispositions are what the user chose about a logged call (App
	// Connect's call dispositions, keyed by field). A disposition
	// workflow applies them to that call's CRM entry: LogID names it, or
	// LogKey, the idempotency key of the workflow that logged it, whose
	// result the worker reads into LogID before the connector runs.
	Dispositions map[string]string `json:"dispositions,omitempty"`
	LogID        string            `json:"logId,omitempty"`
	LogKey       string            `json:"logKey,omitempty"`
}

// Workflow statuses stored in workflow_results.
const (
	StatusAccepted = "accepted"
	StatusRunning  = "running"
	StatusDone     = "done"
	StatusFailed   = "failed"
)

// WorkflowResult is the value kept in workflow_results under the key.
type WorkflowResult struct {
	Key       string    `json:"key"`
	Tenant    string    `json:"tenant"`
	Workflow  string    `json:"workflow"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	ID        string    `json:"id,omitempty"`
	URL       string    `json:"url,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}
