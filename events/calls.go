package events

import "time"

// CallLookup is the payload of call.lookup: one answered lookup.
type CallLookup struct {
	Dialect string `json:"dialect"`
	Number  string `json:"number"`
	// E164 is the number's valid E.164 reading, when it has one: the
	// lookup's first candidate, so that readers need not parse it again.
	E164      string        `json:"e164,omitempty"`
	DNID      string        `json:"dnid,omitempty"`
	Hits      int           `json:"hits"`
	ContactID string        `json:"contactId,omitempty"`
	Latency   time.Duration `json:"latencyNs"`
}

// Call event kinds accepted on POST /events/calls.
const (
	CallRinging  = "ringing"
	CallAnswered = "answered"
	CallEnded    = "ended"
	CallMissed   = "missed"
)

// CallEvent is the payload of call.event: a phone system telling how a call
// goes. Times are ISO 8601.
type CallEvent struct {
	Event             string `json:"event"`
	CallID            string `json:"callId"`
	Direction         string `json:"direction"`
	OriginatorNumber  string `json:"originatorNumber"`
	OriginatorName    string `json:"originatorName,omitempty"`
	DestinationNumber string `json:"destinationNumber"`
	DestinationName   string `json:"destinationName,omitempty"`
	UserCRMID         string `json:"userCrmId,omitempty"`
	StartedTime       string `json:"startedTime,omitempty"`
	AnsweredTime      string `json:"answeredTime,omitempty"`
	EndedTime         string `json:"endedTime,omitempty"`
}
