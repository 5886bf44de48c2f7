package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// SchemaVersion is the version written into every envelope produced by this
// build. Consumers accept any version up to it.
const SchemaVersion = 1

// Event types.
const (
	TypeCallLookup        = "call.lookup"
	TypeCallEvent         = "call.event"
	TypeWorkflowRequested = "workflow.requested"
	TypeContactUpserted   = "contact.upserted"
	TypeContactDeleted    = "contact.deleted"
)

// Envelope is the outer shape of every event on every stream.
type Envelope struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Tenant        string          `json:"tenant"`
	Source        string          `json:"source,omitempty"`
	Time          time.Time       `json:"time"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
}

// New builds an envelope around data, marshalled as JSON.
func New(id, typ, tenant, source string, at time.Time, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("marshal %s payload: %w", typ, err)
	}
	return Envelope{ID: id, Type: typ, Tenant: tenant, Source: source, Time: at.UTC(), SchemaVersion: SchemaVersion, Data: raw}, nil
}

// Decode parses an envelope and checks that it is one this build understands.
func Decode(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	if e.Type == "" || e.Tenant == "" {
		return Envelope{}, fmt.Errorf("decode envelope: %w: type and tenant are required", ErrInvalid)
	}
	if e.SchemaVersion > SchemaVersion {
		return Envelope{}, fmt.Errorf("decode envelope %s: %w: schema version %d is newer than %d", e.ID, ErrInvalid, e.SchemaVersion, SchemaVersion)
	}
	return e, nil
}

// Payload unmarshals the envelope's data into v.
func (e Envelope) Payload(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode %s payload of %s: %w: %v", e.Type, e.ID, ErrInvalid, err)
	}
	return nil
}
