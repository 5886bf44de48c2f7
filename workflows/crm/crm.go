// Package crm is the vocabulary shared by every CRM connector: what a
// workflow asks of a CRM, what comes back, and how failures are classified.
// Capabilities are small interfaces so a connector implements only what its
// CRM can do; callers declare the ones they need and type-assert.
package crm

import (
	"context"
	"time"

	"github.com/calldex/calldex/events"
)

// Call is one workflow execution's input.
type Call struct {
	// Key is the idempotency key: a connector that can store it makes the
	// effect happen once even when the same Call is executed twice.
	Key      string
	Tenant   string
	Workflow string
	Input    events.CallInput
}

// Result identifies what a workflow created in the CRM.
type Result struct {
	ID  string `json:"id"`
	URL string `json:"url,omitempty"`
}

// CallLogger logs a call (peoplefone CallFlow, App Connect CallLog).
type CallLogger interface {
	LogCall(ctx context.Context, c Call) (Result, error)
}

// TicketCreator opens a ticket about a call.
type TicketCreator interface {
	CreateTicket(ctx context.Context, c Call) (Result, error)
}

// MessageLogger logs an SMS, fax or voicemail.
type MessageLogger interface {
	LogMessage(ctx context.Context, c Call) (Result, error)
}

// DispositionLogger applies a call's dispositions (Input.Dispositions) to
// the CRM entry of the logged call (Input.LogID, which the worker fills):
// an update, so applying the same dispositions again changes nothing. A
// Call without LogID is a permanent ErrNoLogID, made without a CRM call.
type DispositionLogger interface {
	LogDisposition(ctx context.Context, c Call) (Result, error)
}

// Page is one page of contact changes since a cursor.
type Page struct {
	Upserts []events.Contact
	// Deletes are ids of contacts of this source that no longer exist.
	Deletes []string
	// Next is the cursor to continue from; store it once the page's events
	// are acked.
	Next string
	// More is true when another page is ready now.
	More bool
}

// ChangeLister lists contact changes since a cursor ("" = from the start).
type ChangeLister interface {
	ListChanges(ctx context.Context, cursor string) (Page, error)
}

// ChangeNotifier tells of contact changes as they happen, so that the
// sync polls at once instead of at its next interval. Notifies reports
// whether the instance is set up to (an option of its CRM); NotifyChanges
// listens until ctx ends or listening fails (its error), calling changed
// for every notification.
type ChangeNotifier interface {
	Notifies() bool
	NotifyChanges(ctx context.Context, changed func()) error
}

// PhoneSearcher finds contacts by phone number, live (fallback on an index
// miss). numbers are E.164 plus the alternative formats to try.
type PhoneSearcher interface {
	SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error)
}

// NameSearcher finds contacts by name, live.
type NameSearcher interface {
	SearchName(ctx context.Context, name string, limit int) ([]events.Contact, error)
}

// NewContact is what a user types to create a contact from a call.
type NewContact struct {
	Name  string
	Phone string // E.164
	Type  string
}

// ContactCreator creates a contact in the CRM.
type ContactCreator interface {
	CreateContact(ctx context.Context, c NewContact) (events.Contact, error)
}

// Now is the clock connectors use, replaceable in tests.
var Now = time.Now
